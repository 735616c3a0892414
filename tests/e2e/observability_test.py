#!/usr/bin/env python3
"""End-to-end check of the observability stack, without Docker.

Starts upstream-sim, smart-api and a real Prometheus server on loopback (the
repository's prometheus.yml and alerts.yml, with the targets pointed at the
local processes), sends mixed traffic (successes, hedges, 400, 404, 502, 504),
then evaluates through Prometheus' HTTP API every PromQL expression of the
Grafana dashboard and every alert rule. Fails if an expression errors, or if a
dashboard query returns no data.

    tests/e2e/observability_test.py --build-dir build/ci
"""

import argparse
import json
import math
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Grafana's variables, replaced by fixed windows that suit a 5 s scrape interval.
GRAFANA_VARIABLES = {"$__rate_interval": "30s", "$__interval": "10s", "$__range": "2m"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=10.0):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def wait_for(what, predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except OSError:
            pass
        time.sleep(0.1)  # polling a process that is starting up
    raise SystemExit(f"timed out waiting for {what}")


def dashboard_expressions(path):
    with open(path) as f:
        dashboard = json.load(f)
    found = []

    def walk(panels):
        for panel in panels:
            walk(panel.get("panels", []))
            for target in panel.get("targets", []):
                if target.get("expr"):
                    found.append((panel.get("title", "?"), target["expr"]))

    walk(dashboard.get("panels", []))
    return found


class Prometheus:
    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}"

    def query(self, expr):
        url = self.base + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        status, body = http_get(url)
        return status, json.loads(body)


def has_data(result):
    data = result.get("data", {})
    kind, values = data.get("resultType"), data.get("result")
    if kind == "scalar":
        return not math.isnan(float(values[1]))
    if kind == "vector":
        return any(not math.isnan(float(v["value"][1])) for v in values)
    if kind == "matrix":
        return any(values)
    return False


def traffic(api, seconds):
    """Mixed requests from a few threads; returns the status counts."""
    targets = [
        ("/api/smart?timeout=1000", 30),  # successes, hedges, some 502
        ("/api/smart?timeout=60", 6),  # 504
        ("/api/smart", 4),  # no timeout: first success (the upstream never hangs here)
        ("/api/first?timeout=800", 6),
        ("/api/all?timeout=800", 6),
        ("/api/within-timeout?timeout=150", 6),
        ("/api/smart?timeout=abc", 3),  # 400
        ("/nowhere", 2),  # 404
        ("/healthz", 2),
    ]
    weighted = [t for t, w in targets for _ in range(w)]
    counts = {}
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def worker(seed):
        rng = random.Random(seed)
        while time.monotonic() < stop:
            try:
                status, _ = http_get(api + rng.choice(weighted))
            except OSError as e:  # a request that got no answer is a failure too
                status = f"no answer ({e})"
            with lock:
                counts[status] = counts.get(status, 0) + 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return counts


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", default=os.path.join(REPO, "build", "ci"))
    parser.add_argument("--traffic-seconds", type=float, default=20)
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="smart-e2e-")
    processes = []

    def start(cmd, log):
        p = subprocess.Popen(cmd, stdout=open(os.path.join(work, log), "w"),
                             stderr=subprocess.STDOUT)
        processes.append(p)
        return p

    failures = []
    try:
        sim_port, api_port, prom_port = free_port(), free_port(), free_port()
        # A faster, flakier upstream than the default, so that every outcome
        # (hedges for delay and failure, 502, 504) shows within seconds.
        start([os.path.join(args.build_dir, "upstream-sim"), "--host", "127.0.0.1",
               "--port", str(sim_port), "--latency", "uniform:20:250",
               "--failures", "500=25,429=10,invalid=5,reset=3", "--seed", "3"], "sim.log")
        start([os.path.join(args.build_dir, "smart-api"), "--host", "127.0.0.1",
               "--port", str(api_port), "--upstream-url",
               f"http://127.0.0.1:{sim_port}/api/work", "--hedge-delay-ms", "100",
               "--log-file", "", "--access-log", "off", "--threads", "2"], "api.log")
        api = f"http://127.0.0.1:{api_port}"
        wait_for("smart-api", lambda: http_get(api + "/healthz")[0] == 200)

        # The repository's Prometheus configuration, pointed at loopback.
        with open(os.path.join(REPO, "prometheus", "prometheus.yml")) as f:
            config = f.read()
        config = config.replace('"api:8000"', f'"127.0.0.1:{api_port}"')
        config = config.replace('"localhost:9090"', f'"127.0.0.1:{prom_port}"')
        if f"127.0.0.1:{api_port}" not in config:
            raise SystemExit("prometheus.yml no longer targets api:8000; update this test")
        with open(os.path.join(work, "prometheus.yml"), "w") as f:
            f.write(config)
        shutil.copy(os.path.join(REPO, "prometheus", "alerts.yml"), work)
        start(["prometheus", f"--config.file={work}/prometheus.yml",
               f"--storage.tsdb.path={work}/data",
               f"--web.listen-address=127.0.0.1:{prom_port}"], "prometheus.log")
        prom = Prometheus(prom_port)
        wait_for("Prometheus", lambda: http_get(prom.base + "/-/ready")[0] == 200, timeout=60)
        wait_for("the first scrape", lambda: has_data(prom.query('up{job="smart-api"} == 1')[1]),
                 timeout=30)

        counts = traffic(api, args.traffic_seconds)
        print("traffic:", dict(sorted(counts.items(), key=str)))
        for status in counts:
            if not isinstance(status, int):
                failures.append(f"{counts[status]} requests got {status}")
        for status in (200, 400, 404, 502, 504):
            if counts.get(status, 0) == 0:
                failures.append(f"the traffic produced no {status}; the checks below need it")

        # Let Prometheus take two more scrapes of the final counts.
        scrapes = 'count_over_time(up{job="smart-api"}[10m])'
        before = float(prom.query(scrapes)[1]["data"]["result"][0]["value"][1])
        wait_for("two more scrapes",
                 lambda: float(prom.query(scrapes)[1]["data"]["result"][0]["value"][1])
                 >= before + 2, timeout=30)

        expressions = dashboard_expressions(
            os.path.join(REPO, "grafana", "dashboards", "smart-api.json"))
        if not expressions:
            failures.append("the dashboard has no queries")
        for title, expr in expressions:
            query = expr
            for variable, value in GRAFANA_VARIABLES.items():
                query = query.replace(variable, value)
            status, result = prom.query(query)
            if status != 200 or result.get("status") != "success":
                failures.append(f"dashboard panel '{title}': {expr}: {result.get('error')}")
            elif not has_data(result):
                failures.append(f"dashboard panel '{title}': no data for {query}")
        print(f"dashboard: {len(expressions)} queries evaluated")

        # Alert rules: every rule is loaded, evaluates without error, and its
        # expression runs through the query API.
        def rules():
            return json.loads(http_get(prom.base + "/api/v1/rules")[1])["data"]["groups"]

        wait_for("a rule evaluation", lambda: all(
            r.get("lastEvaluation", "").startswith("2") and not r["lastEvaluation"].startswith("0001")
            for g in rules() for r in g["rules"]), timeout=30)
        alert_count = 0
        for group in rules():
            for rule in group["rules"]:
                alert_count += 1
                if rule.get("health") != "ok" or rule.get("lastError"):
                    failures.append(f"alert {rule['name']}: health {rule.get('health')} "
                                    f"{rule.get('lastError', '')}")
                status, result = prom.query(rule["query"])
                if status != 200 or result.get("status") != "success":
                    failures.append(f"alert {rule['name']}: {result.get('error')}")
        if alert_count == 0:
            failures.append("no alert rules were loaded")
        print(f"alerts: {alert_count} rules evaluated")
    finally:
        for p in processes:
            p.terminate()
        for p in processes:
            try:
                p.wait(timeout=70)
            except subprocess.TimeoutExpired:
                p.kill()
        if failures:
            for name in ("api.log", "sim.log", "prometheus.log"):
                path = os.path.join(work, name)
                if os.path.exists(path):
                    print(f"--- {name} (tail)")
                    with open(path) as f:
                        print("".join(f.readlines()[-20:]))
        shutil.rmtree(work, ignore_errors=True)

    api_status = processes[1].returncode if len(processes) > 1 else None
    if api_status not in (0, None):
        failures.append(f"smart-api exited with status {api_status} after SIGTERM")
    for failure in failures:
        print("FAIL:", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
