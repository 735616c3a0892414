#!/usr/bin/env python3
"""The ideal: a hedging policy simulated with zero overhead.

Each attempt draws, independently, what upstream-sim would do with a request
(latency and failure kind, with the simulator's default distribution and
mix), and the policy of the specification decides when attempts start and
when the answer is known. The result is what a perfect implementation would
achieve on that upstream: the bar the service is measured against.

    bench/model.py --timeout 1500 [--hedges 2] [--delay 300] [-n 200000]
"""

import argparse
import json
import math
import random

# upstream-sim's defaults (src/sim/behaviour.hpp): percentages of requests.
DEFAULT_MIX = {"500": 5.0, "429": 5.0, "invalid": 3.0, "hang": 1.0, "reset": 2.0}
INF = math.inf


def draw(rng, latency=(100.0, 600.0), mix=None):
    """One attempt: (ok, when it ends in ms after its start; inf = never)."""
    mix = DEFAULT_MIX if mix is None else mix
    ms = round(rng.uniform(*latency))  # the simulator rounds to whole milliseconds
    pick = rng.random() * 100.0
    for kind in ("500", "429", "invalid", "hang", "reset"):
        share = mix.get(kind, 0.0)
        if pick < share:
            if kind == "429":
                return False, 0.0  # rate limiting answers at once
            if kind == "hang":
                return False, INF
            return False, float(ms)
        pick -= share
    return True, float(ms)


def one_request(rng, timeout, hedges, delay, **kw):
    """(status, response time in ms, attempts started) for one request."""
    ok1, t1 = draw(rng, **kw)
    attempts = [(0.0, ok1, t1)]  # (start, ok, duration)
    if not (ok1 and t1 < delay):
        hedge_at = t1 if (not ok1 and t1 < delay) else float(delay)
        if hedges > 0 and hedge_at < timeout:
            for _ in range(hedges):
                ok, t = draw(rng, **kw)
                attempts.append((hedge_at, ok, t))
    successes = [start + t for start, ok, t in attempts if ok]
    first = min(successes) if successes else INF
    if first <= timeout:
        return 200, first, len(attempts)
    ends = [start + t for start, ok, t in attempts]
    if not successes and max(ends) < timeout:
        return 502, max(ends), len(attempts)
    return 504, float(timeout), len(attempts)


def percentile(sorted_values, q):
    if not sorted_values:
        return 0.0
    rank = int(q * (len(sorted_values) - 1) + 0.5)
    return sorted_values[min(rank, len(sorted_values) - 1)]


def simulate(timeout, hedges=2, delay=300, n=200000, seed=1, **kw):
    rng = random.Random(seed)
    times, statuses, started = [], {}, 0
    for _ in range(n):
        status, t, a = one_request(rng, timeout, hedges, delay, **kw)
        times.append(t)
        statuses[status] = statuses.get(status, 0) + 1
        started += a
    times.sort()
    return {
        "requests": n,
        "success_ratio": statuses.get(200, 0) / n,
        "status": statuses,
        "p50_ms": percentile(times, 0.5),
        "p99_ms": percentile(times, 0.99),
        "p999_ms": percentile(times, 0.999),
        "upstream_per_request": started / n,
    }


def spread(timeout, hedges=2, delay=300, n=20000, reps=200, seed=1000, **kw):
    """How far a run of n requests may stray from the ideal by chance alone.

    The central 95 % of success ratio, p50 and p99 over `reps` simulated runs
    of n requests each: a measurement of n requests inside these ranges is
    as close to the model as its sample size can show.
    """
    runs = [simulate(timeout, hedges, delay, n, seed + i, **kw) for i in range(reps)]

    def central(key):
        values = sorted(r[key] for r in runs)
        return [percentile(values, 0.025), percentile(values, 0.975)]

    return {"requests": n, "runs": reps, "success_ratio": central("success_ratio"),
            "p50_ms": central("p50_ms"), "p99_ms": central("p99_ms")}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, required=True)
    parser.add_argument("--hedges", type=int, default=2)
    parser.add_argument("--delay", type=float, default=300)
    parser.add_argument("-n", type=int, default=200000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(json.dumps(simulate(args.timeout, args.hedges, args.delay, args.n, args.seed)))


if __name__ == "__main__":
    main()
