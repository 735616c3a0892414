#!/usr/bin/env python3
"""Opens the documentation page (GET /, Swagger UI) in headless Chromium,
with no network beyond loopback, runs "Try it out" on /api/smart against the
running service, and checks that the response shown is the service's.

    tests/e2e/docs_page_test.py --build-dir build/ci [--screenshot docs/swagger-ui.png]

The browser is driven over the DevTools protocol on a pipe
(--remote-debugging-pipe: JSON messages ended by a NUL byte on fds 3 and 4),
so nothing beyond Python's standard library is needed. The service calls a
real upstream-sim, instant and reliable, so that the answer is a success.
"""

import argparse
import base64
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Every wait in the page is bounded by this (in the page's own timers).
WAIT_MS = 30000


class Program:
    """A program of the project, its output collected line by line."""

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
            self.lines.append(None)  # end of output
            self.changed.notify_all()

    def wait_for(self, pattern, timeout=30):
        """The first match of `pattern` in a line of output, or None."""
        regex = re.compile(pattern)
        found = []

        def match():
            for line in self.lines:
                if line is None:
                    return True
                m = regex.search(line)
                if m:
                    found.append(m)
                    return True
            return False

        with self.changed:
            self.changed.wait_for(match, timeout)
        return found[0] if found else None

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


class DevTools:
    """The DevTools protocol over Chromium's debugging pipe."""

    def __init__(self, browser, profile):
        to_browser_r, self.to_browser = os.pipe()
        self.from_browser, from_browser_w = os.pipe()

        def child_fds():
            # Chromium reads commands on fd 3 and writes answers on fd 4.
            a, b = os.dup(to_browser_r), os.dup(from_browser_w)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--disable-extensions", "--remote-debugging-pipe",
             f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=child_fds,
            pass_fds=(3, 4))
        os.close(to_browser_r)
        os.close(from_browser_w)
        self.next_id = 0
        self.pending = b""
        self.session = None

    def call(self, method, params=None, session=True):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        os.write(self.to_browser, json.dumps(message).encode() + b"\0")
        while True:
            while b"\0" not in self.pending:
                chunk = os.read(self.from_browser, 1 << 16)
                if not chunk:
                    raise RuntimeError("the browser closed its pipe")
                self.pending += chunk
            raw, self.pending = self.pending.split(b"\0", 1)
            answer = json.loads(raw)
            if answer.get("id") == self.next_id:  # events are not needed here
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer["result"]

    def evaluate(self, expression):
        """The value of a JavaScript expression (a promise is awaited)."""
        result = self.call("Runtime.evaluate", {"expression": expression, "awaitPromise": True,
                                                "returnByValue": True})
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise RuntimeError(details.get("exception", {}).get("description") or str(details))
        return result["result"].get("value")

    def close(self):
        try:
            self.call("Browser.close", session=False)
        except (OSError, RuntimeError):
            pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self.to_browser)
        os.close(self.from_browser)


# Helpers defined in the page: wait for an element (by MutationObserver, up
# to a timeout), and type into a React-controlled input.
HELPERS = """
window.__waitFor = (selector, test = () => true) => new Promise((resolve, reject) => {
  const look = () => { const e = document.querySelector(selector); return e && test(e) ? e : null; };
  const found = look();
  if (found) { resolve(true); return; }
  const observer = new MutationObserver(() => {
    if (look()) { observer.disconnect(); clearTimeout(timer); resolve(true); }
  });
  const timer = setTimeout(() => { observer.disconnect(); reject(new Error('no ' + selector)); },
                           %d);
  observer.observe(document.documentElement, {subtree: true, childList: true,
                                              characterData: true, attributes: true});
});
window.__type = (selector, text) => {
  // Swagger UI's inputs take a value after a pause in typing, or at once
  // when they lose the focus.
  const input = document.querySelector(selector);
  input.focus();
  const set = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set;
  set.call(input, text);
  input.dispatchEvent(new Event('input', {bubbles: true}));
  input.blur();
  return input.value;
};
""" % WAIT_MS

OP = "#operations-Work-getSmart"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", default=os.path.join(REPO, "build", "ci"))
    parser.add_argument("--screenshot", help="write a PNG of the operation and its answer here")
    args = parser.parse_args()

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if not browser:
        print("FAIL: chromium is not installed (scripts/install-deps.sh --tools)")
        return 1

    sim = Program([os.path.join(args.build_dir, "upstream-sim"), "--host", "127.0.0.1",
                   "--port", "0", "--latency", "fixed:20", "--failures", "none"])
    api = None
    devtools = None
    profile = tempfile.mkdtemp(prefix="smart-chromium-")
    checks = {}
    try:
        m = sim.wait_for(r"listening on 127\.0\.0\.1:(\d+)")
        if not m:
            print("FAIL: upstream-sim did not start:", sim.lines)
            return 1
        api = Program([os.path.join(args.build_dir, "smart-api"), "--host", "127.0.0.1",
                       "--port", "0", "--upstream-url",
                       f"http://127.0.0.1:{m.group(1)}/api/work", "--log-file", ""])
        m = api.wait_for(r"listening on 127\.0\.0\.1:(\d+)")
        if not m:
            print("FAIL: smart-api did not start:", api.lines)
            return 1
        origin = f"http://127.0.0.1:{m.group(1)}"

        devtools = DevTools(browser, profile)
        target = devtools.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        devtools.session = devtools.call("Target.attachToTarget",
                                         {"targetId": target, "flatten": True})["sessionId"]
        devtools.call("Emulation.setDeviceMetricsOverride",
                      {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False})
        # Content-Security-Policy violations, recorded from the first script on.
        devtools.call("Page.enable")
        devtools.call("Page.addScriptToEvaluateOnNewDocument", {"source": (
            "window.__violations = [];"
            "document.addEventListener('securitypolicyviolation',"
            " e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));")})
        devtools.call("Page.navigate", {"url": origin + "/"})
        devtools.evaluate("new Promise(r => document.readyState === 'complete' ? r() :"
                          " addEventListener('load', () => r()))")
        devtools.evaluate(HELPERS)

        devtools.evaluate(f"__waitFor('{OP} .opblock-summary-path')")
        checks["Swagger UI lists GET /api/smart"] = devtools.evaluate(
            f"document.querySelector('{OP} .opblock-summary-path').textContent") == "/api/smart"
        devtools.evaluate(f"document.querySelector('{OP} .opblock-summary-control').click()")
        devtools.evaluate(f"__waitFor('{OP} .try-out__btn')")
        devtools.evaluate(f"document.querySelector('{OP} .try-out__btn').click()")
        timeout_input = f"{OP} tr[data-param-name='timeout'] input"
        id_input = f"{OP} tr[data-param-name='X-Request-Id'] input"
        devtools.evaluate(f"__waitFor(\"{timeout_input}\")")
        request_id = "docs-" + secrets.token_hex(6)
        devtools.evaluate(f"__type(\"{timeout_input}\", '1500')")
        devtools.evaluate(f"__type(\"{id_input}\", '{request_id}')")
        devtools.evaluate(f"__waitFor('{OP} button.execute')")
        devtools.evaluate(f"document.querySelector('{OP} button.execute').click()")
        answer = f"{OP} .live-responses-table tr.response .response-col_status"
        devtools.evaluate(f"__waitFor('{answer}')")
        shown = devtools.evaluate(f"""(() => {{
            const table = document.querySelector('{OP} .live-responses-table');
            const url = document.querySelector('{OP} .request-url pre');
            return {{status: table.querySelector('tr.response .response-col_status')
                                 .textContent.trim(),
                     text: table.textContent, url: url ? url.textContent : ''}};
        }})()""")
        checks["the request went to this service, with the timeout typed in"] = (
            shown["url"] == f"{origin}/api/smart?timeout=1500")
        checks["the response shown is 200"] = shown["status"] == "200"
        checks["its body is the upstream's success"] = bool(
            re.search(r'\{\s*"time":\s*20\s*\}', shown["text"]))
        checks["its headers carry the request id typed in"] = (
            f"x-request-id: {request_id}" in shown["text"].lower())
        line = api.wait_for(re.escape(request_id) + r' "GET /api/smart" 200 ', timeout=10)
        checks["the service logged that very request"] = line is not None
        resources = devtools.evaluate(
            "performance.getEntriesByType('resource').map(e => e.name)")
        checks["everything loaded came from the service"] = bool(resources) and all(
            r.startswith(origin + "/") for r in resources)
        violations = devtools.evaluate("window.__violations")
        checks[f"no Content-Security-Policy violation {violations}"] = violations == []

        if args.screenshot:
            rect = devtools.evaluate(f"""(() => {{
                const op = document.querySelector('{OP}');
                op.scrollIntoView();
                const r = op.getBoundingClientRect();
                return {{x: r.left + scrollX, y: r.top + scrollY,
                         width: r.width, height: Math.min(r.height, 1600)}};
            }})()""")
            png = devtools.call("Page.captureScreenshot", {
                "format": "png", "captureBeyondViewport": True,
                "clip": {"x": max(0, rect["x"] - 16), "y": max(0, rect["y"] - 16),
                         "width": rect["width"] + 32, "height": rect["height"] + 32,
                         "scale": 1}})["data"]
            with open(args.screenshot, "wb") as f:
                f.write(base64.b64decode(png))
            print("screenshot:", args.screenshot)
    except (RuntimeError, OSError, KeyError, TypeError) as e:
        checks[f"the page could be driven ({e})"] = False
    finally:
        if devtools:
            devtools.close()
        if api:
            api.stop()
        sim.stop()
        shutil.rmtree(profile, ignore_errors=True)

    failed = [name for name, ok in checks.items() if not ok]
    for name, ok in checks.items():
        print("ok:  " if ok else "FAIL:", name)
    if failed:
        return 1
    print("docs page: Swagger UI ran /api/smart against the service in headless Chromium")
    return 0


if __name__ == "__main__":
    sys.exit(main())
