#!/usr/bin/env bash
# Offline checks of the AWS deployment (terraform/). `terraform validate` and
# `plan` need the AWS provider, which cannot be downloaded here; what can be
# checked without it is checked:
#
#   1. terraform fmt -check -recursive terraform/
#   2. the bootstrap (user data) rendered for each role with sample values, by a
#      small renderer and, when Terraform is installed, by templatefile() itself
#      (the two must agree); bash -n, shellcheck, and the EC2 16 KiB limit
#   3. a dry run of the bootstrap for each role, twice, with stubbed system
#      commands (tests/terraform/bootstrap_dry_run.sh): the files it writes,
#      the commands it runs, and that a second run duplicates nothing
#   4. the fleet's Prometheus configuration rendered and checked by promtool
#   5. the variables' validation rules, exercised with `terraform plan` on a
#      copy of variables.tf alone (no provider needed)
#   6. tests/terraform/check_hcl.py: security and shape assertions on the HCL,
#      then its self-test (each rule broken in a scratch copy must be caught)
#
# Steps that need Terraform or promtool print a notice and are skipped when the
# tool is not installed.
#
#   tests/terraform/check.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
here=tests/terraform
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

have_terraform=0
if command -v terraform >/dev/null 2>&1; then
  have_terraform=1
  # TF_CLI_CONFIG_FILE naming a missing file makes Terraform warn on every
  # command: an empty file instead keeps it quiet.
  if [[ -n ${TF_CLI_CONFIG_FILE:-} && ! -f $TF_CLI_CONFIG_FILE ]]; then
    : >"$work/terraformrc"
    export TF_CLI_CONFIG_FILE=$work/terraformrc
  fi
  export TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1
fi

echo "-- terraform fmt -check"
if ((have_terraform)); then
  terraform fmt -check -recursive -diff terraform/
else
  echo "notice: terraform is not installed: fmt, the templatefile() comparison and the validation cases are skipped"
fi

echo "-- user data: rendered for each role"
sample_password=$(printf '%s' 'sample-password-1234' | base64 -w0)
cat >"$work/prometheus.vars.json" <<'EOF'
{"region": "us-east-1", "service_port": "8000", "scrape_tag_key": "smart-api-scrape", "scrape_tag_value": "smart-api"}
EOF
python3 "$here/render_template.py" terraform/templates/prometheus.yml.tftpl "$work/prometheus.vars.json" \
  >"$work/prometheus.yml"
prometheus_b64=$(base64 -w0 "$work/prometheus.yml")
python3 - "$work" "$sample_password" "$prometheus_b64" <<'EOF'
import json, sys
work, password, prometheus = sys.argv[1:]
common = {"git_url": "https://git.example.com/team/smart-api.git", "git_ref": "main",
          "upstream_url": "http://upstream-sim:9000/api/work", "run_simulator": "yes"}
roles = {
    "single": dict(common, role="single", swap_size_mib="4096",
                   grafana_admin_password_b64=password, prometheus_config_b64=""),
    "service": dict(common, role="service", swap_size_mib="4096",
                    grafana_admin_password_b64="", prometheus_config_b64=""),
    "service-upstream": dict(common, role="service", swap_size_mib="0", run_simulator="no",
                             upstream_url="https://upstream.example.com/api/work",
                             grafana_admin_password_b64="", prometheus_config_b64=""),
    "monitoring": dict(common, role="monitoring", swap_size_mib="1024",
                       grafana_admin_password_b64=password, prometheus_config_b64=prometheus),
}
json.dump(roles, open(f"{work}/roles.json", "w"))
for name, values in roles.items():
    json.dump(values, open(f"{work}/user_data.{name}.json", "w"))
EOF
roles=(single service service-upstream monitoring)
for role in "${roles[@]}"; do
  python3 "$here/render_template.py" terraform/templates/user_data.sh.tftpl "$work/user_data.$role.json" \
    >"$work/user_data.$role.sh"
done

if ((have_terraform)); then
  echo "-- user data: the same with Terraform's templatefile()"
  mkdir -p "$work/render"
  cat >"$work/render/main.tf" <<EOF
variable "roles" {
  type = map(map(string))
}
output "user_data" {
  value = { for name, values in var.roles : name => templatefile("$PWD/terraform/templates/user_data.sh.tftpl", values) }
}
output "prometheus" {
  value = templatefile("$PWD/terraform/templates/prometheus.yml.tftpl", jsondecode(file("$work/prometheus.vars.json")))
}
EOF
  python3 -c 'import json,sys; print(json.dumps({"roles": json.load(open(sys.argv[1]))}))' "$work/roles.json" \
    >"$work/render/terraform.tfvars.json"
  (
    cd "$work/render"
    terraform init -input=false -no-color >/dev/null
    terraform apply -input=false -auto-approve -no-color >/dev/null
    terraform output -json -no-color >"$work/rendered.json"
  )
  python3 - "$work" "${roles[@]}" <<'EOF'
import json, sys
work, roles = sys.argv[1], sys.argv[2:]
out = json.load(open(f"{work}/rendered.json"))
bad = [r for r in roles if out["user_data"]["value"][r] != open(f"{work}/user_data.{r}.sh").read()]
if out["prometheus"]["value"] != open(f"{work}/prometheus.yml").read():
    bad.append("prometheus.yml")
if bad:
    sys.exit(f"render_template.py and templatefile() disagree for: {', '.join(bad)}")
print(f"templatefile() renders the same as render_template.py for {len(roles)} roles and prometheus.yml")
EOF
fi

echo "-- user data: bash -n, size"
for role in "${roles[@]}"; do
  file=$work/user_data.$role.sh
  bash -n "$file"
  size=$(wc -c <"$file")
  # EC2 takes at most 16384 bytes of user data (before base64).
  if ((size > 16384)); then
    echo "user data for $role is $size bytes: over EC2's 16384-byte limit"
    exit 1
  fi
  echo "$role: $size bytes"
done

echo "-- shellcheck"
shellcheck "$work"/user_data.*.sh "$here"/*.sh

echo "-- bootstrap dry run (stubbed system commands, twice per role)"
"$here/bootstrap_dry_run.sh" "$work"

echo "-- prometheus config of the fleet (promtool)"
if command -v promtool >/dev/null 2>&1; then
  cp prometheus/alerts.yml "$work/alerts.yml"
  promtool check config "$work/prometheus.yml"
else
  echo "notice: promtool is not installed: skipped"
fi

if ((have_terraform)); then
  echo "-- variable validation (terraform plan on variables.tf alone)"
  mkdir -p "$work/vars"
  cp terraform/variables.tf "$work/vars/"
  (
    cd "$work/vars"
    terraform init -input=false -no-color >/dev/null
  )
  base=(-var 'git_url=https://git.example.com/team/smart-api.git' -var 'grafana_admin_password=sample-password-1234')
  failures=0
  # expect NAME ok|TEXT ARGS...: plan must pass, or fail with TEXT in its output.
  expect() {
    local name=$1 want=$2 status=0 output
    shift 2
    output=$(cd "$work/vars" && terraform plan -input=false -no-color -lock=false "$@" 2>&1) || status=$?
    if [[ $want == ok && $status -eq 0 ]] || [[ $want != ok && $status -ne 0 && $output == *"$want"* ]]; then
      echo "ok   $name"
    else
      echo "FAIL $name: expected ${want}, exit status $status:"
      printf '%s\n' "$output" | tail -n 15
      failures=$((failures + 1))
    fi
  }
  expect "defaults pass" ok "${base[@]}"
  expect "fleet with SSH, admin networks and a key pair passes" ok "${base[@]}" -var deployment_mode=fleet \
    -var 'ssh_cidrs=["203.0.113.7/32","2001:db8::/64"]' -var 'admin_cidrs=["198.51.100.0/24"]' -var key_name=ops \
    -var upstream_url=https://upstream.example.com/api/work -var instance_type=t3.small
  expect "ssh_cidrs 0.0.0.0/0 is rejected" 'must not contain "0.0.0.0/0"' "${base[@]}" -var 'ssh_cidrs=["0.0.0.0/0"]'
  expect "ssh_cidrs ::/0 is rejected" 'must not contain "0.0.0.0/0"' "${base[@]}" -var 'ssh_cidrs=["::/0"]'
  expect "ssh_cidrs 0::/0 (world, not canonical) is rejected" "canonical form" "${base[@]}" -var 'ssh_cidrs=["0::/0"]'
  expect "admin_cidrs 0.0.0.0/0 is rejected" "Prometheus has no login" "${base[@]}" -var 'admin_cidrs=["0.0.0.0/0"]'
  expect "allowed_cidrs with host bits is rejected" "canonical form" "${base[@]}" -var 'allowed_cidrs=["10.0.0.1/8"]'
  expect "the Grafana password is required" "grafana_admin_password" \
    -var 'git_url=https://git.example.com/team/smart-api.git'
  expect "a short Grafana password is rejected" "at least 12 characters" \
    -var 'git_url=https://git.example.com/team/smart-api.git' -var 'grafana_admin_password=short'
  expect "a Grafana password with a quote is rejected" "single quotes" \
    -var 'git_url=https://git.example.com/team/smart-api.git' -var "grafana_admin_password=it's-long-enough"
  expect "git_url is required" "git_url" -var 'grafana_admin_password=sample-password-1234'
  expect "a plain-http git_url is rejected" "must be an https:// URL" "${base[@]}" -var git_url=http://example.com/x.git
  expect "a git_url with a quote is rejected" "must be an https:// URL" "${base[@]}" \
    -var "git_url=https://example.com/x'y.git"
  expect "a git_ref with .. is rejected" "git_ref must be" "${base[@]}" -var git_ref=a..b
  expect "an unknown deployment_mode is rejected" "must be \"single\" or \"fleet\"" "${base[@]}" \
    -var deployment_mode=cluster
  expect "a Graviton instance type is rejected" "x86_64 instance type" "${base[@]}" -var instance_type=t4g.micro
  expect "an upstream_url with a space is rejected" "upstream_url must be" "${base[@]}" \
    -var 'upstream_url=http://a b/'
  expect "a long name is rejected" "2-24 characters" "${base[@]}" -var name=a-name-that-is-far-too-long-for-an-alb
  expect "a /8 VPC is rejected" "from /16 to /24" "${base[@]}" -var vpc_cidr=10.0.0.0/8
  expect "one zone is rejected" "az_count must be" "${base[@]}" -var az_count=1
  if ((failures)); then
    echo "$failures validation case(s) failed"
    exit 1
  fi
fi

echo "-- HCL assertions (check_hcl.py)"
python3 "$here/check_hcl.py"
echo "-- the assertions catch broken rules (check_hcl.py --self-test)"
python3 "$here/check_hcl.py" --self-test

echo "terraform checks passed"
