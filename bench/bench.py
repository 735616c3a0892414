#!/usr/bin/env python3
"""smart-api benchmarks: runs every measurement in one go and writes report/.

    bench/run.sh            # full run (about 25 minutes), writes report/
    bench/run.sh --smoke    # seconds per measurement, writes to a scratch folder

Measurements (see bench/README.md for the method):
  throughput   wrk against the fast upstream directly, nginx and smart-api
  latency      added latency at a fixed rate (open loop)
  hedging      success ratio and latency on the realistic upstream, vs the ideal model
  deadline     how late 504s are, 1,000 requests at once
  memory       RSS with 10,000 requests in flight and with 10,000 idle clients
  threads      throughput with --threads 1 and 2
  scrape       CPU per request of /healthz and /metrics, with and without its cache
  payload      the hand-written payload validator against nlohmann/json's SAX parser
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# --- processes ------------------------------------------------------------------


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def wait_http(url, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        try:
            http_get(url, 2)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(f"bench: {url} did not come up")
            time.sleep(0.05)  # polling a process that is starting


def wait_tcp(port, timeout=10):
    """Waits for a server that prints nothing when it is ready (nginx) to listen."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(f"bench: nothing listens on port {port}")
            time.sleep(0.05)  # polling a process that is starting


class Processes:
    """Starts programs (optionally pinned to a core) and stops them all."""

    def __init__(self, work):
        self.work = work
        self.running = []

    def start(self, name, cmd, core=None, env=None):
        if core is not None:
            cmd = ["taskset", "-c", str(core)] + cmd
        log = open(os.path.join(self.work, name + ".log"), "w")
        p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                             env={**os.environ, **env} if env else None)
        self.running.append(p)
        return p

    def stop(self, p, sig_timeout=70):
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout=sig_timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if p in self.running:
            self.running.remove(p)

    def stop_all(self):
        for p in list(self.running):
            self.stop(p, 10)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid):
    """User + system CPU time a process has used so far, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def nginx_worker(master_pid):
    """The one worker process of an nginx master (worker_processes 1)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with open(f"/proc/{master_pid}/task/{master_pid}/children") as f:
            children = f.read().split()
        if children:
            return int(children[0])
        time.sleep(0.05)  # the master forks its worker after it starts
    raise SystemExit("bench: nginx started no worker")


def metric(text, name, labels=()):
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name) or line.startswith("#"):
            continue
        rest = line[len(name):]
        if rest and rest[0] not in "{ ":
            continue
        if all(f'{k}="{v}"' in rest for k, v in labels):
            total += float(line.rsplit(" ", 1)[1])
    return total


# --- tools ------------------------------------------------------------------------


def wrk(url, seconds, connections=64, core=1):
    cmd = ["taskset", "-c", str(core), "wrk", "-t1", f"-c{connections}", f"-d{seconds}s",
           "--latency", url]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    p50 = re.search(r"50%\s+([0-9.]+)(us|ms|s)", out)
    p99 = re.search(r"99%\s+([0-9.]+)(us|ms|s)", out)

    def us(m):
        if not m:
            return None
        v, unit = float(m.group(1)), m.group(2)
        return v * {"us": 1, "ms": 1000, "s": 1e6}[unit]

    return {
        "rps": rps,
        "requests": requests,
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": sum(int(x) for x in errors.groups()) if errors else 0,
        "p50_us": us(p50),
        "p99_us": us(p99),
    }


def loadgen(build, args, core=None):
    cmd = [os.path.join(build, "bench", "smart-loadgen")] + args
    if core is not None:
        cmd = ["taskset", "-c", str(core)] + cmd
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def wakeup(build, rate, seconds, from_core, to_core):
    """smart-wakeup's percentiles (µs): how late the machine wakes a sleeping thread."""
    cmd = [os.path.join(build, "bench", "smart-wakeup"), "--rate", str(rate), "--duration",
           str(seconds), "--from", str(from_core), "--to", str(to_core)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out)["wakeup_us"]


# --- measurements ----------------------------------------------------------------


class Bench:
    def __init__(self, build, out, smoke):
        self.build = build
        self.out = out
        self.smoke = smoke
        self.work = tempfile.mkdtemp(prefix="smart-bench-")
        self.procs = Processes(self.work)
        self.results = {}

    def binary(self, name):
        return os.path.join(self.build, name)

    def sim(self, args, core=None, threads=1):
        port = free_port()
        p = self.procs.start("sim", [self.binary("upstream-sim"), "--host", "127.0.0.1",
                                     "--port", str(port), "--threads", str(threads)] + args,
                             core)
        wait_http(f"http://127.0.0.1:{port}/healthz")
        return p, port

    def api(self, upstream_port, args=(), core=None, binary=None, fresh_metrics=True, env=None):
        port = free_port()
        cmd = [binary or self.binary("smart-api"), "--host", "127.0.0.1", "--port", str(port),
               "--upstream-url", f"http://127.0.0.1:{upstream_port}/api/work",
               "--log-file", "", "--access-log", "off"]
        if fresh_metrics:
            cmd += ["--metrics-cache-ms", "0"]  # counters are read right before and after runs
        p = self.procs.start("api", cmd + list(args), core, env)
        wait_http(f"http://127.0.0.1:{port}/healthz")
        return p, port

    def nginx(self, upstream_port, core=0, name="nginx"):
        port = free_port()
        conf = os.path.join(self.work, f"{name}.conf")
        with open(conf, "w") as f:
            f.write(f"""worker_processes 1;
worker_cpu_affinity {1 << core:b};
daemon off;
pid {self.work}/{name}.pid;
error_log {self.work}/{name}-error.log warn;
events {{ worker_connections 16384; }}
http {{
  access_log off;
  upstream work {{ server 127.0.0.1:{upstream_port}; keepalive 128; }}
  server {{
    listen 127.0.0.1:{port};
    location /api/smart {{
      proxy_pass http://work/api/work;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }}
  }}
}}
""")
        p = self.procs.start(name, ["nginx", "-c", conf, "-p", self.work])
        wait_tcp(port)
        return p, port

    # 1. throughput, side by side --------------------------------------------------
    def throughput(self):
        # Many short pairs rather than a few long ones: on a shared virtual
        # machine the speed of a core drifts, and the median of many ratios
        # taken side by side is what stays put from one run to the next.
        seconds = 1 if self.smoke else 6
        pairs = 1 if self.smoke else 15
        fast = ["--latency", "fixed:0", "--failures", "none", "--body", '{"time": 1}']
        # The ceiling: the fast upstream alone on the proxies' core.
        sim, sim_port = self.sim(fast, core=0)
        direct = [wrk(f"http://127.0.0.1:{sim_port}/api/work", seconds, core=1)
                  for _ in range(1 if self.smoke else 3)]
        self.procs.stop(sim)
        # The proxies on core 0; the upstream and wrk on core 1.
        sim, sim_port = self.sim(fast, core=1)
        ng, ng_port = self.nginx(sim_port, core=0)
        api, api_port = self.api(sim_port, ["--threads", "1"], core=0)
        ng_url = f"http://127.0.0.1:{ng_port}/api/smart"
        api_url = f"http://127.0.0.1:{api_port}/api/smart"
        wrk(ng_url, 1)  # warm both: connections, caches
        wrk(api_url, 1)
        pids = {"nginx": nginx_worker(ng.pid), "smart-api": api.pid}
        runs = []
        for i in range(pairs):
            # A B A B ...: alternate which goes first, so drift hits both alike.
            order = [("nginx", ng_url), ("smart-api", api_url)]
            if i % 2:
                order.reverse()
            pair = {}
            for name, url in order:
                before = cpu_seconds(pids[name])
                pair[name] = wrk(url, seconds)
                # The proxy's own CPU time per request: what the ratio of
                # requests/s measures too, without the drift of the core's speed.
                pair[name]["cpu_us_per_request"] = (
                    (cpu_seconds(pids[name]) - before) * 1e6 / pair[name]["requests"])
            runs.append(pair)
        self.procs.stop(api)
        self.procs.stop(ng)
        self.procs.stop(sim)
        ratios = [r["smart-api"]["rps"] / r["nginx"]["rps"] for r in runs]
        self.results["throughput"] = {
            "seconds_per_run": seconds,
            "direct": direct,
            "runs": runs,
            "ratio_median": statistics.median(ratios),
            "ratios": ratios,
            "direct_rps_median": statistics.median(d["rps"] for d in direct),
            "nginx_rps_median": statistics.median(r["nginx"]["rps"] for r in runs),
            "smart_rps_median": statistics.median(r["smart-api"]["rps"] for r in runs),
            "nginx_cpu_us_median": statistics.median(r["nginx"]["cpu_us_per_request"]
                                                     for r in runs),
            "smart_cpu_us_median": statistics.median(r["smart-api"]["cpu_us_per_request"]
                                                     for r in runs),
            "cpu_ratio_median": statistics.median(
                r["nginx"]["cpu_us_per_request"] / r["smart-api"]["cpu_us_per_request"]
                for r in runs),
            "non2xx": sum(r[k]["non2xx"] + r[k]["socket_errors"] for r in runs for k in r),
        }

    # 2. added latency at a fixed rate ----------------------------------------------
    def latency(self):
        # Interleaved rounds, as for throughput: a stall of the virtual machine
        # lands in one round of one target, and the median over rounds (of
        # each target's percentile minus the upstream's in the same round)
        # does not move with it.
        rounds = 1 if self.smoke else 10
        seconds = 2 if self.smoke else 3
        rate = 2000
        sim, sim_port = self.sim(["--latency", "fixed:0", "--failures", "none",
                                  "--body", '{"time": 1}'], core=1)
        api, api_port = self.api(sim_port, ["--threads", "1"], core=0)
        # Busy polling keeps the proxy's core awake between packets; its
        # window covers the gap between two requests at this rate.
        spin_us = 1000
        polling, polling_port = self.api(
            sim_port, ["--threads", "1", "--busy-poll-us", str(spin_us)], core=0)
        ng, ng_port = self.nginx(sim_port, core=0)
        # The same proxies sharing core 1 with the upstream and the load
        # generator: no core sleeps while another works, so no wake-up
        # crosses cores.
        api1, api1_port = self.api(sim_port, ["--threads", "1"], core=1)
        ng1, ng1_port = self.nginx(sim_port, core=1, name="nginx-core1")
        common = ["--rate", str(rate), "--duration", str(seconds), "--warmup", "1",
                  "--connections", "256"]
        targets = [("direct", f"http://127.0.0.1:{sim_port}/api/work"),
                   ("smart-api", f"http://127.0.0.1:{api_port}/api/smart"),
                   ("smart-api-busy-poll", f"http://127.0.0.1:{polling_port}/api/smart"),
                   ("nginx", f"http://127.0.0.1:{ng_port}/api/smart"),
                   ("smart-api-one-core", f"http://127.0.0.1:{api1_port}/api/smart"),
                   ("nginx-one-core", f"http://127.0.0.1:{ng1_port}/api/smart")]
        pids = {"smart-api": api.pid, "smart-api-busy-poll": polling.pid,
                "nginx": nginx_worker(ng.pid), "smart-api-one-core": api1.pid,
                "nginx-one-core": nginx_worker(ng1.pid)}
        # What the machine alone costs: a thread asleep in epoll_wait() woken
        # from core 1, on core 0 and on core 1, at the same rate.
        probes = {"cross-core": (1, 0), "same-core": (1, 1)}
        wakeups = {name: [] for name in probes}
        quantiles = ("p50", "p99", "p999")
        per_round = {name: [] for name, _ in targets}
        cpu = {name: 0.0 for name in pids}
        wall = {name: 0.0 for name in pids}
        for i in range(rounds):
            order = targets if i % 2 == 0 else targets[::-1]
            for name, url in order:
                before = cpu_seconds(pids[name]) if name in pids else 0
                started = time.monotonic()
                per_round[name].append(
                    loadgen(self.build, ["rate", "--url", url] + common, core=1))
                if name in pids:
                    cpu[name] += cpu_seconds(pids[name]) - before
                    wall[name] += time.monotonic() - started
            for name, (from_core, to_core) in probes.items():
                wakeups[name].append(wakeup(self.build, rate, seconds, from_core, to_core))
        result = {"rate": rate, "seconds": seconds, "rounds": rounds, "busy_poll_us": spin_us,
                  "per_round": per_round,
                  "wakeup_us": {name: {q: statistics.median(r[q] for r in runs)
                                       for q in quantiles}
                                for name, runs in wakeups.items()}}
        for name, _ in targets:
            result[name] = {"latency_us": {
                q: statistics.median(r["latency_us"][q] for r in per_round[name])
                for q in quantiles}}
            if name in pids:
                # Share of its core the proxy used over its runs (warm-ups included).
                result[name]["core_percent"] = 100 * cpu[name] / wall[name]
        for name in pids:
            result[name + "_added_us"] = {
                q: statistics.median(
                    mine["latency_us"][q] - direct["latency_us"][q]
                    for mine, direct in zip(per_round[name], per_round["direct"]))
                for q in quantiles}
        for proc in (ng1, api1, ng, polling, api, sim):
            self.procs.stop(proc)
        self.results["latency"] = result

    # 3. hedging on the realistic upstream -------------------------------------------
    def hedging(self):
        seconds = 3 if self.smoke else 40
        rate = 100 if self.smoke else 400
        timeouts = [300, 500, 1000, 1500]
        rows = []
        # Each request carries an id, which smart-api passes on to every
        # attempt; the simulator draws each attempt's plan from the id, so the
        # model can replay the very same draws (model.replay). A fresh seed
        # per run: no two runs measure the same sample.
        seed = int.from_bytes(os.urandom(4), "little")
        model.check_replica()
        for hedges in (2, 0):
            sim, sim_port = self.sim(["--seed", str(seed), "--plan-by", "request-id"], threads=1)
            api, api_port = self.api(sim_port, ["--threads", "2", "--hedge-count", str(hedges)])
            for t in timeouts:
                before = http_get(f"http://127.0.0.1:{api_port}/metrics")
                per_request = os.path.join(self.work, f"hedging-{hedges}-{t}.txt")
                m = loadgen(self.build, ["rate", "--url",
                                         f"http://127.0.0.1:{api_port}/api/smart?timeout={t}",
                                         "--rate", str(rate), "--duration", str(seconds),
                                         "--warmup", "0", "--connections", "2048",
                                         "--ids", f"h{hedges}-t{t}",
                                         "--requests-out", per_request])
                after = http_get(f"http://127.0.0.1:{api_port}/metrics")
                attempts = (metric(after, "smart_upstream_attempts_total")
                            - metric(before, "smart_upstream_attempts_total"))
                requests = m["requests"]
                with open(per_request) as f:
                    measured = [(rid, int(status), float(us) / 1000)
                                for rid, status, us in (line.split() for line in f)]
                paired = model.replay(measured, seed, t, hedges=hedges)
                ideal = model.simulate(t, hedges=hedges, n=20000 if self.smoke else 400000)
                rows.append({
                    "hedges": hedges,
                    "timeout_ms": t,
                    "requests": requests,
                    "status": m["status"],
                    "success_ratio": m["status"].get("200", 0) / max(requests, 1),
                    "p50_ms": m["latency_us"]["p50"] / 1000,
                    "p99_ms": m["latency_us"]["p99"] / 1000,
                    "p999_ms": m["latency_us"]["p999"] / 1000,
                    "upstream_per_request": attempts / max(requests, 1),
                    "model": ideal,
                    "paired": paired,
                    # What chance alone allows at this many requests.
                    "model_spread": model.spread(t, hedges=hedges, n=max(requests, 1),
                                                 reps=20 if self.smoke else 200),
                })
            self.procs.stop(api)
            self.procs.stop(sim)
        self.results["hedging"] = {"rate": rate, "seconds": seconds, "seed": seed, "rows": rows}

    # 3b. the upstream over HTTPS: HTTP/1.1, with and without resumption, HTTP/2 --
    def tls_files(self):
        cert = os.path.join(self.work, "upstream-cert.pem")
        key = os.path.join(self.work, "upstream-key.pem")
        if not os.path.exists(cert):
            subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                            "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out",
                            cert, "-days", "2", "-subj", "/CN=localhost", "-addext",
                            "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                           check=True, capture_output=True)
        return cert, key

    def nginx_with(self, name, servers, core):
        """nginx (one worker, pinned) with these server blocks; returns the process."""
        conf = os.path.join(self.work, f"{name}.conf")
        with open(conf, "w") as f:
            f.write(f"""worker_processes 1;
worker_cpu_affinity {1 << core:b};
daemon off;
pid {self.work}/{name}.pid;
error_log {self.work}/{name}-error.log warn;
events {{ worker_connections 16384; }}
http {{
  access_log off;
{servers}
}}
""")
        p = self.procs.start(name, ["nginx", "-c", conf, "-p", self.work])
        return p

    def https(self):
        """The realistic hedged load with the upstream behind TLS: smart-api's CPU
        per request and new upstream connections per 1,000 requests, for plain
        HTTP/1.1, HTTPS HTTP/1.1 without and with session resumption, and HTTPS
        HTTP/2; then throughput against nginx with proxy_ssl to a fast HTTPS
        upstream, side by side."""
        cert, key = self.tls_files()
        seconds = 2 if self.smoke else 20
        rate = 50 if self.smoke else 200
        timeout = 1000
        seed = int.from_bytes(os.urandom(4), "little")
        model.check_replica()
        sim, sim_port = self.sim(["--seed", str(seed), "--plan-by", "request-id"], core=1)
        ports = {k: free_port() for k in ("plain", "tls", "tls_no_resume", "fast")}
        tls = f"ssl_certificate {cert};\n    ssl_certificate_key {key};"
        proxy = ("location / { proxy_pass http://sim; proxy_http_version 1.1; "
                 "proxy_set_header Connection \"\"; }")
        # The upstream's TLS front on core 1, with the simulator and the load.
        front = self.nginx_with("tls-front", f"""
  upstream sim {{ server 127.0.0.1:{sim_port}; keepalive 512; }}
  server {{ listen 127.0.0.1:{ports['plain']}; {proxy} }}
  server {{
    listen 127.0.0.1:{ports['tls']} ssl http2;
    {tls}
    {proxy}
  }}
  server {{
    listen 127.0.0.1:{ports['tls_no_resume']} ssl;
    {tls}
    ssl_session_tickets off;
    ssl_session_cache off;
    {proxy}
  }}
  server {{
    listen 127.0.0.1:{ports['fast']} ssl http2;
    {tls}
    location /api/work {{ default_type application/json; return 200 '{{"time": 1}}'; }}
  }}""", core=1)
        for port in ports.values():
            wait_tcp(port)

        variants = [
            ("HTTP/1.1, plain", "http", ports["plain"], "1.1"),
            ("HTTPS, HTTP/1.1, no resumption", "https", ports["tls_no_resume"], "1.1"),
            ("HTTPS, HTTP/1.1, resumption", "https", ports["tls"], "1.1"),
            ("HTTPS, HTTP/2", "https", ports["tls"], "auto"),
        ]
        rows = []
        for i, (name, scheme, port, version) in enumerate(variants):
            api, api_port = self.api(0, ["--threads", "1", "--upstream-url",
                                         f"{scheme}://localhost:{port}/api/work",
                                         "--upstream-ca-file", cert, "--upstream-http", version],
                                     core=0)
            url = f"http://127.0.0.1:{api_port}/api/smart?timeout={timeout}"
            # Warm: connections, sessions, the name; then the measured run.
            loadgen(self.build, ["rate", "--url", url, "--rate", str(rate), "--duration",
                                 "1" if self.smoke else "3", "--warmup", "0", "--connections",
                                 "1024"], core=1)
            before = http_get(f"http://127.0.0.1:{api_port}/metrics")
            cpu_before = cpu_seconds(api.pid)
            per_request = os.path.join(self.work, f"https-{i}.txt")
            m = loadgen(self.build, ["rate", "--url", url, "--rate", str(rate), "--duration",
                                     str(seconds), "--warmup", "0", "--connections", "1024",
                                     "--ids", f"s{i}", "--requests-out", per_request], core=1)
            cpu = cpu_seconds(api.pid) - cpu_before
            after = http_get(f"http://127.0.0.1:{api_port}/metrics")
            self.procs.stop(api)

            def delta(metric_name, labels=()):
                return metric(after, metric_name, labels) - metric(before, metric_name, labels)

            requests = max(m["requests"], 1)
            with open(per_request) as f:
                measured = [(rid, int(status), float(us) / 1000)
                            for rid, status, us in (line.split() for line in f)]
            rows.append({
                "name": name,
                "upstream_http": version,
                "requests": m["requests"],
                "status": m["status"],
                "cpu_ms_per_request": cpu * 1000 / requests,
                "connections_per_1000": delta("smart_upstream_connections_opened_total")
                * 1000 / requests,
                "h2_connections": delta("smart_upstream_connections_opened_total",
                                        [("protocol", "h2")]),
                "handshakes_full": delta("smart_upstream_tls_handshakes_total",
                                         [("kind", "full")]),
                "handshakes_resumed": delta("smart_upstream_tls_handshakes_total",
                                            [("kind", "resumed")]),
                "streams_reset": delta("smart_upstream_streams_reset_total"),
                "goaways": delta("smart_upstream_goaways_received_total"),
                "upstream_per_request": delta("smart_upstream_attempts_total") / requests,
                "success_ratio": m["status"].get("200", 0) / requests,
                "p50_ms": m["latency_us"]["p50"] / 1000,
                "p99_ms": m["latency_us"]["p99"] / 1000,
                "paired": model.replay(measured, seed, timeout, hedges=2),
            })
        self.procs.stop(sim)

        # Throughput: nginx (proxy_ssl, keep-alive pool, HTTP/1.1: all its
        # proxy speaks) against smart-api over HTTP/2 and over HTTP/1.1, each
        # on core 0, to the fast HTTPS upstream on core 1. Rotating order.
        tseconds = 1 if self.smoke else 5
        pairs = 1 if self.smoke else 9
        fast = f"https://localhost:{ports['fast']}/api/work"
        ng_port = free_port()
        ng = self.nginx_with("nginx-ssl", f"""
  upstream fast {{ server 127.0.0.1:{ports['fast']}; keepalive 128; }}
  server {{
    listen 127.0.0.1:{ng_port};
    location /api/smart {{
      proxy_pass https://fast/api/work;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_ssl_session_reuse on;
      proxy_ssl_verify on;
      proxy_ssl_trusted_certificate {cert};
      proxy_ssl_name localhost;
      proxy_ssl_server_name on;
    }}
  }}""", core=0)
        wait_tcp(ng_port)
        h2, h2_port = self.api(0, ["--threads", "1", "--upstream-url", fast, "--upstream-ca-file",
                                   cert, "--upstream-http", "auto"], core=0)
        h1, h1_port = self.api(0, ["--threads", "1", "--upstream-url", fast, "--upstream-ca-file",
                                   cert, "--upstream-http", "1.1"], core=0)
        targets = [("nginx", f"http://127.0.0.1:{ng_port}/api/smart", nginx_worker(ng.pid)),
                   ("smart-api h2", f"http://127.0.0.1:{h2_port}/api/smart", h2.pid),
                   ("smart-api http/1.1", f"http://127.0.0.1:{h1_port}/api/smart", h1.pid)]
        for _, url, _ in targets:
            wrk(url, 1)  # warm: connections, sessions
        runs = []
        for i in range(pairs):
            order = targets[i % 3:] + targets[:i % 3]
            run = {}
            for name, url, pid in order:
                before = cpu_seconds(pid)
                run[name] = wrk(url, tseconds)
                run[name]["cpu_us_per_request"] = (
                    (cpu_seconds(pid) - before) * 1e6 / max(run[name]["requests"], 1))
            runs.append(run)
        self.procs.stop(h1)
        self.procs.stop(h2)
        self.procs.stop(ng)
        self.procs.stop(front)
        self.results["https"] = {
            "rate": rate, "seconds": seconds, "timeout_ms": timeout, "seed": seed, "rows": rows,
            "throughput": {
                "seconds_per_run": tseconds,
                "runs": runs,
                "h2_ratio_median": statistics.median(
                    r["smart-api h2"]["rps"] / r["nginx"]["rps"] for r in runs),
                "h1_ratio_median": statistics.median(
                    r["smart-api http/1.1"]["rps"] / r["nginx"]["rps"] for r in runs),
                "rps_median": {k: statistics.median(r[k]["rps"] for r in runs)
                               for k, _, _ in targets},
                "cpu_us_median": {k: statistics.median(r[k]["cpu_us_per_request"] for r in runs)
                                  for k, _, _ in targets},
                "non2xx": sum(r[k]["non2xx"] + r[k]["socket_errors"] for r in runs for k in r),
            },
        }

    # 4. deadline precision ----------------------------------------------------------
    def deadline(self):
        timeout = 1000
        rate = 200 if self.smoke else 1000  # x 1 s of timeout: this many in flight
        seconds = 2 if self.smoke else 20
        burst = 100 if self.smoke else 1000
        sim, sim_port = self.sim(["--failures", "hang=100"])
        api, api_port = self.api(sim_port, ["--threads", "2", "--upstream-max-connections",
                                            "8192"])
        url = f"http://127.0.0.1:{api_port}/api/smart?timeout={timeout}"
        steady = loadgen(self.build, ["rate", "--url", url, "--rate", str(rate),
                                      "--duration", str(seconds), "--warmup", "2",
                                      "--connections", str(4 * rate), "--samples"])
        worst = loadgen(self.build, ["burst", "--url", url, "--concurrency", str(burst),
                                     "--connections", str(burst), "--warm", "--samples"])
        self.procs.stop(api)
        self.procs.stop(sim)
        # For scale: how late the machine alone wakes a sleeping thread, at the
        # same rate and for as long, with nothing else running.
        machine = wakeup(self.build, rate, seconds, 1, 0)

        def lateness(m):
            late = sorted(x / 1000 - timeout for x in m["samples_us"])
            return late, {"min": late[0], "p50": model.percentile(late, 0.5),
                          "p99": model.percentile(late, 0.99), "max": late[-1]}

        steady_late, steady_summary = lateness(steady)
        _, worst_summary = lateness(worst)
        self.results["deadline"] = {
            "timeout_ms": timeout,
            "rate": rate,
            "in_flight": rate * timeout // 1000,
            "status": steady["status"],
            "late_ms": steady_summary,
            "samples_late_ms": steady_late,
            "burst": {"concurrent": burst, "status": worst["status"], "late_ms": worst_summary},
            "machine_wakeup_us": machine,
        }

    # 5. memory and scale ---------------------------------------------------------------
    def memory(self):
        n = 500 if self.smoke else 10000
        hold = 2 if self.smoke else 8
        # In flight: a hanging upstream, timeout 5 s.
        sim, sim_port = self.sim(["--failures", "hang=100"])
        api, api_port = self.api(sim_port, ["--threads", "2", "--max-inflight", str(2 * n),
                                            "--upstream-max-connections", "5000"])
        idle_rss = rss_kib(api.pid)
        gen = subprocess.Popen([os.path.join(self.build, "bench", "smart-loadgen"), "burst",
                                "--url", f"http://127.0.0.1:{api_port}/api/smart?timeout=5000",
                                "--concurrency", str(n), "--connections", str(n)],
                               stdout=subprocess.DEVNULL)
        peak_inflight = 0
        peak_rss = idle_rss
        deadline = time.monotonic() + 4.5
        while time.monotonic() < deadline:
            text = http_get(f"http://127.0.0.1:{api_port}/metrics")
            peak_inflight = max(peak_inflight, metric(text, "smart_http_requests_in_flight") - 1)
            peak_rss = max(peak_rss, rss_kib(api.pid))
            time.sleep(0.2)  # sampling a process under load
        gen.wait()
        self.procs.stop(api)
        self.procs.stop(sim)
        inflight = {"requests": n, "peak_in_flight": peak_inflight, "idle_rss_kib": idle_rss,
                    "peak_rss_kib": peak_rss,
                    "kib_per_request": (peak_rss - idle_rss) / max(peak_inflight, 1)}
        # Idle keep-alive clients.
        sim, sim_port = self.sim(["--latency", "fixed:0", "--failures", "none"])
        api, api_port = self.api(sim_port, ["--threads", "2"])
        before = rss_kib(api.pid)
        gen = subprocess.Popen([os.path.join(self.build, "bench", "smart-loadgen"), "hold",
                                "--url", f"http://127.0.0.1:{api_port}/healthz",
                                "--concurrency", str(n), "--duration", str(hold)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(hold / 2 + (1 if self.smoke else 3))  # the connections are open by now
        during = rss_kib(api.pid)
        probe = wrk(f"http://127.0.0.1:{api_port}/api/smart", 1, connections=8)
        gen.wait()
        self.procs.stop(api)
        self.procs.stop(sim)
        idle = {"clients": n, "rss_before_kib": before, "rss_with_clients_kib": during,
                "kib_per_client": (during - before) / n,
                "requests_per_s_meanwhile": probe["rps"]}
        self.results["memory"] = {"in_flight": inflight, "idle_clients": idle}

    # 6. throughput vs --threads -------------------------------------------------------
    def threads(self):
        seconds = 1 if self.smoke else 8
        rows = []
        sim, sim_port = self.sim(["--latency", "fixed:0", "--failures", "none",
                                  "--body", '{"time": 1}'], threads=1)
        for n in (1, 2):
            api, api_port = self.api(sim_port, ["--threads", str(n)])
            url = f"http://127.0.0.1:{api_port}/api/smart"
            wrk(url, 1, core="0,1")
            runs = [wrk(url, seconds, connections=128, core="0,1")["rps"]
                    for _ in range(1 if self.smoke else 3)]
            rows.append({"threads": n, "rps_median": statistics.median(runs), "runs": runs})
            self.procs.stop(api)
        self.procs.stop(sim)
        self.results["threads"] = rows

    # 6b. what a scrape of /metrics costs the service, with and without its cache ------
    def scrape(self):
        seconds = 1 if self.smoke else 5
        sim, sim_port = self.sim(["--latency", "fixed:0", "--failures", "none"])
        rows = []
        for name, path, args in (("/healthz", "/healthz", []),
                                 ("/metrics, rendered each time", "/metrics",
                                  ["--metrics-cache-ms", "0"]),
                                 ("/metrics, the default cache (1 s)", "/metrics",
                                  ["--metrics-cache-ms", "1000"])):
            # A flood of scrapes, as from a client hammering a public /metrics.
            api, api_port = self.api(sim_port, ["--threads", "1"] + args, core=0)
            url = f"http://127.0.0.1:{api_port}{path}"
            wrk(url, 1, connections=4)
            runs = []
            for _ in range(1 if self.smoke else 3):
                cpu0 = cpu_seconds(api.pid)
                res = wrk(url, seconds, connections=4)
                runs.append(1e6 * (cpu_seconds(api.pid) - cpu0) / max(res["requests"], 1))
            self.procs.stop(api)
            rows.append({"endpoint": name, "cpu_us_per_request": statistics.median(runs),
                         "runs": runs})
        self.procs.stop(sim)
        self.results["scrape"] = rows

    # 6c. the hand-written payload validator against nlohmann/json's SAX parser ----
    def payload(self):
        binary = os.path.join(self.build, "bench", "smart-payload-bench")
        if not os.path.exists(binary):
            raise SystemExit("bench: smart-payload-bench is not built (needs Google Benchmark)")
        reps = 3 if self.smoke else 10
        out = subprocess.run(
            ["taskset", "-c", "0", binary, "--benchmark_format=json",
             f"--benchmark_repetitions={reps}", "--benchmark_report_aggregates_only=true",
             f"--benchmark_min_time={0.01 if self.smoke else 0.2}"],
            capture_output=True, text=True, check=True).stdout
        medians = {}
        for b in json.loads(out)["benchmarks"]:
            if b.get("aggregate_name") == "median":
                medians[b["run_name"]] = b["real_time"]  # ns per body
        rows = []
        for name in sorted({k.split("/", 1)[1] for k in medians}):
            hand, sax = medians[f"hand_written/{name}"], medians[f"nlohmann_sax/{name}"]
            rows.append({"body": name, "hand_written_ns": hand, "nlohmann_sax_ns": sax,
                         "sax_over_hand": sax / hand})
        self.results["payload"] = {"repetitions": reps, "rows": rows}

    # 7. hedging refinements: tail latency against extra upstream load ----------------
    def tuning(self):
        seconds = 3 if self.smoke else 25
        rate = 100 if self.smoke else 250
        timeout = 2000
        policies = [
            ("fixed 300 ms", []),
            ("budget 10 %", ["--hedge-budget-percent", "10"]),
            ("budget 30 %", ["--hedge-budget-percent", "30"]),
            ("budget 60 %", ["--hedge-budget-percent", "60"]),
            ("adaptive p50", ["--hedge-percentile", "50"]),
            ("adaptive p75", ["--hedge-percentile", "75"]),
            ("adaptive p90", ["--hedge-percentile", "90"]),
            ("adaptive p90 + budget 30 %", ["--hedge-percentile", "90",
                                            "--hedge-budget-percent", "30"]),
            ("no hedging", ["--hedge-count", "0"]),
        ]
        upstreams = [("realistic", ["--seed", "5"]),
                     ("slow everywhere", ["--seed", "5", "--latency", "uniform:400:900"]),
                     # Usually fast, sometimes very slow: where an adaptive delay earns its keep.
                     ("fast, heavy tail", ["--seed", "5", "--latency", "pareto:30:1.5:5000"])]
        # The budgets alone behave there as on the others; the rest is what differs.
        heavy_tail_policies = {"fixed 300 ms", "adaptive p75", "adaptive p90",
                               "adaptive p90 + budget 30 %", "no hedging"}
        if self.smoke:
            policies, upstreams = [policies[0], policies[7]], upstreams[1:2]
        rows = []
        for up_name, up_args in upstreams:
            for name, args in policies:
                if up_name == "fast, heavy tail" and name not in heavy_tail_policies:
                    continue
                sim, sim_port = self.sim(up_args)
                api, api_port = self.api(sim_port, ["--threads", "2"] + args)
                url = f"http://127.0.0.1:{api_port}/api/smart?timeout={timeout}"
                # Let the adaptive delay learn before measuring.
                loadgen(self.build, ["rate", "--url", url, "--rate", str(rate), "--duration",
                                     "1" if self.smoke else "5", "--warmup", "0",
                                     "--connections", "2048"])
                before = http_get(f"http://127.0.0.1:{api_port}/metrics")
                m = loadgen(self.build, ["rate", "--url", url, "--rate", str(rate),
                                         "--duration", str(seconds), "--warmup", "0",
                                         "--connections", "2048"])
                after = http_get(f"http://127.0.0.1:{api_port}/metrics")
                self.procs.stop(api)
                self.procs.stop(sim)
                attempts = (metric(after, "smart_upstream_attempts_total")
                            - metric(before, "smart_upstream_attempts_total"))
                rows.append({
                    "upstream": up_name, "policy": name, "requests": m["requests"],
                    "success_ratio": m["status"].get("200", 0) / max(m["requests"], 1),
                    "p50_ms": m["latency_us"]["p50"] / 1000,
                    "p99_ms": m["latency_us"]["p99"] / 1000,
                    "p999_ms": m["latency_us"]["p999"] / 1000,
                    "upstream_per_request": attempts / max(m["requests"], 1),
                    "hedge_delay_ms": 1000 * metric(after, "smart_hedge_delay_seconds"),
                    "suppressed": (metric(after, "smart_hedges_suppressed_total")
                                   - metric(before, "smart_hedges_suppressed_total")),
                })
        self.results["tuning"] = {"rate": rate, "seconds": seconds, "timeout_ms": timeout,
                                  "rows": rows}

    # 8. soak (its own command: bench/soak.sh) -------------------------------------
    def soak(self):
        minutes = 0.5 if self.smoke else 10
        rate = 300 if self.smoke else 1500
        sim, sim_port = self.sim(["--seed", "11"])  # the realistic failure mix
        api, api_port = self.api(sim_port, ["--threads", "2"])
        # The clients give up on 5 % of the requests after 50 ms.
        gen = subprocess.Popen(
            [os.path.join(self.build, "bench", "smart-loadgen"), "rate", "--url",
             f"http://127.0.0.1:{api_port}/api/smart?timeout=1000", "--rate", str(rate),
             "--duration", str(minutes * 60), "--warmup", "0", "--connections", "4096",
             "--abandon", "0.05", "--abandon-after", "50"],
            stdout=subprocess.PIPE, text=True)
        samples = []
        start = time.monotonic()
        while gen.poll() is None:
            fds = len(os.listdir(f"/proc/{api.pid}/fd"))
            samples.append({"t_s": round(time.monotonic() - start, 1),
                            "rss_kib": rss_kib(api.pid), "fds": fds})
            time.sleep(1 if self.smoke else 5)  # sampling, not waiting for readiness
        load = json.loads(gen.stdout.read())
        text = http_get(f"http://127.0.0.1:{api_port}/metrics")
        self.procs.stop(api)
        self.procs.stop(sim)
        first = samples[: max(1, len(samples) // 10)]
        last = samples[-max(1, len(samples) // 10):]
        self.results["soak"] = {
            "minutes": minutes,
            "rate": rate,
            "requests": load["requests"],
            "status": load["status"],
            "client_closed_499": metric(text, "smart_http_requests_total", [("code", "499")]),
            "samples": samples,
            "rss_first_kib": statistics.median(x["rss_kib"] for x in first),
            "rss_last_kib": statistics.median(x["rss_kib"] for x in last),
            "fds_first": statistics.median(x["fds"] for x in first),
            "fds_last": statistics.median(x["fds"] for x in last),
            "api_exit_status": api.returncode,
        }

    def run(self, only):
        steps = ["throughput", "latency", "hedging", "https", "deadline", "memory", "threads", "scrape",
                 "payload", "tuning", "soak"]
        try:
            for step in steps:
                if (only and step not in only) or (not only and step == "soak"
                                                   and not self.smoke):
                    continue  # the soak runs on its own (bench/soak.sh); smoke runs it briefly
                t0 = time.monotonic()
                print(f"bench: {step} ...", flush=True)
                getattr(self, step)()
                print(f"bench: {step} done in {time.monotonic() - t0:.0f} s", flush=True)
        finally:
            self.procs.stop_all()
            shutil.rmtree(self.work, ignore_errors=True)


# --- the machine ---------------------------------------------------------------------


def machine():
    def first(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True).stdout.strip() or \
                subprocess.run(cmd, capture_output=True, text=True).stderr.strip()
        except OSError:
            return "not found"

    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "os": first(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"]),
        "compiler": first(["c++", "--version"]).splitlines()[0],
        "nginx": first(["nginx", "-v"]),
        "wrk": first(["wrk", "--version"]).splitlines()[0] if first(["wrk", "--version"]) else "",
        "revision": revision(),
    }


def revision():
    """The commit measured; "-dirty" when the working tree differed from it
    outside report/ (which holds this program's own output)."""
    def git(*args):
        try:
            out = subprocess.run(["git", "-C", REPO] + list(args), capture_output=True,
                                 text=True)
        except OSError:
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "--short=12", "HEAD")
    if not commit:
        return "unknown"
    changed = git("status", "--porcelain", "--", ".", ":(exclude)report")
    return commit + ("-dirty" if changed else "")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", default=os.path.join(REPO, "build", "release"))
    parser.add_argument("--out", default=os.path.join(REPO, "report"))
    parser.add_argument("--smoke", action="store_true", help="seconds, not minutes")
    parser.add_argument("--only", nargs="*", help="run only these measurements")
    args = parser.parse_args()

    bench = Bench(args.build_dir, args.out, args.smoke)
    bench.run(args.only)
    results = {}
    previous = os.path.join(args.out, "data", "results.json")
    if args.only and os.path.exists(previous):
        with open(previous) as f:
            results = json.load(f)  # keep the measurements not rerun
    stamp = machine()
    # When and at which revision each measurement was taken: --only mixes runs.
    measured = dict(results.get("measured", {}))
    for step in bench.results:
        measured[step] = {"date": stamp["date"], "revision": stamp["revision"]}
    results.update({"machine": stamp, "smoke": args.smoke, "measured": measured,
                    **bench.results})
    os.makedirs(os.path.join(args.out, "data"), exist_ok=True)
    with open(os.path.join(args.out, "data", "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    import report  # noqa: E402  (bench/report.py)
    report.write(results, args.out)
    print(f"bench: report written to {args.out}")


if __name__ == "__main__":
    main()
