#!/usr/bin/env python3
"""End-to-end test of the compose stack in containers, on a machine without a Docker engine.

Does what `docker-compose up --build` does for a user, with podman in place of
Docker (see the README's Testing section for why each step is so):

 1. starts podman's Docker-compatible API on a socket of its own, with a
    settings file and an image store of its own;
 2. makes the Debian base images with debootstrap (no registry can be
    reached), or takes them from the store when they were made the same way;
 3. builds every image the compose file builds, from the Dockerfile as it is
    (`podman build --format docker`, the targets, tags and arguments that
    `docker-compose config` gives), and a stand-in for prom/prometheus; each
    built image must pass its own HEALTHCHECK when run alone;
 4. brings the stack up with `docker-compose` against that API, Grafana left
    out (it cannot be had here), and runs the containers' health checks;
 5. checks the running containers: the API through the published port, health,
    the api's user and descriptor limit, Prometheus scraping the api by its
    service name with the alert rules loaded;
 6. `docker-compose stop` with requests in flight: each is answered, the api
    exits 0; then `docker-compose down -v`, and nothing may be left.

Whatever happens, everything it started is stopped and removed on the way out;
the images stay in the store as a cache for the next run.

    tests/e2e/containers_test.py            # as in CI (as root)
    tests/e2e/containers_test.py --fresh    # empty the image store first: a new machine
"""

import argparse
import ctypes
import hashlib
import http.client
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
OVERRIDE = REPO / "tests" / "e2e" / "compose.podman.yml"
PROMETHEUS_DOCKERFILE = REPO / "tests" / "e2e" / "prometheus.Dockerfile"
PROMETHEUS_IMAGE = "smart-api-e2e-prometheus:local"  # as in compose.podman.yml
BUILD_STAGE_IMAGE = "smart-api-e2e-build:cache"  # keeps the toolchain layer from being pruned
PROJECT = "smart-api-e2e"
SERVICES = ["upstream-sim", "api", "prometheus"]  # all but grafana
API, PROMETHEUS = "http://127.0.0.1:8000", "http://127.0.0.1:9090"

# The base images the Dockerfile starts from, and how this test makes them.
BASE_TAGS = ["docker.io/library/debian:bookworm-slim", "docker.io/library/debian:bookworm"]
BASE_SUITE = "bookworm"
BASE_RECIPE = "debootstrap minbase, slim, 1"  # change it when base_image() changes
BASE_MAX_AGE_DAYS = 30
BASE_LABEL = "org.smart-api.e2e.base"

HEALTH_CHECK_PERIOD = 2.0  # seconds between two runs of the containers' health checks
STARTED = time.monotonic()


class Failure(Exception):
    """A check that did not hold: the message says what was expected and seen."""


def log(message):
    print(f"[{time.monotonic() - STARTED:6.1f} s] {message}", flush=True)


def run(cmd, env=None, timeout=600, check=True, quiet=False):
    """Runs a command and returns its output; on failure, shows the end of it."""
    if not quiet:
        log("$ " + " ".join(str(c) for c in cmd))
    try:
        done = subprocess.run([str(c) for c in cmd], env=env, timeout=timeout, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    except subprocess.TimeoutExpired as e:
        raise Failure(f"{cmd[0]} {cmd[1]} did not finish within {timeout} s") from e
    if check and done.returncode != 0:
        tail = "\n".join(done.stdout.splitlines()[-60:])
        raise Failure(f"`{' '.join(str(c) for c in cmd)}` exited with {done.returncode}:\n{tail}")
    return done.stdout


def wait_for(what, predicate, timeout):
    """Polls predicate() until it returns a true value, for at most timeout seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except (OSError, http.client.HTTPException, ValueError, KeyError) as e:
            last = e
        if time.monotonic() >= deadline:
            raise Failure(f"timed out after {timeout:.0f} s waiting for {what}"
                          + (f" (last error: {last})" if last else ""))
        time.sleep(0.25)  # polling interval, not a wait for readiness


def http_get(url, timeout=10.0):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


# --- the output of `docker-compose config` -------------------------------------------------


def parse_compose_config(text):
    """Reads the YAML that `docker-compose config` prints: block mappings and
    sequences as PyYAML writes them (a sequence at its key's indentation, long
    scalars folded onto deeper lines). Enough for the keys this test reads;
    sequence items are kept as text."""
    lines = [(len(raw) - len(raw.lstrip(" ")), raw.strip()) for raw in text.splitlines()
             if raw.strip() and not raw.lstrip().startswith("#")]
    pos = 0

    def scalar(s):
        if len(s) >= 2 and s[0] == s[-1] == "'":
            return s[1:-1].replace("''", "'")
        if len(s) >= 2 and s[0] == s[-1] == '"':
            return json.loads(s)
        return s

    def folded(indent, text):
        nonlocal pos
        while pos < len(lines) and lines[pos][0] > indent:
            text += " " + lines[pos][1]
            pos += 1
        return scalar(text)

    def node(indent):
        nonlocal pos
        if lines[pos][1].startswith("-"):
            items = []
            while pos < len(lines) and lines[pos][0] == indent and lines[pos][1].startswith("-"):
                pos += 1
                items.append(folded(indent, lines[pos - 1][1][1:].strip()))
            return items
        mapping = {}
        while pos < len(lines) and lines[pos][0] == indent and not lines[pos][1].startswith("-"):
            key, _, rest = lines[pos][1].partition(":")
            pos += 1
            if rest.strip():
                mapping[scalar(key)] = folded(indent, rest.strip())
            elif pos < len(lines) and (lines[pos][0] > indent or lines[pos][1].startswith("-")):
                mapping[scalar(key)] = node(lines[pos][0])
            else:
                mapping[scalar(key)] = None
        return mapping

    return node(0) if lines else {}


# --- podman --------------------------------------------------------------------------------


class Podman:
    """podman with this test's settings and image store, and its API service."""

    def __init__(self, cache, work):
        self.cache, self.work = cache, work
        self.socket = work / "podman.sock"
        self.service = None
        state = Path("/run/smart-api-e2e")
        # Descriptors: the machine's hard limit, which a container cannot
        # exceed; processes: podman's compat API would otherwise ask for more
        # than a container may have here.
        nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        nproc = self.nproc = min(32768, resource.getrlimit(resource.RLIMIT_NPROC)[1])
        (work / "containers.conf").write_text(f"""\
[containers]
default_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]

[engine]
# crun fails on this kind of machine (cgroups v1), runc works. No systemd:
# cgroups managed by podman, events in a file.
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "{state}/libpod"

[network]
network_backend = "cni"
network_config_dir = "{cache}/networks"
""")
        (work / "storage.conf").write_text(f"""\
[storage]
driver = "overlay"
graphroot = "{cache}/storage"
runroot = "{state}/storage"
""")
        (cache / "networks").mkdir(parents=True, exist_ok=True)
        self.env = dict(os.environ, CONTAINERS_CONF=str(work / "containers.conf"),
                        CONTAINERS_STORAGE_CONF=str(work / "storage.conf"))

    def __call__(self, *args, **kwargs):
        return run(["podman", *args], env=self.env, **kwargs)

    def succeeds(self, *args):
        return subprocess.run(["podman", *args], env=self.env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL).returncode == 0

    def start_service(self):
        def die_with_parent():  # the service stops if this test is killed
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG

        log(f"podman API service on {self.socket}")
        self.service = subprocess.Popen(
            ["podman", "system", "service", "--time=0", f"unix://{self.socket}"],
            env=self.env, stdout=open(self.work / "podman-service.log", "w"),
            stderr=subprocess.STDOUT, preexec_fn=die_with_parent)

        def ping():
            if self.service.poll() is not None:
                raise Failure(f"podman system service exited with {self.service.returncode}: "
                              + (self.work / "podman-service.log").read_text()[-2000:])
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(5)
                s.connect(str(self.socket))
                s.sendall(b"GET /_ping HTTP/1.0\r\n\r\n")
                return b" 200 " in s.recv(4096).split(b"\r\n")[0]
        wait_for("podman's API to answer", ping, timeout=30)

    def stop_service(self):
        if self.service and self.service.poll() is None:
            self.service.terminate()
            try:
                self.service.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.service.kill()
                self.service.wait()

    def image(self, name):
        """The image's inspect data, or None when the store has no such image."""
        out = self("image", "inspect", name, check=False, quiet=True)
        try:
            return json.loads(out)[0]
        except (ValueError, IndexError):
            return None

    def containers(self, *filters):
        out = self("ps", "-a", "--filter", f"label=com.docker.compose.project={PROJECT}",
                   *[a for f in filters for a in ("--filter", f)], "--format", "{{.Names}}",
                   quiet=True)
        return out.split()

    def container(self, service):
        names = self.containers(f"label=com.docker.compose.service={service}")
        if len(names) != 1:
            raise Failure(f"expected one container of {service}, found {names}")
        return names[0]

    def inspect(self, container):
        return json.loads(self("container", "inspect", container, quiet=True))[0]


# --- the base images -----------------------------------------------------------------------


def debian_sources():
    """The machine's Debian archive entries for the suite, as (URI, suites, components):
    those of the suite's names with Debian's components (another vendor's repository
    for the same release would need a key the base image does not have)."""
    files = [Path("/etc/apt/sources.list")] + sorted(Path("/etc/apt/sources.list.d").glob("*"))
    entries = []
    for path in files:
        if not path.is_file() or path.suffix not in (".list", ".sources"):
            continue
        text = path.read_text()
        if path.suffix == ".sources":
            for stanza in re.split(r"\n\s*\n", text):
                fields = dict(re.findall(r"^([A-Za-z-]+):\s*(.*)$", stanza, re.M))
                if "deb" in fields.get("Types", "").split() and fields.get("Enabled", "yes") != "no":
                    for uri in fields.get("URIs", "").split():
                        entries.append((uri, fields.get("Suites", "").split(),
                                        fields.get("Components", "").split()))
        else:
            for line in text.splitlines():
                words = re.sub(r"\[[^]]*\]", "", line.split("#")[0]).split()
                if len(words) >= 3 and words[0] == "deb":
                    entries.append((words[1], [words[2]], words[3:]))
    ours = {BASE_SUITE, f"{BASE_SUITE}-updates", f"{BASE_SUITE}-security", f"{BASE_SUITE}-backports"}
    debian = {"main", "contrib", "non-free", "non-free-firmware"}
    entries = [(uri, [s for s in suites if s in ours], comps)
               for uri, suites, comps in entries
               if set(suites) & ours and comps and set(comps) <= debian]
    if not any(BASE_SUITE in suites for _, suites, _ in entries):
        raise Failure(f"no Debian {BASE_SUITE} archive in /etc/apt/sources.list*: debootstrap "
                      "needs the machine's mirror")
    return entries


def base_image(podman):
    """Makes the Debian base images, unless the store has them from the same recipe,
    the same apt sources, and not older than BASE_MAX_AGE_DAYS."""
    entries = debian_sources()
    sources = "\n".join(
        f"Types: deb\nURIs: {uri}\nSuites: {' '.join(suites)}\nComponents: {' '.join(comps)}\n"
        f"Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
        for uri, suites, comps in entries)
    key = hashlib.sha256(f"{BASE_RECIPE}\n{sources}".encode()).hexdigest()[:16]

    found = [podman.image(tag) for tag in BASE_TAGS]
    why = None
    if not all(found):
        why = "not in the store"
    elif len({image["Id"] for image in found}) != 1:
        why = "its tags name different images"
    elif (found[0].get("Labels") or {}).get(BASE_LABEL) != key:
        why = "made by another recipe or from other apt sources"
    else:
        created = podman("image", "inspect", "--format", "{{.Created.Unix}}", BASE_TAGS[0],
                         quiet=True)
        if time.time() - int(created.strip()) > BASE_MAX_AGE_DAYS * 86400:
            why = f"older than {BASE_MAX_AGE_DAYS} days"
        elif podman("run", "--rm", "--network", "none", BASE_TAGS[0], "sh", "-c",
                    f"grep -q 'VERSION_CODENAME={BASE_SUITE}' /etc/os-release && apt-get --version",
                    check=False, quiet=True).find("apt ") < 0:
            why = "it does not run"
    if why is None:
        log(f"base image: from the store ({BASE_TAGS[0]}, recipe {key})")
        return "cached"
    log(f"base image: making it ({why})")

    mirror = next(uri for uri, suites, _ in entries if BASE_SUITE in suites)
    rootfs = podman.work / "rootfs"
    run(["debootstrap", "--variant=minbase", BASE_SUITE, rootfs, mirror], timeout=900)
    # As Docker's official Debian images are (the Dockerfile is written for
    # them): no apt caches or lists in a layer, and the slim variant's
    # documentation and locales left out by dpkg.
    (rootfs / "etc/apt/apt.conf.d/docker-clean").write_text(
        'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb '
        '/var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };\n'
        'Dir::Cache::pkgcache "";\nDir::Cache::srcpkgcache "";\n')
    (rootfs / "etc/apt/apt.conf.d/docker-gzip-indexes").write_text('Acquire::GzipIndexes "true";\n')
    (rootfs / "etc/apt/apt.conf.d/docker-no-languages").write_text('Acquire::Languages "none";\n')
    excluded = ["/usr/share/doc/*", "/usr/share/groff/*", "/usr/share/info/*",
                "/usr/share/linda/*", "/usr/share/lintian/overrides/*", "/usr/share/locale/*",
                "/usr/share/man/*"]
    (rootfs / "etc/dpkg/dpkg.cfg.d/docker").write_text(
        "".join(f"path-exclude {p}\n" for p in excluded)
        + "path-include /usr/share/doc/*/copyright\n")
    run(["sh", "-c", "cd \"$1\" && find usr/share/doc -mindepth 1 ! -name copyright ! -type d "
         "-delete && find usr/share/doc -mindepth 1 -type d -empty -delete && "
         "rm -rf usr/share/groff/* usr/share/info/* usr/share/linda/* "
         "usr/share/lintian/overrides/* usr/share/locale/* usr/share/man/* "
         "var/cache/apt/archives/*.deb var/cache/apt/*.bin var/lib/apt/lists/*", "sh", rootfs],
        quiet=True)
    # The machine's Debian mirrors, which the image builds' apt-get can reach.
    (rootfs / "etc/apt/sources.list").unlink(missing_ok=True)
    (rootfs / "etc/apt/sources.list.d/debian.sources").write_text(sources)

    for tag in BASE_TAGS:
        podman("rmi", tag, check=False, quiet=True)
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    imported = subprocess.run(
        ["podman", "import", "--change", f"LABEL {BASE_LABEL}={key}", "--change", 'CMD ["bash"]',
         "-", BASE_TAGS[0]], stdin=tar.stdout, env=podman.env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
    tar.stdout.close()
    if tar.wait() != 0 or imported.returncode != 0:
        raise Failure(f"podman import of the base image failed:\n{imported.stdout[-2000:]}")
    for tag in BASE_TAGS[1:]:
        podman("tag", BASE_TAGS[0], tag)
    shutil.rmtree(rootfs)
    return "made"


# --- images and the stack -----------------------------------------------------------------


class Compose:
    """docker-compose against podman's API, with the test's override and nothing from
    the caller's environment or a .env file that could change the stack."""

    def __init__(self, podman, nofile):
        empty = podman.work / "empty.env"
        empty.write_text("")
        keep = {k: v for k, v in os.environ.items()
                if not k.startswith(("SMART_", "SIM_", "GRAFANA_", "COMPOSE_", "DOCKER_"))}
        self.env = dict(keep, DOCKER_HOST=f"unix://{podman.socket}", SMART_E2E_NOFILE=str(nofile),
                        SMART_E2E_NPROC=str(podman.nproc), REVISION=revision())
        self.base = ["docker-compose", "--project-name", PROJECT, "--env-file", empty,
                     "--file", COMPOSE_FILE, "--file", OVERRIDE]

    def __call__(self, *args, **kwargs):
        return run([*self.base, *args], env=self.env, **kwargs)

    def popen(self, *args):
        log("$ docker-compose " + " ".join(args))
        return subprocess.Popen([str(c) for c in self.base + list(args)], env=self.env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def revision():
    try:
        return subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short=12", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def build_images(podman, config):
    """Builds what the compose file builds, as `docker-compose build` would, and the
    stand-in for prom/prometheus. Returns {image: its inspect data}."""
    built = {}
    services = [(name, s) for name, s in config["services"].items() if s.get("build")]
    if not services:
        raise Failure("docker-compose config shows no service with a build section")
    # The build stage first, tagged so that pruning keeps the toolchain layer
    # as a cache; then each service's target, which reuses it.
    first = services[0][1]["build"]
    targets = [(BUILD_STAGE_IMAGE, dict(first, target="build"))]
    targets += [(s["image"], s["build"]) for _, s in services]
    for image, build in targets:
        context = Path(build["context"])
        args = [a for k, v in (build.get("args") or {}).items() for a in ("--build-arg", f"{k}={v}")]
        if "target" not in build:
            raise Failure(f"{image}: the compose file builds no target of the Dockerfile")
        podman("build", "--format", "docker", "--file", context / build.get("dockerfile", "Dockerfile"),
               "--target", build["target"], "--tag", image, *args, context, timeout=1500)
    podman("build", "--format", "docker", "--file", PROMETHEUS_DOCKERFILE, "--tag", PROMETHEUS_IMAGE,
           PROMETHEUS_DOCKERFILE.parent, timeout=600)
    podman("image", "prune", "--force", quiet=True)  # what earlier runs built and this one replaced
    for _, s in services:
        built[s["image"]] = podman.image(s["image"])
    built[PROMETHEUS_IMAGE] = podman.image(PROMETHEUS_IMAGE)
    return built


def check_images(images, config):
    for service in config["services"].values():
        if not service.get("build"):
            continue
        image = images[service["image"]]
        user = image["Config"].get("User", "")
        if not user or user.split(":")[0] in ("0", "root"):
            raise Failure(f"{service['image']} runs as root (USER {user!r})")
        if not (image.get("Healthcheck") or {}).get("Test"):
            raise Failure(f"{service['image']} has no HEALTHCHECK (built without --format docker?)")
        log(f"image {service['image']}: {image['Size'] / 1e6:.0f} MB, user {user}, "
            "with a health check")


def check_image_health(podman, config):
    """Each built image run alone, with the HEALTHCHECK of its Dockerfile (the compose
    file has checks of its own): it must turn healthy."""
    for name, service in config["services"].items():
        if not service.get("build"):
            continue
        container = f"{PROJECT}_{name}_alone"
        # No network: the check asks 127.0.0.1; the api's upstream only needs to resolve.
        podman("run", "--detach", "--name", container, "--network", "none",
               "--label", f"com.docker.compose.project={PROJECT}",
               "--env", "SMART_UPSTREAM_URL=http://127.0.0.1:9/api/work", service["image"],
               quiet=True)
        started = time.monotonic()
        wait_for(f"the HEALTHCHECK of {service['image']} to pass",
                 lambda: podman.succeeds("healthcheck", "run", container), 30)
        log(f"image {service['image']} alone: its HEALTHCHECK passes "
            f"({time.monotonic() - started:.1f} s after start)")
        podman("rm", "--force", "--time", "5", container, quiet=True)


def ports_free(*ports):
    for port in ports:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("0.0.0.0", port))
            except OSError as e:
                raise Failure(f"port {port} is in use ({e}): the stack publishes the compose "
                              f"file's ports, as for a user; stop what listens there "
                              f"(ss -ltnp 'sport = :{port}')") from e


class HealthChecks(threading.Thread):
    """Runs the health checks of the stack's running containers every
    HEALTH_CHECK_PERIOD seconds. Podman runs them from systemd timers, and
    there is no systemd here: without this, a container stays `starting`."""

    def __init__(self, podman):
        super().__init__(daemon=True)
        self.podman, self.stopped = podman, threading.Event()

    def run(self):
        while not self.stopped.wait(HEALTH_CHECK_PERIOD):
            for name in self.podman.containers("status=running"):
                self.podman.succeeds("healthcheck", "run", name)

    def stop(self):
        self.stopped.set()
        if self.is_alive():
            self.join(timeout=30)


def health_status(podman, container):
    state = podman.inspect(container)["State"]
    return (state.get("Health") or state.get("Healthcheck") or {}).get("Status", "none")


def wait_healthy(podman, service, timeout=120):
    name = podman.container(service)

    def healthy():
        status = health_status(podman, name)
        if status == "unhealthy":
            raise Failure(f"{service} is unhealthy; its last lines:\n"
                          + podman("logs", "--tail", "30", name, check=False, quiet=True))
        return status == "healthy"
    wait_for(f"{service} to be healthy", healthy, timeout)


def metrics_value(text, name):
    match = re.search(rf"^{re.escape(name)}(?:{{[^}}]*}})? (\S+)$", text, re.M)
    return float(match.group(1)) if match else None


def check_api(podman, compose_config, rev):
    # The request of the README, answered by the simulator service.
    env = dict(e.partition("=")[::2] for e in podman.inspect(podman.container("api"))["Config"]["Env"])
    if env.get("SMART_UPSTREAM_URL") != "http://upstream-sim:9000/api/work":
        raise Failure(f"the api calls {env.get('SMART_UPSTREAM_URL')}, not the simulator service "
                      "(http://upstream-sim:9000/api/work)")
    for attempt in range(1, 6):  # the simulator fails about 1 request in 100 on purpose
        status, _, body = http_get(API + "/api/smart?timeout=1500")
        if status == 200:
            break
        log(f"/api/smart answered {status} {body.strip()} (attempt {attempt})")
    if status != 200 or not isinstance(json.loads(body).get("time"), int):
        raise Failure(f"/api/smart?timeout=1500 answered {status} {body!r}, not a success")
    log(f"GET /api/smart?timeout=1500 -> 200 {body.strip()}")
    status, _, body = http_get(API + "/healthz")
    if status != 200 or json.loads(body) != {"status": "ok"}:
        raise Failure(f"/healthz answered {status} {body!r}")
    status, headers, body = http_get(API + "/metrics")
    if status != 200 or "smart_http_requests_total" not in body:
        raise Failure(f"/metrics answered {status} without smart_http_requests_total")
    if rev != "unknown" and f'revision="{rev}"' not in body:
        raise Failure(f"smart_build_info does not name revision {rev}: the image is not this tree's")
    status, headers, body = http_get(API + "/")
    if status != 200 or not headers.get("Content-Type", "").startswith("text/html"):
        raise Failure(f"/ answered {status} {headers.get('Content-Type')}")
    log("GET /healthz, /metrics, / -> 200")

    # The user and the descriptor limit the compose file (with the override) asks for.
    api = podman.container("api")
    status_text = podman("exec", api, "cat", "/proc/1/status", quiet=True)
    uid = re.search(r"^Uid:\s+(\d+)", status_text, re.M).group(1)
    if uid == "0":
        raise Failure("the api runs as root")
    wanted = compose_config["services"]["api"]["ulimits"]["nofile"]
    limits = podman("exec", api, "cat", "/proc/1/limits", quiet=True)
    soft, hard = re.search(r"^Max open files\s+(\d+)\s+(\d+)", limits, re.M).groups()
    if (soft, hard) != (str(wanted["soft"]), str(wanted["hard"])):
        raise Failure(f"the api's descriptor limit is {soft}/{hard}, the compose file asks for "
                      f"{wanted['soft']}/{wanted['hard']}")
    log(f"api: uid {uid}, descriptors {soft} (soft) / {hard} (hard), as asked")


def check_prometheus():
    def query(expr):
        status, _, body = http_get(PROMETHEUS + "/api/v1/query?"
                                   + urllib.parse.urlencode({"query": expr}))
        return json.loads(body)["data"]["result"] if status == 200 else []

    def targets():
        _, _, body = http_get(PROMETHEUS + "/api/v1/targets")
        return [t for t in json.loads(body)["data"]["activeTargets"]
                if t["labels"].get("job") == "smart-api"]

    try:  # six scrape intervals
        wait_for("Prometheus to scrape the api (up == 1)",
                 lambda: query('up{job="smart-api"} == 1'), timeout=30)
    except Failure as e:
        seen = [f"{t['scrapeUrl']}: {t['health']} {t.get('lastError', '')}" for t in targets()]
        raise Failure(f"{e}; the smart-api targets: {seen}") from e
    urls = [t["scrapeUrl"] for t in targets()]
    if urls != ["http://api:8000/metrics"]:
        raise Failure(f"Prometheus scrapes {urls}, not the api by its service name")
    series = wait_for("smart_ series in Prometheus", lambda: query(
        'count({job="smart-api", __name__=~"smart_.+"})'), timeout=30)
    log(f"Prometheus: scrapes http://api:8000/metrics, up == 1, {series[0]['value'][1]} smart_ series")

    wanted = set(re.findall(r"^\s*- alert:\s*(\S+)", (REPO / "prometheus/alerts.yml").read_text(), re.M))

    def rules():
        _, _, body = http_get(PROMETHEUS + "/api/v1/rules")
        loaded = {r["name"]: r.get("health") for g in json.loads(body)["data"]["groups"]
                  for r in g["rules"] if r.get("type") == "alerting"}
        return loaded if set(loaded) == wanted and all(h == "ok" for h in loaded.values()) else None
    loaded = wait_for(f"the {len(wanted)} alert rules of prometheus/alerts.yml to be loaded and "
                      "evaluated", rules, timeout=30)
    log(f"Prometheus: alert rules loaded and evaluated: {', '.join(sorted(loaded))}")


def stop_with_requests_in_flight(podman, compose, count=16):
    """`docker-compose stop` while requests wait on a frozen simulator: once the api
    has stopped accepting, the simulator goes on, and every request must be
    answered before the api exits 0. The simulator's process is stopped with
    SIGSTOP rather than its container paused: docker-compose does not see a
    paused container through podman's API, and would leave it running."""
    sim, api = podman.container("upstream-sim"), podman.container("api")
    answers = [None] * count

    def request(i):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", 8000, timeout=120)
            conn.request("GET", "/api/smart?timeout=30000")
            r = conn.getresponse()
            answers[i] = (r.status, r.read().decode().strip())
        except (OSError, http.client.HTTPException) as e:
            answers[i] = ("no answer", repr(e))

    podman("kill", "--signal", "STOP", sim)
    frozen = True
    try:
        threads = [threading.Thread(target=request, args=(i,)) for i in range(count)]
        for t in threads:
            t.start()
        wait_for(f"{count} requests in flight", lambda: (metrics_value(
            http_get(API + "/metrics")[2], "smart_http_requests_in_flight") or 0) >= count, 30)
        log(f"{count} requests in flight (the simulator is frozen)")
        address = next(iter(podman.inspect(api)["NetworkSettings"]["Networks"].values()))["IPAddress"]
        stop = compose.popen("stop")

        def refused():
            try:
                socket.create_connection((address, 8000), timeout=2).close()
                return False
            except ConnectionRefusedError:
                return True
        wait_for("the api to stop accepting connections after docker-compose stop", refused, 60)
        log("the api has stopped accepting: the simulator goes on")
        podman("kill", "--signal", "CONT", sim)
        frozen = False
        try:
            out, _ = stop.communicate(timeout=150)
        except subprocess.TimeoutExpired:
            stop.kill()
            raise Failure("docker-compose stop did not finish within 150 s")
        print(out, end="", flush=True)
        if stop.returncode != 0:
            raise Failure(f"docker-compose stop exited with {stop.returncode}")
        for t in threads:
            t.join(timeout=60)
    finally:
        if frozen:
            podman("kill", "--signal", "CONT", sim, check=False)
    statuses = {}
    for answer in answers:
        statuses[answer[0] if answer else "none"] = statuses.get(answer[0] if answer else "none", 0) + 1
    unanswered = [a for a in answers if not a or not isinstance(a[0], int)]
    if unanswered:
        raise Failure(f"{len(unanswered)} of {count} requests in flight got no answer: {unanswered[:3]}")
    if statuses.get(200, 0) < count // 2:
        raise Failure(f"most requests in flight should succeed once the simulator goes on: {statuses}")
    state = podman.inspect(api)["State"]
    if state["Status"] != "exited" or state["ExitCode"] != 0:
        raise Failure(f"the api ended {state['Status']} with exit code {state['ExitCode']}, not 0")
    running = podman.containers("status=running")
    if running:
        raise Failure(f"still running after docker-compose stop: {running}")
    log(f"docker-compose stop: every request answered {statuses}, the api exited 0")


def leftovers(podman):
    found = [f"container {c}" for c in podman.containers()]
    found += [f"volume {v}" for v in podman(
        "volume", "ls", "--filter", f"label=com.docker.compose.project={PROJECT}",
        "--format", "{{.Name}}", quiet=True).split()]
    found += [f"network {n}" for n in podman(
        "network", "ls", "--filter", f"label=com.docker.compose.project={PROJECT}",
        "--format", "{{.Name}}", quiet=True).split()]
    return found


def remove_everything(podman):
    """The stack's containers, volumes and network, without the API service."""
    for c in podman.containers("status=paused"):
        podman("unpause", c, check=False, quiet=True)
    for c in podman.containers():
        podman("rm", "--force", "--volumes", "--time", "5", c, check=False, quiet=True)
    for kind in ("volume", "network"):
        names = podman(kind, "ls", "--filter", f"label=com.docker.compose.project={PROJECT}",
                       "--format", "{{.Name}}", check=False, quiet=True).split()
        for name in names:
            podman(kind, "rm", "--force", name, check=False, quiet=True)


# --- the test ------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fresh", action="store_true",
                        help="empty the test's image store first, as on a new machine")
    args = parser.parse_args()
    if os.geteuid() != 0:  # podman runs as root here, as CI does; so does install-deps.sh
        os.execvp("sudo", ["sudo", "--", sys.executable, *sys.argv])
    missing = [tool for tool in ("podman", "runc", "debootstrap", "docker-compose")
               if not shutil.which(tool)]
    if not Path("/usr/lib/cni/dnsname").exists():
        missing.append("the CNI dnsname plugin")
    if missing:
        raise SystemExit(f"missing {', '.join(missing)}: run scripts/install-deps.sh --tools")

    # SIGTERM (a CTest timeout, a CI cancel) unwinds through the cleanup below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))
    cache = Path(os.environ.get("SMART_CONTAINERS_CACHE",
                                Path.home() / ".cache" / "smart-api-containers"))
    work = Path(tempfile.mkdtemp(prefix="smart-e2e-containers-"))
    podman = Podman(cache, work)
    checks = HealthChecks(podman)
    timings = {}
    ok = False
    try:
        if args.fresh:
            log(f"--fresh: emptying {cache}")
            remove_everything(podman)
            podman("system", "reset", "--force", check=False)
            shutil.rmtree(cache / "storage", ignore_errors=True)
        remove_everything(podman)  # left by a run that was killed

        t = time.monotonic()
        podman.start_service()
        base = base_image(podman)
        timings[f"base image ({base})"] = time.monotonic() - t

        nofile_host = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        plain = parse_compose_config(run(
            ["docker-compose", "--env-file", work / "empty.env", "--file", COMPOSE_FILE, "config"],
            env=Compose(podman, 0).env, quiet=True))
        asked = plain["services"]["api"]["ulimits"]["nofile"]
        asked = int(asked["hard"]) if isinstance(asked, dict) else int(asked)
        nofile = min(asked, nofile_host)
        if nofile < asked:
            log(f"the compose file asks for {asked} descriptors; this machine's hard limit is "
                f"{nofile_host}: the test's override asks for {nofile}")
        compose = Compose(podman, nofile)
        config = parse_compose_config(compose("config", quiet=True))

        t = time.monotonic()
        images = build_images(podman, config)
        timings["images"] = time.monotonic() - t
        check_images(images, config)
        check_image_health(podman, config)

        t = time.monotonic()
        ports_free(8000, 9090)
        compose("down", "--volumes", "--timeout", "5", check=False, quiet=True)
        log("grafana: left out, its image cannot be pulled here (the dashboard's queries are "
            "checked by tests/e2e/observability_test.py)")
        checks.start()
        compose("up", "--detach", "--no-build", *SERVICES, timeout=300)
        for service in SERVICES:
            wait_healthy(podman, service)
        log(f"healthy: {', '.join(SERVICES)}")
        timings["stack up"] = time.monotonic() - t

        t = time.monotonic()
        check_api(podman, config, compose.env["REVISION"])
        check_prometheus()
        stop_with_requests_in_flight(podman, compose)
        checks.stop()
        compose("down", "--volumes", "--timeout", "10", timeout=120)
        left = leftovers(podman)
        if left:
            raise Failure(f"left after docker-compose down -v: {', '.join(left)}")
        log("docker-compose down -v: nothing left")
        timings["checks, stop, down"] = time.monotonic() - t
        ok = True
    except Failure as e:
        log(f"FAILED: {e}")
        try:
            for name in podman.containers():
                state = podman.inspect(name)["State"]
                checked = state.get("Health") or state.get("Healthcheck") or {}
                last = (checked.get("Log") or [{}])[-1]
                log(f"--- {name}: {state['Status']}, health {checked.get('Status', 'none')}"
                    + (f" (last check: exit {last.get('ExitCode')}, {last.get('Output', '').strip()!r})"
                       if last else "") + "; its last lines:\n"
                    + podman("logs", "--tail", "20", name, check=False, quiet=True))
        except Exception:  # noqa: BLE001 - the diagnosis must not hide the failure
            pass
    finally:
        # Each step on its own, so that one failing does not leave the next undone.
        for step in (checks.stop, lambda: remove_everything(podman), podman.stop_service):
            try:
                step()
            except Exception as e:  # noqa: BLE001 - report it and go on cleaning up
                log(f"cleaning up: {e}")
                ok = False
        shutil.rmtree(work, ignore_errors=True)
    for what, seconds in timings.items():
        log(f"time: {what} {seconds:.0f} s")
    log(f"time: in all {time.monotonic() - STARTED:.0f} s")
    if not ok:
        sys.exit(1)
    print("container test passed")


if __name__ == "__main__":
    main()
