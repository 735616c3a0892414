#!/usr/bin/env python3
"""The trace context over HTTP/2: smart-api with --upstream-http 2 against
nghttpd (nghttp2's server, h2c by prior knowledge), which logs every header
field it receives. A client's traceparent must reach the upstream on every
attempt's stream, under the client's trace with a span id per attempt, with
its tracestate and the request id.

    tests/e2e/http2_trace_test.py --build-dir build/ci
"""

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"


class Program:
    """A program whose output is collected line by line."""

    def __init__(self, args):
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)
        self.lines = []
        self.changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            with self.changed:
                self.lines.append(line.rstrip("\n"))
                self.changed.notify_all()
        with self.changed:
            self.lines.append(None)
            self.changed.notify_all()

    def wait_for(self, pattern, timeout=30, count=1):
        """The first `count` matches of `pattern`, once there are that many (else fewer)."""
        regex = re.compile(pattern)
        found = []

        def enough():
            found[:] = [m for m in (regex.search(l) for l in self.lines if l) if m]
            return len(found) >= count or None in self.lines

        with self.changed:
            self.changed.wait_for(enough, timeout)
        return found[:count]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, headers):
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as r:
        return r.status, r.read().decode()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", default=os.path.join(REPO, "build", "ci"))
    args = parser.parse_args()
    nghttpd = shutil.which("nghttpd") or shutil.which("nghttpd", path="/usr/sbin")
    if not nghttpd:
        print("FAIL: nghttpd is not installed (nghttp2-server; scripts/install-deps.sh --tools)")
        return 1

    root = tempfile.mkdtemp(prefix="smart-h2-")
    os.makedirs(os.path.join(root, "api"))
    with open(os.path.join(root, "api", "work"), "w", encoding="utf-8") as f:
        f.write('{"time": 7}')
    port = free_port()
    upstream = Program([nghttpd, "--no-tls", "--verbose", "--address", "127.0.0.1",
                        "--htdocs", root, str(port)])
    api = None
    checks = {}
    try:
        if not upstream.wait_for(r"listen 127\.0\.0\.1:"):
            print("FAIL: nghttpd did not start:", upstream.lines)
            return 1
        api = Program([os.path.join(args.build_dir, "smart-api"), "--host", "127.0.0.1",
                       "--port", "0", "--upstream-url", f"http://127.0.0.1:{port}/api/work",
                       "--upstream-http", "2", "--log-file", ""])
        m = api.wait_for(r"listening on 127\.0\.0\.1:(\d+)")
        if not m:
            print("FAIL: smart-api did not start:", api.lines)
            return 1
        base = f"http://127.0.0.1:{m[0].group(1)}"
        # /api/all: three attempts at once, each on a stream of the one connection.
        status, body = get(base + "/api/all?timeout=5000", {
            "traceparent": f"00-{TRACE}-{SPAN}-01",
            "tracestate": "rojo=00f067aa0ba902b7",
            "X-Request-Id": "h2-trace-1"})
        checks["the request succeeds over HTTP/2"] = status == 200 and body.count('"time": 7') == 3
        sent = upstream.wait_for(r"recv \(stream_id=(\d+)\) traceparent: (\S+)", count=3)
        values = [s.group(2) for s in sent]
        checks["every attempt's stream carries a traceparent"] = len(values) == 3
        parts = [re.fullmatch(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})", v)
                 for v in values]
        checks["under the client's trace, sampled"] = all(
            p and p.group(1) == TRACE and p.group(3) == "01" for p in parts)
        spans = {p.group(2) for p in parts if p}
        checks["with a span id per attempt"] = len(spans) == 3 and SPAN not in spans
        states = upstream.wait_for(r"recv \(stream_id=\d+\) tracestate: (\S+)", count=3)
        checks["and the tracestate"] = [s.group(1) for s in states] == ["rojo=00f067aa0ba902b7"] * 3
        ids = upstream.wait_for(r"recv \(stream_id=\d+\) x-request-id: (\S+)", count=3)
        checks["and the request id"] = [s.group(1) for s in ids] == ["h2-trace-1"] * 3
        line = api.wait_for(r'h2-trace-1 "GET /api/all" 200 .* trace=' + TRACE)
        checks["the access line has the trace id"] = bool(line)
    finally:
        if api:
            api.stop()
        upstream.stop()
        shutil.rmtree(root, ignore_errors=True)

    for name, ok in checks.items():
        print("ok:  " if ok else "FAIL:", name)
    if not all(checks.values()):
        return 1
    print("HTTP/2: the trace context reaches the upstream on every attempt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
