#!/usr/bin/env python3
"""Opens the service's documentation page (GET /) in headless Chromium, with
no network beyond loopback, and checks that the /api/smart operation is shown.

    tests/e2e/docs_page_test.py --build-dir build/ci
"""

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", default=os.path.join(REPO, "build", "ci"))
    args = parser.parse_args()

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if not browser:
        print("FAIL: chromium is not installed (scripts/install-deps.sh --tools)")
        return 1

    port = free_port()
    # The upstream is never called by the page; any address will do.
    api = subprocess.Popen([os.path.join(args.build_dir, "smart-api"), "--host", "127.0.0.1",
                            "--port", str(port), "--upstream-url", "http://127.0.0.1:9/api/work",
                            "--log-file", "", "--access-log", "off"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    profile = tempfile.mkdtemp(prefix="smart-chromium-")
    try:
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(url + "healthz", timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    print("FAIL: the service did not start")
                    return 1
                time.sleep(0.1)  # polling a process that is starting up

        dom = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={profile}", "--virtual-time-budget=10000",
             "--dump-dom", url],
            capture_output=True, text=True, timeout=120).stdout
    finally:
        api.terminate()
        api.wait(timeout=30)
        shutil.rmtree(profile, ignore_errors=True)

    start = dom.find('id="op-get-api-smart"')
    end = dom.find('class="op"', start + 1) if start >= 0 else -1
    section = dom[start:end if end > 0 else len(dom)] if start >= 0 else ""
    checks = {
        "the /api/smart operation is rendered": start >= 0,
        "it shows the method and path": "GET" in section and "/api/smart" in section,
        "it lists the timeout parameter": "timeout" in section,
        "it lists the 504 response": "504" in section,
    }
    failed = [name for name, ok in checks.items() if not ok]
    for name in failed:
        print("FAIL:", name)
    if failed:
        print(dom[:3000])
        return 1
    print("docs page: /api/smart operation rendered by headless Chromium")
    return 0


if __name__ == "__main__":
    sys.exit(main())
