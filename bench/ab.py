#!/usr/bin/env python3
"""Two smart-api binaries side by side: throughput and CPU per request.

    bench/ab.py --a OLD/smart-api --b NEW/smart-api [--pairs 15] [--seconds 6] [--syscalls]
                [--a-env NAME=VALUE]... [--b-env NAME=VALUE]... [-- ARGS...]

The throughput benchmark's method (bench/bench.py, step 1), with a second
smart-api where nginx stands there: both on core 0 with --threads 1, the fast
upstream and wrk on core 1, A and B alternating in many short pairs so that
the drift of the virtual machine's speed hits both alike. Prints the median
ratio of requests/s (B over A), the median CPU per request of each, and every
pair. ARGS go to both binaries. For checking that a change keeps the speed;
the report's figures come from bench/run.sh.
"""

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402


def syscall_counter(pid):
    """perf counting a process's system calls until syscalls_counted()."""
    return subprocess.Popen(["perf", "stat", "-x,", "-e", "raw_syscalls:sys_enter", "-p",
                             str(pid)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)


def syscalls_counted(counter):
    counter.send_signal(signal.SIGINT)
    _, err = counter.communicate()
    for line in err.splitlines():
        fields = line.split(",")
        if len(fields) > 2 and fields[2] == "raw_syscalls:sys_enter":
            return float(fields[0])
    raise SystemExit(f"ab: perf counted nothing: {err}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--a", required=True, help="the smart-api binary to compare against")
    parser.add_argument("--b", required=True, help="the smart-api binary under test")
    parser.add_argument("--pairs", type=int, default=15)
    parser.add_argument("--seconds", type=int, default=6)
    parser.add_argument("--a-env", action="append", default=[], metavar="NAME=VALUE",
                        help="environment for A only (LD_PRELOAD=..., GLIBC_TUNABLES=...)")
    parser.add_argument("--b-env", action="append", default=[], metavar="NAME=VALUE",
                        help="environment for B only")
    parser.add_argument("--syscalls", action="store_true",
                        help="also count system calls per request (perf, raw_syscalls)")
    parser.add_argument("args", nargs="*", help="extra arguments for both binaries")
    opts = parser.parse_args()

    # The upstream simulator comes from B's build folder.
    runner = bench.Bench(os.path.dirname(os.path.abspath(opts.b)), out=None, smoke=False)
    try:
        fast = ["--latency", "fixed:0", "--failures", "none", "--body", '{"time": 1}']
        sim, sim_port = runner.sim(fast, core=1)
        procs = {}
        for name, path, env in (("a", opts.a, opts.a_env), ("b", opts.b, opts.b_env)):
            p, port = runner.api(sim_port, ["--threads", "1"] + opts.args, core=0,
                                 binary=os.path.abspath(path), fresh_metrics=False,
                                 env=dict(e.split("=", 1) for e in env))
            procs[name] = (p, f"http://127.0.0.1:{port}/api/smart")
            bench.wrk(procs[name][1], 1)  # warm: connections, caches
        runs = []
        for i in range(opts.pairs):
            order = ["a", "b"] if i % 2 == 0 else ["b", "a"]
            pair = {}
            for name in order:
                p, url = procs[name]
                before = bench.cpu_seconds(p.pid)
                counter = syscall_counter(p.pid) if opts.syscalls else None
                pair[name] = bench.wrk(url, opts.seconds)
                pair[name]["cpu_us_per_request"] = (
                    (bench.cpu_seconds(p.pid) - before) * 1e6 / pair[name]["requests"])
                if counter:
                    pair[name]["syscalls_per_request"] = (
                        syscalls_counted(counter) / pair[name]["requests"])
            runs.append(pair)
            print(f"pair {i + 1}: a {pair['a']['rps']:.0f}/s {pair['a']['cpu_us_per_request']:.2f} µs, "
                  f"b {pair['b']['rps']:.0f}/s {pair['b']['cpu_us_per_request']:.2f} µs",
                  flush=True)
    finally:
        runner.procs.stop_all()
    summary = {
        "a": os.path.abspath(opts.a),
        "a_env": opts.a_env,
        "b": os.path.abspath(opts.b),
        "b_env": opts.b_env,
        "pairs": opts.pairs,
        "seconds_per_run": opts.seconds,
        "rps_ratio_b_over_a_median": statistics.median(r["b"]["rps"] / r["a"]["rps"] for r in runs),
        "rps_ratios": [r["b"]["rps"] / r["a"]["rps"] for r in runs],
        "a_cpu_us_median": statistics.median(r["a"]["cpu_us_per_request"] for r in runs),
        "b_cpu_us_median": statistics.median(r["b"]["cpu_us_per_request"] for r in runs),
        "cpu_ratio_b_over_a_median": statistics.median(
            r["b"]["cpu_us_per_request"] / r["a"]["cpu_us_per_request"] for r in runs),
        **({"a_syscalls_per_request_median": statistics.median(
                r["a"]["syscalls_per_request"] for r in runs),
            "b_syscalls_per_request_median": statistics.median(
                r["b"]["syscalls_per_request"] for r in runs)} if opts.syscalls else {}),
        "errors": sum(r[k]["non2xx"] + r[k]["socket_errors"] for r in runs for k in r),
    }
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
