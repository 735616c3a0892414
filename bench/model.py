#!/usr/bin/env python3
"""The ideal: a hedging policy simulated with zero overhead.

Each attempt draws, independently, what upstream-sim would do with a request
(latency and failure kind, with the simulator's default distribution and
mix), and the policy of the specification decides when attempts start and
when the answer is known. The result is what a perfect implementation would
achieve on that upstream: the bar the service is measured against.

The same policy can also be replayed on the very draws that upstream-sim made
for a measured run (`upstream-sim --plan-by request-id`: each request's plan
follows from its X-Request-Id): then the model and the measurement share
every latency and failure, and their difference is the implementation's
overhead alone, free of sampling noise.

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


MASK = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def mix64(z):
    """splitmix64's finaliser, as in src/sim/behaviour.cpp."""
    z = (z + GOLDEN) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def unit(bits):
    return (bits >> 11) * 2.0 ** -53  # exact, as in C++


def id_key(request_id, k):
    """The number upstream-sim draws for the k-th request carrying this id."""
    h = 0xCBF29CE484222325  # FNV-1a, 64 bits
    for byte in request_id.encode():
        h = ((h ^ byte) * 0x100000001B3) & MASK
    return (h + k * GOLDEN) & MASK


def sim_draw(seed, n, latency=(100.0, 600.0), mix=None):
    """What upstream-sim does with draw number n: the same arithmetic, bit
    for bit (uniform latency), returned like draw()."""
    mix = DEFAULT_MIX if mix is None else mix
    r1 = mix64(seed ^ mix64(n))
    r2 = mix64(r1)
    exact = latency[0] + unit(r2) * (latency[1] - latency[0])
    whole = math.floor(exact)
    ms = whole + (1 if exact - whole >= 0.5 else 0)  # llround: halves away from zero
    pick = unit(r1) * 100.0
    for kind in ("500", "429", "invalid", "hang", "reset"):
        share = mix.get(kind, 0.0)
        if pick < share:
            if kind == "429":
                return False, 0.0
            if kind == "hang":
                return False, INF
            return False, float(ms)
        pick -= share
    return True, float(ms)


# A fixed point of the simulator's draw, pinned on the C++ side too
# (tests/unit/sim_behaviour_test.cpp): the replay is only as good as this copy.
REPLICA_CHECK = (7, "bench-1", 0, (False, 144.0))


def check_replica():
    seed, request_id, k, expected = REPLICA_CHECK
    got = sim_draw(seed, id_key(request_id, k))
    if got != expected:
        raise SystemExit(f"model: sim_draw gives {got} for {REPLICA_CHECK}, "
                         "out of step with src/sim/behaviour.cpp")


def one_request(rng, timeout, hedges, delay, attempt=None, **kw):
    """(status, response time in ms, attempts started) for one request.

    Attempt i (0-based, in start order) does what attempt(i) says; by default
    an independent draw from rng.
    """
    if attempt is None:
        def attempt(_):
            return draw(rng, **kw)
    ok1, t1 = attempt(0)
    attempts = [(0.0, ok1, t1)]  # (start, ok, duration)
    if not (ok1 and t1 < delay):
        hedge_at = t1 if (not ok1 and t1 < delay) else float(delay)
        if hedges > 0 and hedge_at < timeout:
            for i in range(hedges):
                ok, t = attempt(1 + i)
                attempts.append((hedge_at, ok, t))
    successes = [start + t for start, ok, t in attempts if ok]
    first = min(successes) if successes else INF
    # A success due exactly at the deadline is too late: any real answer
    # takes some time to come back (latencies are whole milliseconds, so such
    # ties are not rare: about one success in 500 at each timeout).
    if first < timeout:
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


def summary(outcomes):
    """Figures over (status, response time in ms, attempts started) tuples."""
    n = max(len(outcomes), 1)
    times = sorted(t for _, t, _ in outcomes)
    statuses = {}
    for status, _, _ in outcomes:
        statuses[status] = statuses.get(status, 0) + 1
    return {
        "requests": len(outcomes),
        "success_ratio": statuses.get(200, 0) / n,
        "status": statuses,
        "p50_ms": percentile(times, 0.5),
        "p99_ms": percentile(times, 0.99),
        "p999_ms": percentile(times, 0.999),
        "upstream_per_request": sum(a for _, _, a in outcomes) / n,
    }


def simulate(timeout, hedges=2, delay=300, n=200000, seed=1, **kw):
    rng = random.Random(seed)
    return summary([one_request(rng, timeout, hedges, delay, **kw) for _ in range(n)])


def replay(requests, seed, timeout, hedges=2, delay=300):
    """The model on the draws upstream-sim made for a measured run.

    requests: (request id, status, latency in ms) as measured, each id sent
    to the sim by every attempt of its request. The hedges start together, so
    which of them the sim saw first makes no difference. Returns the model's
    figures over the same requests, and the per-request difference, measured
    minus model, for the requests whose status agrees.
    """
    outcomes, diffs, disagree = [], [], 0
    for request_id, status, measured_ms in requests:
        outcome = one_request(None, timeout, hedges, delay,
                              attempt=lambda i, rid=request_id: sim_draw(seed, id_key(rid, i)))
        outcomes.append(outcome)
        if outcome[0] == status:
            diffs.append(measured_ms - outcome[1])
        else:
            disagree += 1
    diffs.sort()
    result = summary(outcomes)
    result["status_disagrees"] = disagree
    result["overhead_ms"] = {"p50": percentile(diffs, 0.5), "p99": percentile(diffs, 0.99),
                             "min": diffs[0] if diffs else 0.0,
                             "max": diffs[-1] if diffs else 0.0}
    return result


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
