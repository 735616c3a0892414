#!/usr/bin/env python3
"""Security and shape assertions on the Terraform deployment (terraform/*.tf),
without Terraform or the AWS provider: every .tf file is parsed with
@cdktf/hcl2json (npm, pinned, installed once into the npm tools cache) and the
resulting JSON is checked.

    check_hcl.py [--root DIR]      # check DIR (default: terraform/ of the repository)
    check_hcl.py --self-test       # break each rule in a scratch copy and see it caught

Each failed assertion prints one line naming the file, the block and the rule.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HCL2JSON_VERSION = "0.21.0"

# Which networks may reach each port that is meant to be open at all.
CIDR_VARIABLE_OF_PORT = {
    22: "ssh_cidrs",
    80: "allowed_cidrs",
    3000: "admin_cidrs",
    8000: "allowed_cidrs",
    9090: "admin_cidrs",
}
# Ports that may also be opened to another security group (never SSH or the admin UIs).
PORTS_OPEN_TO_SECURITY_GROUPS = {80, 8000}
WORLD = {"0.0.0.0/0", "::/0"}

SG_ID_REF = re.compile(r"^\$\{aws_security_group\.[A-Za-z0-9_-]+(\[[^\]]*\])?\.id\}$")
VAR_REF = re.compile(r"\bvar\.([A-Za-z0-9_]+)")
CIDR_LITERAL = re.compile(r"(?:\d{1,3}\.){3}\d{1,3}/\d{1,2}|[0-9a-fA-F]*:[0-9a-fA-F:]*/\d{1,3}")


# --- parsing -------------------------------------------------------------------

NODE_CONVERT = r"""
const { parse } = require('@cdktf/hcl2json');
const fs = require('fs');
(async () => {
  const out = {};
  for (const file of process.argv.slice(1)) {
    out[file] = await parse(file, fs.readFileSync(file, 'utf8'));
  }
  process.stdout.write(JSON.stringify(out));
})().catch((e) => { console.error(String((e && e.message) || e)); process.exit(1); });
"""


def npm_tools() -> Path:
    return Path(os.environ.get("SMART_NPM_TOOLS", str(Path.home() / ".cache" / "smart-api-npm")))


def ensure_hcl2json() -> Path:
    tools = npm_tools()
    manifest = tools / "node_modules" / "@cdktf" / "hcl2json" / "package.json"
    if manifest.is_file() and json.loads(manifest.read_text())["version"] == HCL2JSON_VERSION:
        return tools
    tools.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["npm", "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(tools),
         f"@cdktf/hcl2json@{HCL2JSON_VERSION}"],
        check=True, stdout=subprocess.DEVNULL)
    return tools


def parse_dir(root: Path) -> dict:
    files = sorted(p for p in root.rglob("*.tf") if ".terraform" not in p.parts)
    if not files:
        raise SystemExit(f"{root}: no .tf files")
    tools = ensure_hcl2json()
    env = dict(os.environ, NODE_PATH=str(tools / "node_modules"))
    proc = subprocess.run(["node", "-e", NODE_CONVERT, "--", *map(str, files)],
                          env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"HCL parse error: {proc.stderr.strip()}")
    return {Path(f).relative_to(root.parent).as_posix(): doc for f, doc in json.loads(proc.stdout).items()}


# --- helpers ----------------------------------------------------------------------

class Model:
    """All blocks of all files: (file, address, body) per kind."""

    def __init__(self, docs: dict):
        self.resources = []  # (file, type, name, body)
        self.data = []
        self.variables = {}  # name -> (file, body)
        self.outputs = {}
        self.terraform = []  # (file, body)
        self.locals = []
        for file, doc in docs.items():
            for rtype, named in doc.get("resource", {}).items():
                for name, bodies in named.items():
                    for body in bodies:
                        self.resources.append((file, rtype, name, body))
            for dtype, named in doc.get("data", {}).items():
                for name, bodies in named.items():
                    for body in bodies:
                        self.data.append((file, dtype, name, body))
            for name, bodies in doc.get("variable", {}).items():
                self.variables[name] = (file, bodies[0])
            for name, bodies in doc.get("output", {}).items():
                self.outputs[name] = (file, bodies[0])
            for body in doc.get("terraform", []):
                self.terraform.append((file, body))
            for body in doc.get("locals", []):
                self.locals.append((file, body))

    def of_type(self, rtype):
        return [(f, n, b) for f, t, n, b in self.resources if t == rtype]


def strings(value):
    """Every string inside a JSON value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from strings(v)


def variables_in(value) -> set:
    return {m for s in strings(value) for m in VAR_REF.findall(s)}


def first(body, key):
    """The first (only) nested block `key` of body, or None."""
    blocks = body.get(key)
    if isinstance(blocks, list) and blocks and isinstance(blocks[0], dict):
        return blocks[0]
    return None


def as_list(value):
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


class Checker:
    def __init__(self, root: Path, model: Model):
        self.root = root
        self.m = model
        self.errors = []

    def fail(self, where, message):
        self.errors.append(f"{where}: {message}")

    # --- terraform and variables --------------------------------------------------

    def check_versions(self):
        found = False
        for file, body in self.m.terraform:
            if "required_version" in body:
                found = True
                if not re.search(r">=\s*1\.([5-9]|\d\d)", body["required_version"]):
                    self.fail(file, f"required_version must be >= 1.5 (found {body['required_version']!r})")
            providers = first(body, "required_providers") or {}
            aws = providers.get("aws")
            if aws is not None:
                if aws.get("source") != "hashicorp/aws" or not str(aws.get("version", "")).startswith("~> 5"):
                    self.fail(file, f"the aws provider must be hashicorp/aws ~> 5 (found {aws})")
        if not found:
            self.fail("terraform", "no terraform { required_version } block")

    def check_variables(self):
        for name, (file, body) in sorted(self.m.variables.items()):
            where = f"{file}: variable.{name}"
            if not str(body.get("description", "")).strip():
                self.fail(where, "every variable needs a description")
            if "type" not in body:
                self.fail(where, "every variable needs a type")

        passwords = [n for n in self.m.variables if re.search(r"grafana.*password", n)]
        if not passwords:
            self.fail("variables", "no grafana admin password variable (grafana_*password*)")
        for name in passwords:
            file, body = self.m.variables[name]
            where = f"{file}: variable.{name}"
            if body.get("sensitive") is not True:
                self.fail(where, "the Grafana password variable must be sensitive = true")
            if "default" in body:
                self.fail(where, "the Grafana password variable must have no default")
            conditions = " ".join(v.get("condition", "") for v in body.get("validation", []))
            if not re.search(rf"length\(var\.{name}\)\s*>=\s*(1[2-9]|[2-9]\d)", conditions):
                self.fail(where, "the Grafana password variable needs a validation length(...) >= 12")

        for name, expected_default in (("ssh_cidrs", []), ("admin_cidrs", [])):
            if name not in self.m.variables:
                self.fail("variables", f"no variable {name}")
                continue
            file, body = self.m.variables[name]
            where = f"{file}: variable.{name}"
            if body.get("default", expected_default) != expected_default:
                self.fail(where, f"default must be {expected_default} (closed), found {body.get('default')}")
            conditions = " ".join(v.get("condition", "") for v in body.get("validation", []))
            for world in sorted(WORLD):
                if f'"{world}"' not in conditions:
                    self.fail(where, f"a validation must reject {world}")

    # --- compute -----------------------------------------------------------------------

    def check_sg_ids(self, where, body, attribute):
        refs = body.get(attribute)
        if refs is None:
            self.fail(where, f"{attribute} is missing: attach security groups by id")
            return
        if not isinstance(refs, list) or not refs:
            self.fail(where, f"{attribute} must be a list of aws_security_group.<name>.id (found {refs!r})")
            return
        for ref in refs:
            if not (isinstance(ref, str) and SG_ID_REF.match(ref)):
                self.fail(where, f"{attribute} entry {ref!r} is not an aws_security_group.<name>.id reference")

    def check_metadata(self, where, body):
        meta = first(body, "metadata_options")
        if meta is None or meta.get("http_tokens") != "required":
            found = None if meta is None else meta.get("http_tokens")
            self.fail(where, f'IMDSv2 must be required: metadata_options {{ http_tokens = "required" }} (found {found!r})')

    def check_volume(self, where, block, what):
        if block.get("encrypted") is not True:
            self.fail(where, f"{what} must be encrypted = true (found {block.get('encrypted')!r})")
        if block.get("volume_type") != "gp3":
            self.fail(where, f'{what} must be volume_type = "gp3" (found {block.get("volume_type")!r})')

    def check_user_data(self, where, body):
        if "templatefile(" not in str(body.get("user_data", "")):
            self.fail(where, "user_data must be rendered with templatefile()")

    def check_instances(self):
        instances = self.m.of_type("aws_instance")
        if not instances:
            self.fail("resources", "no aws_instance")
        for file, name, body in instances:
            where = f"{file}: aws_instance.{name}"
            self.check_metadata(where, body)
            if "security_groups" in body:
                self.fail(where, "security_groups (by name) is not allowed: use vpc_security_group_ids")
            self.check_sg_ids(where, body, "vpc_security_group_ids")
            root = first(body, "root_block_device")
            if root is None:
                self.fail(where, "root_block_device is missing (the root volume must be encrypted gp3)")
            else:
                self.check_volume(where, root, "root_block_device")
            for ebs in body.get("ebs_block_device", []):
                self.check_volume(where, ebs, "ebs_block_device")
            self.check_user_data(where, body)

        templates = self.m.of_type("aws_launch_template")
        if not templates:
            self.fail("resources", "no aws_launch_template")
        for file, name, body in templates:
            where = f"{file}: aws_launch_template.{name}"
            self.check_metadata(where, body)
            if "security_group_names" in body:
                self.fail(where, "security_group_names is not allowed: use vpc_security_group_ids")
            interfaces = body.get("network_interfaces", [])
            if interfaces:
                for nic in interfaces:
                    self.check_sg_ids(where + " network_interfaces", nic, "security_groups")
            else:
                self.check_sg_ids(where, body, "vpc_security_group_ids")
            mappings = body.get("block_device_mappings", [])
            if not mappings:
                self.fail(where, "block_device_mappings is missing (the root volume must be encrypted gp3)")
            for mapping in mappings:
                ebs = first(mapping, "ebs")
                if ebs is None:
                    self.fail(where, "every block_device_mappings entry needs an ebs block")
                else:
                    self.check_volume(where, ebs, "block_device_mappings ebs")
            self.check_user_data(where, body)

        for file, name, _ in self.m.of_type("aws_launch_configuration"):
            self.fail(f"{file}: aws_launch_configuration.{name}", "launch configurations are not allowed: use a launch template")

    # --- security group rules ----------------------------------------------------------

    def ingress_rules(self):
        """(where, protocol, from, to, cidr_sources, sg_sources) for every ingress rule.
        cidr_sources: a set of variable names, or literal CIDRs prefixed 'literal:'."""
        rules = []

        def cidr_sources(cidr_values, iteration):
            sources = set()
            for value in cidr_values:
                for s in strings(value):
                    sources |= {"literal:" + c for c in CIDR_LITERAL.findall(s)}
                    sources |= variables_in(s)
                    if re.search(r"\b(each|ingress)\.(value|key)\b", s):
                        # for_each (or a dynamic block) over the networks: they come from the iteration.
                        sources |= variables_in(iteration)
                        sources |= {"literal:" + c for s2 in strings(iteration) for c in CIDR_LITERAL.findall(s2)}
                    elif not s.startswith("${") and not CIDR_LITERAL.findall(s):
                        sources.add("literal:" + s)
            return sources

        for file, name, body in self.m.of_type("aws_vpc_security_group_ingress_rule"):
            rules.append((f"{file}: aws_vpc_security_group_ingress_rule.{name}", body.get("ip_protocol"),
                          body.get("from_port"), body.get("to_port"),
                          cidr_sources([body.get("cidr_ipv4"), body.get("cidr_ipv6")], body.get("for_each")),
                          [v for v in (body.get("referenced_security_group_id"), body.get("prefix_list_id")) if v]))
        for file, name, body in self.m.of_type("aws_security_group_rule"):
            if body.get("type") != "ingress":
                continue
            rules.append((f"{file}: aws_security_group_rule.{name}", body.get("protocol"),
                          body.get("from_port"), body.get("to_port"),
                          cidr_sources([body.get("cidr_blocks"), body.get("ipv6_cidr_blocks")], body.get("for_each")),
                          [v for v in (body.get("source_security_group_id"), body.get("prefix_list_ids"),
                                       body.get("self")) if v]))
        for file, name, body in self.m.of_type("aws_security_group"):
            inline = [(b, None) for b in body.get("ingress", [])]
            for dyn in body.get("dynamic", {}).get("ingress", []) if isinstance(body.get("dynamic"), dict) else []:
                for content in dyn.get("content", []):
                    inline.append((content, dyn.get("for_each")))
            for block, iteration in inline:
                rules.append((f"{file}: aws_security_group.{name} (inline ingress)", block.get("protocol"),
                              block.get("from_port"), block.get("to_port"),
                              cidr_sources([block.get("cidr_blocks"), block.get("ipv6_cidr_blocks")], iteration),
                              [v for v in (block.get("security_groups"), block.get("prefix_list_ids"),
                                           block.get("self")) if v]))
        return rules

    def check_ingress(self):
        rules = self.ingress_rules()
        if not rules:
            self.fail("security", "no ingress rules found")
        ssh_rules = 0
        for where, protocol, from_port, to_port, cidrs, groups in rules:
            literals = {c[len("literal:"):] for c in cidrs if c.startswith("literal:")}
            for cidr in sorted(literals & WORLD):
                self.fail(where, f"ingress open to {cidr} as a literal: take the networks from a variable")
            for cidr in sorted(literals - WORLD):
                self.fail(where, f"ingress from a literal network {cidr}: take the networks from a variable")
            if str(protocol) in ("-1", "all"):
                self.fail(where, "ingress on all protocols and ports is not allowed")
                if cidrs - {"ssh_cidrs"}:
                    self.fail(where, f"port 22 is covered by an all-ports rule open to {sorted(cidrs)}")
                continue
            if str(protocol) not in ("tcp", "6"):
                self.fail(where, f"ingress protocol must be tcp (found {protocol!r})")
            if not (isinstance(from_port, int) and isinstance(to_port, int)):
                self.fail(where, f"ingress ports must be literal numbers (found {from_port!r}-{to_port!r})")
                continue
            if from_port <= 22 <= to_port:
                ssh_rules += 1
                if cidrs != {"ssh_cidrs"} or groups:
                    self.fail(where, f"port 22 must be open to var.ssh_cidrs only (found {sorted(cidrs) + groups})")
            if from_port != to_port:
                self.fail(where, f"ingress must open one port per rule (found {from_port}-{to_port})")
                continue
            port = from_port
            expected = CIDR_VARIABLE_OF_PORT.get(port)
            if expected is None:
                self.fail(where, f"ingress on port {port}: not one of the intended ports {sorted(CIDR_VARIABLE_OF_PORT)}")
                continue
            if port == 22:
                continue
            if cidrs and cidrs != {expected}:
                self.fail(where, f"port {port} must be open to var.{expected} only (found {sorted(cidrs)})")
            if groups and port not in PORTS_OPEN_TO_SECURITY_GROUPS:
                self.fail(where, f"port {port} must be open to var.{expected} only, not to a security group")
            for group in groups:
                if not (isinstance(group, str) and SG_ID_REF.match(group)):
                    self.fail(where, f"port {port}: source {group!r} is not an aws_security_group.<name>.id reference")
            if not cidrs and not groups:
                self.fail(where, f"port {port}: the rule names no source")
        if ssh_rules == 0:
            # Not an error by itself; but the deployment documents SSH from ssh_cidrs.
            self.fail("security", "no SSH rule from var.ssh_cidrs found (expected one per host kind)")

    # --- load balancer and scaling ----------------------------------------------------

    def check_fleet(self):
        for file, name, body in self.m.of_type("aws_lb"):
            where = f"{file}: aws_lb.{name}"
            self.check_sg_ids(where, body, "security_groups")
            if body.get("load_balancer_type", "application") != "application":
                self.fail(where, "the load balancer must be an application load balancer")
        groups = self.m.of_type("aws_lb_target_group")
        if not groups:
            self.fail("fleet", "no aws_lb_target_group")
        for file, name, body in groups:
            where = f"{file}: aws_lb_target_group.{name}"
            check = first(body, "health_check")
            if check is None:
                self.fail(where, "health_check block is missing")
                continue
            if check.get("path") != "/healthz":
                self.fail(where, f'health check path must be "/healthz" (found {check.get("path")!r})')
            if str(check.get("matcher")) != "200":
                self.fail(where, f'health check matcher must be "200" (found {check.get("matcher")!r})')
            if body.get("port") not in (8000, "${local.service_port}"):
                self.fail(where, f"target group port must be the service port 8000 (found {body.get('port')!r})")
        listeners = self.m.of_type("aws_lb_listener")
        if not any(b.get("port") == 80 and (first(b, "default_action") or {}).get("type") == "forward"
                   for _, _, b in listeners):
            self.fail("fleet", "no aws_lb_listener on port 80 forwarding to the target group")
        asgs = self.m.of_type("aws_autoscaling_group")
        if not asgs:
            self.fail("fleet", "no aws_autoscaling_group")
        for file, name, body in asgs:
            where = f"{file}: aws_autoscaling_group.{name}"
            for size in ("min_size", "max_size", "desired_capacity"):
                if not variables_in(body.get(size)):
                    self.fail(where, f"{size} must come from a variable (found {body.get(size)!r})")
            if "aws_subnet." not in str(body.get("vpc_zone_identifier")):
                self.fail(where, "vpc_zone_identifier must list the deployment's subnets")
            if first(body, "launch_template") is None:
                self.fail(where, "the group must launch from the launch template")
            if "aws_lb_target_group." not in str(body.get("target_group_arns")):
                self.fail(where, "the group must register its instances with the target group")
        if not any(b.get("policy_type") == "TargetTrackingScaling" for _, _, b in self.m.of_type("aws_autoscaling_policy")):
            self.fail("fleet", "no aws_autoscaling_policy with policy_type = \"TargetTrackingScaling\"")

    # --- monitoring ------------------------------------------------------------------------

    def check_monitoring(self):
        actions = set()
        for _, dtype, _, body in self.m.data:
            if dtype == "aws_iam_policy_document":
                for statement in body.get("statement", []):
                    actions |= set(as_list(statement.get("actions")))
        if "ec2:DescribeInstances" not in actions:
            self.fail("iam", "no policy grants ec2:DescribeInstances (Prometheus EC2 discovery)")
        if not any("iam_instance_profile" in b for _, _, b in self.m.of_type("aws_instance")):
            self.fail("iam", "no instance has an iam_instance_profile (the monitoring instance needs one)")
        prometheus = self.root / "templates" / "prometheus.yml.tftpl"
        if not prometheus.is_file() or "ec2_sd_configs" not in prometheus.read_text():
            self.fail("templates/prometheus.yml.tftpl", "the fleet's Prometheus configuration must use ec2_sd_configs")

    def check_template(self):
        path = self.root / "templates" / "user_data.sh.tftpl"
        if not path.is_file():
            self.fail("templates", "templates/user_data.sh.tftpl is missing")
            return
        text = path.read_text()
        for needle, why in (
            ("#!/bin/bash", "a bash shebang"),
            ("set -euo pipefail", "set -euo pipefail"),
            ("/var/log/smart-api-bootstrap.log", "its log in /var/log/smart-api-bootstrap.log"),
            ("Type=oneshot", "a oneshot systemd unit"),
            ("RemainAfterExit=yes", "RemainAfterExit=yes"),
            ("WantedBy=multi-user.target", "a unit wanted by multi-user.target"),
            ("docker compose up -d", "docker compose up -d"),
            ("/swapfile", "a swap file"),
            ("GRAFANA_ADMIN_PASSWORD=", "Grafana's password for Compose (.env)"),
        ):
            if needle not in text:
                self.fail(f"templates/{path.name}", f"the bootstrap must have {why} ({needle!r} not found)")

    # --- outputs ---------------------------------------------------------------------------

    def check_outputs(self):
        values = {n: str(b.get("value", "")) for n, (_, b) in self.m.outputs.items()}
        local_values = " ".join(str(v) for _, body in self.m.locals for v in body.values())
        if not any("/api/smart" in v for v in values.values()):
            self.fail("outputs", "no output gives the /api/smart URL")
        for name in ("grafana_url", "prometheus_url"):
            if name not in values:
                self.fail("outputs", f"output {name} is missing")
        if not any("aws_lb." in v for v in values.values()) and "aws_lb." not in local_values:
            self.fail("outputs", "no output names the load balancer")
        if not any("aws_instance." in v for v in values.values()):
            self.fail("outputs", "no output names the instances")

    def run(self):
        self.check_versions()
        self.check_variables()
        self.check_instances()
        self.check_ingress()
        self.check_fleet()
        self.check_monitoring()
        self.check_template()
        self.check_outputs()
        return self.errors


def check(root: Path):
    return Checker(root, Model(parse_dir(root))).run()


# --- self-test: each rule, broken in a scratch copy, must be caught ---------------------

# (file, regular expression, replacement, text expected in an error)
MUTATIONS = [
    ("security.tf", r'(admin_ssh" \{\n  for_each = )toset\(var\.ssh_cidrs\)', r'\1toset(["0.0.0.0/0"])',
     "port 22 must be open to var.ssh_cidrs only"),
    ("security.tf", r'(fleet_ssh" \{\n  for_each = local\.fleet \? )toset\(var\.ssh_cidrs\)', r'\1toset(var.allowed_cidrs)',
     "port 22 must be open to var.ssh_cidrs only"),
    ("security.tf", r"\Z",
     '\nresource "aws_security_group_rule" "oops" {\n  type              = "ingress"\n  security_group_id = aws_security_group.admin.id\n'
     '  protocol          = "tcp"\n  from_port         = 22\n  to_port           = 22\n  cidr_blocks       = ["0.0.0.0/0"]\n}\n',
     "ingress open to 0.0.0.0/0"),
    ("security.tf", r'(resource "aws_security_group" "admin" \{\n)',
     r'\1  ingress {\n    protocol    = "tcp"\n    from_port   = 22\n    to_port     = 22\n    cidr_blocks = ["0.0.0.0/0"]\n  }\n',
     "port 22 must be open to var.ssh_cidrs only"),
    ("security.tf", r'(admin_grafana" \{\n  for_each = )toset\(var\.admin_cidrs\)', r'\1toset(var.allowed_cidrs)',
     "port 3000 must be open to var.admin_cidrs only"),
    ("security.tf", r'(admin_prometheus" \{\n  for_each = toset\(var\.admin_cidrs\)\n(.*\n){5}  to_port           = )9090',
     r'\g<1>9100', "ingress must open one port per rule"),
    ("single.tf", r'http_tokens                 = "required"', 'http_tokens                 = "optional"',
     "IMDSv2 must be required"),
    ("monitoring.tf", r'http_tokens   = "required"', 'http_tokens   = "optional"', "IMDSv2 must be required"),
    ("fleet.tf", r'http_tokens                 = "required"', 'http_tokens                 = "optional"',
     "IMDSv2 must be required"),
    ("single.tf", r"encrypted             = true", "encrypted             = false",
     "root_block_device must be encrypted"),
    ("fleet.tf", r"encrypted             = true", "encrypted             = false",
     "block_device_mappings ebs must be encrypted"),
    ("single.tf", r'volume_type           = "gp3"', 'volume_type           = "gp2"', 'must be volume_type = "gp3"'),
    ("single.tf", r"vpc_security_group_ids = \[", "security_groups = [", "security_groups (by name) is not allowed"),
    ("monitoring.tf", r"vpc_security_group_ids = \[aws_security_group\.admin\.id\]",
     'vpc_security_group_ids = ["smart-api-admin"]', "is not an aws_security_group.<name>.id reference"),
    ("fleet.tf", r"security_groups            = \[aws_security_group\.alb\[0\]\.id\]",
     'security_groups            = ["smart-api-alb"]', "is not an aws_security_group.<name>.id reference"),
    ("fleet.tf", r'path                = "/healthz"', 'path                = "/"', 'health check path must be "/healthz"'),
    ("variables.tf", r'(grafana_admin_password" \{\n(.*\n){2})  sensitive   = true\n', r"\1",
     "must be sensitive = true"),
    ("variables.tf", r'(grafana_admin_password" \{\n(.*\n){2}  sensitive   = true\n)', r'\1  default     = "change-me-now!"\n',
     "must have no default"),
    ("variables.tf", r'contains\(\["0\.0\.0\.0/0", "::/0"\], c\)\]\)\n    error_message = "ssh_cidrs',
     'contains(["0.0.0.0/0"], c)])\n    error_message = "ssh_cidrs', "a validation must reject ::/0"),
    ("outputs.tf", r"/api/smart\?timeout=1500", "/api/first?timeout=1500", "no output gives the /api/smart URL"),
    ("iam.tf", r'"ec2:DescribeInstances",', "", "no policy grants ec2:DescribeInstances"),
]


def self_test() -> int:
    source = REPO / "terraform"
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        baseline = Path(tmp) / "baseline" / "terraform"
        shutil.copytree(source, baseline, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*"))
        errors = check(baseline)
        if errors:
            print("self-test: the unchanged copy already fails:\n  " + "\n  ".join(errors))
            return 1
        for index, (file, pattern, replacement, expected) in enumerate(MUTATIONS, 1):
            scratch = Path(tmp) / f"m{index}" / "terraform"
            shutil.copytree(baseline, scratch)
            target = scratch / file
            text, count = re.subn(pattern, replacement, target.read_text(), count=1)
            if count != 1:
                print(f"self-test {index}: the mutation of {file} no longer applies ({pattern!r}); update MUTATIONS")
                failures += 1
                continue
            target.write_text(text)
            errors = check(scratch)
            caught = [e for e in errors if expected in e]
            if caught:
                print(f"self-test {index}: {file} broken -> caught: {caught[0]}")
            else:
                print(f"self-test {index}: {file} broken ({expected!r} expected) -> NOT caught; errors: {errors}")
                failures += 1
    print(f"self-test: {len(MUTATIONS) - failures} passed, {failures} failed")
    return 1 if failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=REPO / "terraform", help="the Terraform folder to check")
    parser.add_argument("--self-test", action="store_true", help="prove every rule by breaking it in a scratch copy")
    args = parser.parse_args()
    if args.self_test:
        return self_test()
    errors = check(args.root.resolve())
    for error in errors:
        print(f"FAIL {error}")
    if errors:
        print(f"check_hcl: {len(errors)} assertion(s) failed in {args.root}")
        return 1
    print(f"check_hcl: every assertion holds for {args.root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
