#!/usr/bin/env python3
"""Writes report/README.md and its plots from report/data/results.json.

    bench/report.py [--out report]     # re-renders from the stored results
"""

import argparse
import json
import os
import shutil
import subprocess


def fmt(v, digits=0):
    if v is None:
        return "–"
    return f"{v:,.{digits}f}"


def gnuplot(script, out_dir):
    if not shutil.which("gnuplot"):
        return False
    subprocess.run(["gnuplot"], input=script, text=True, cwd=out_dir, check=True)
    return True


def plots(r, out):
    data = os.path.join(out, "data")
    made = []
    if "throughput" in r:
        t = r["throughput"]
        with open(os.path.join(data, "throughput.dat"), "w") as f:
            f.write(f'"upstream directly (ceiling)" {t["direct_rps_median"]:.0f}\n')
            f.write(f'"nginx (proxy)" {t["nginx_rps_median"]:.0f}\n')
            f.write(f'"smart-api /api/smart" {t["smart_rps_median"]:.0f}\n')
        if gnuplot("""set terminal pngcairo size 800,420 font ',10'
set output 'throughput.png'
set title 'Requests/s, one core (median of runs)'
set style fill solid 0.7
set boxwidth 0.6
set yrange [0:*]
set grid ytics
unset key
plot 'data/throughput.dat' using 0:2:xtic(1) with boxes lc rgb '#3b6ea5', \
     '' using 0:2:(sprintf('%.0f', $2)) with labels offset 0,1
""", out):
            made.append("throughput.png")
    if "hedging" in r:
        rows = r["hedging"]["rows"]
        with open(os.path.join(data, "hedging.dat"), "w") as f:
            f.write("# timeout hedged_p50 hedged_p99 model_p50 model_p99 single_p50 single_p99 "
                    "hedged_ok model_ok single_ok single_model_ok\n")
            for t in sorted({row["timeout_ms"] for row in rows}):
                h = next(x for x in rows if x["timeout_ms"] == t and x["hedges"] > 0)
                s = next(x for x in rows if x["timeout_ms"] == t and x["hedges"] == 0)
                hm, sm = h.get("paired", h["model"]), s.get("paired", s["model"])
                f.write(f'{t} {h["p50_ms"]:.1f} {h["p99_ms"]:.1f} {hm["p50_ms"]:.1f} '
                        f'{hm["p99_ms"]:.1f} {s["p50_ms"]:.1f} {s["p99_ms"]:.1f} '
                        f'{100 * h["success_ratio"]:.2f} {100 * hm["success_ratio"]:.2f} '
                        f'{100 * s["success_ratio"]:.2f} {100 * sm["success_ratio"]:.2f}\n')
        if gnuplot("""set terminal pngcairo size 1000,420 font ',10'
set output 'hedging.png'
set multiplot layout 1,2
set title 'Success ratio (%) by timeout'
set xlabel 'timeout (ms)'
set key bottom right
set grid
plot 'data/hedging.dat' using 1:8 with linespoints lw 2 title 'hedged, measured', \
     '' using 1:9 with lines dt 2 lw 2 title 'hedged, model (same draws)', \
     '' using 1:10 with linespoints lw 2 title 'single request, measured', \
     '' using 1:11 with lines dt 2 lw 2 title 'single request, model'
set title 'Response time (ms) by timeout'
set key top left
plot 'data/hedging.dat' using 1:2 with linespoints lw 2 title 'hedged p50', \
     '' using 1:4 with lines dt 2 title 'model p50', \
     '' using 1:3 with linespoints lw 2 title 'hedged p99', \
     '' using 1:5 with lines dt 2 title 'model p99', \
     '' using 1:6 with linespoints title 'single p50', \
     '' using 1:7 with linespoints title 'single p99'
unset multiplot
""", out):
            made.append("hedging.png")
    if "deadline" in r:
        with open(os.path.join(data, "deadline.dat"), "w") as f:
            for v in r["deadline"]["samples_late_ms"]:
                f.write(f"{v:.3f}\n")
        if gnuplot("""set terminal pngcairo size 800,400 font ',10'
set output 'deadline.png'
set title '504 answers: response time minus timeout (ms), 1,000 in flight'
set style fill solid 0.7
set xlabel 'ms after the deadline'
set ylabel 'requests'
set grid ytics
unset key
bin(x) = 0.05 * floor(x / 0.05)
plot 'data/deadline.dat' using (bin($1)):(1) smooth freq with boxes lc rgb '#3b6ea5'
""", out):
            made.append("deadline.png")
    if "tuning" in r:
        rows = r["tuning"]["rows"]
        ups = [u for u in ("realistic", "slow everywhere", "fast, heavy tail")
               if any(x["upstream"] == u for x in rows)]
        with open(os.path.join(data, "tuning.dat"), "w") as f:
            for up in ups:
                f.write(f'# {up}\n')
                for x in rows:
                    if x["upstream"] == up:
                        f.write(f'{x["upstream_per_request"]:.3f} {x["p99_ms"]:.1f} '
                                f'"{x["policy"]}"\n')
                f.write("\n\n")
        styles = {"realistic": ("7", "realistic upstream", "0.6"),
                  "slow everywhere": ("5", "slow everywhere (400-900 ms)", "-0.6"),
                  "fast, heavy tail": ("9", "fast, heavy tail (Pareto, median 48 ms)", "0")}
        series = []
        for i, up in enumerate(ups):
            pt, title, offset = styles[up]
            series.append(f"'data/tuning.dat' index {i} using 1:2 with points pt {pt} ps 1.3 "
                          f"title '{title}'")
            series.append(f"'' index {i} using 1:2:3 with labels offset 1,{offset} left "
                          "font ',8' notitle")
        if ups and gnuplot("""set terminal pngcairo size 1000,460 font ',9'
set output 'tuning.png'
set title 'p99 latency against upstream calls per request'
set xlabel 'upstream calls per /api/smart request'
set ylabel 'p99 (ms)'
set grid
set key top right
plot """ + ", \\\n     ".join(series) + "\n", out):
            made.append("tuning.png")
    if "soak" in r:
        with open(os.path.join(data, "soak.dat"), "w") as f:
            for x in r["soak"]["samples"]:
                f.write(f'{x["t_s"] / 60:.2f} {x["rss_kib"] / 1024:.1f} {x["fds"]}\n')
        if gnuplot("""set terminal pngcairo size 900,400 font ',10'
set output 'soak.png'
set title 'Soak: resident memory and open descriptors over time'
set xlabel 'minutes'
set ylabel 'MiB'
set y2label 'open descriptors'
set ytics nomirror
set y2tics
set yrange [0:*]
set y2range [0:*]
set grid
plot 'data/soak.dat' using 1:2 with lines lw 2 title 'resident memory (MiB)', \
     '' using 1:3 axes x1y2 with lines lw 2 title 'open descriptors'
""", out):
            made.append("soak.png")
    return made


def write(r, out):
    made = plots(r, out)
    m = r["machine"]
    lines = ["# smart-api benchmark report", ""]
    if r.get("smoke"):
        lines += ["**Smoke run**: durations of seconds, figures not meaningful.", ""]
    when = r.get("measured", {})
    runs = sorted({(v["date"], v["revision"]) for v in when.values()})
    if len(runs) > 1:
        parts = "; ".join(
            ", ".join(k for k in when if (when[k]["date"], when[k]["revision"]) == run)
            + f" on {run[0]} at revision `{run[1]}`" for run in runs)
        lines += [
            f"Measured in {len(runs)} runs of `bench/run.sh` (rerun it to reproduce; "
            f"`bench/README.md` explains each measurement): {parts}.",
            "",
        ]
    else:
        lines += [
            f"Measured {m['date']} at revision `{m['revision']}` by `bench/run.sh` (rerun it to "
            "reproduce; `bench/README.md` explains each measurement).",
            "",
        ]
    lines += [
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, {m['os']}, "
        f"Linux {m['kernel']}; {m['compiler']}; {m['nginx']}; {m['wrk']}. Everything runs "
        "on this one machine over loopback.",
        "",
    ]
    if "throughput" in r:
        t = r["throughput"]
        lines += [
            "## Throughput, side by side",
            "",
            "`wrk -t1 -c64` for "
            f"{t['seconds_per_run']} s per run against the fast upstream (`upstream-sim`, "
            "`{\"time\": 1}` at once). Both proxies run one worker thread pinned to core 0; "
            "wrk and the upstream share core 1. Runs alternate nginx / smart-api, "
            f"{len(t['runs'])} pairs; the ratio is the median of the pairs' ratios.",
            "",
            "| target | requests/s (median) | p50 latency | p99 latency | "
            "proxy CPU per request (median) |",
            "|---|---:|---:|---:|---:|",
            f"| upstream directly (ceiling, on core 0) | {fmt(t['direct_rps_median'])} | "
            f"{fmt(t['direct'][0]['p50_us'])} µs | {fmt(t['direct'][0]['p99_us'])} µs | |",
        ]
        for name, key in (("nginx reverse proxy (keep-alive pool)", "nginx"),
                          ("smart-api `/api/smart`", "smart-api")):
            med = t["nginx_rps_median"] if key == "nginx" else t["smart_rps_median"]
            p50 = sorted(x[key]["p50_us"] for x in t["runs"])[len(t["runs"]) // 2]
            p99 = sorted(x[key]["p99_us"] for x in t["runs"])[len(t["runs"]) // 2]
            cpu = t.get("nginx_cpu_us_median" if key == "nginx" else "smart_cpu_us_median")
            lines.append(f"| {name} | {fmt(med)} | {fmt(p50)} µs | {fmt(p99)} µs | "
                         + (f"{cpu:.2f} µs |" if cpu is not None else "|"))
        lines += [
            "",
            f"**smart-api / nginx = {t['ratio_median']:.2f}** (pairs: "
            + ", ".join(f"{x:.2f}" for x in t["ratios"])
            + f"); non-2xx responses and socket errors: {t['non2xx']}.",
            "",
        ]
        if "cpu_ratio_median" in t:
            lines += [
                "CPU time per request is the proxy process's user + system time over a run "
                "divided by the requests it served. As a ratio, nginx's CPU per request over "
                f"smart-api's (higher: smart-api does the same work with less): "
                f"**{t['cpu_ratio_median']:.2f}** (median of the pairs).",
                "",
            ]
        if "throughput.png" in made:
            lines += ["![throughput](throughput.png)", ""]
    if "latency" in r:
        la = r["latency"]
        lines += [
            "## Added latency at a fixed rate",
            "",
            f"Open loop: `smart-loadgen rate` sends {la['rate']} requests/s "
            "whatever the answers do, and counts each latency from the request's due time. "
            "Proxies on core 0, the upstream and the load generator on core 1 (as for "
            "throughput)"
            + ("; in the last two rows, everything on core 1. " if "smart-api-one-core" in la
               else ". ")
            + (f"{la['rounds']} rounds of {la['seconds']} s per path, the paths interleaved; "
               "each figure is the median over the rounds, and each added figure the median "
               "of the rounds' differences from the upstream directly in the same round."
               if "rounds" in la else f"{la['seconds']} s per path."),
            "",
            "| path | p50 | p99 | p99.9 | added p50 | added p99 | added p99.9 | proxy core use |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
            f"| upstream directly | {fmt(la['direct']['latency_us']['p50'])} µs | "
            f"{fmt(la['direct']['latency_us']['p99'])} µs | "
            f"{fmt(la['direct']['latency_us']['p999'])} µs | | | | |",
        ]
        labels = {"smart-api": "via smart-api",
                  "smart-api-busy-poll": f"via smart-api `--busy-poll-us "
                                         f"{la.get('busy_poll_us', '')}`",
                  "nginx": "via nginx",
                  "smart-api-one-core": "via smart-api, all on one core",
                  "nginx-one-core": "via nginx, all on one core"}
        for name in labels:
            if name not in la:
                continue
            lat, add = la[name]["latency_us"], la[name + "_added_us"]
            core = la[name].get("core_percent")
            lines.append(f"| {labels[name]} | {fmt(lat['p50'])} µs | {fmt(lat['p99'])} µs | "
                         f"{fmt(lat['p999'])} µs | {fmt(add['p50'])} µs | {fmt(add['p99'])} µs | "
                         f"{fmt(add['p999'])} µs | "
                         + (f"{core:.0f} % |" if core is not None else "|"))
        lines += [""]
        wake = la.get("wakeup_us")
        if wake:
            cross, same = wake["cross-core"], wake["same-core"]
            lines += [
                "What the machine itself costs (`smart-wakeup`, same rate, median over the "
                "rounds): a thread asleep in `epoll_wait()` woken through a pipe from core 1.",
                "",
                "| woken on | p50 | p99 | p99.9 |",
                "|---|---:|---:|---:|",
                f"| core 0 (another core) | {fmt(cross['p50'])} µs | {fmt(cross['p99'])} µs | "
                f"{fmt(cross['p999'])} µs |",
                f"| core 1 (the sender's) | {fmt(same['p50'])} µs | {fmt(same['p99'])} µs | "
                f"{fmt(same['p999'])} µs |",
                "",
                "With the proxy on its own core, a proxied request wakes a sleeping core four "
                "times (the proxy for the request, the upstream, the proxy for the answer, the "
                "load generator), where the direct request wakes only threads on the sender's "
                "core. On this virtual machine a wake-up across cores costs "
                f"{fmt(cross['p50'])} µs at the median and {fmt(cross['p99'])} µs at the p99 "
                "(the host has to run the sleeping virtual CPU again). Four of them, less the "
                "direct path's two local ones, come to about "
                f"{fmt(4 * cross['p50'] - 2 * same['p50'])} µs at the median: about what "
                "either proxy adds in that layout, and their tails add up the same way. On one "
                "core the wake-ups stay local, and what remains is each proxy's own work. "
                "With `--busy-poll-us` the service keeps polling after its last event instead "
                "of sleeping: its own two wake-ups go, and so does its idle time (last column: "
                "the share of its core each proxy used).",
                "",
            ]
        elif "smart-api-busy-poll" in la:
            lines += [
                "Most of the added latency is two wake-ups of the proxy's idle core (one for the "
                "request, one for the upstream's answer), tens of microseconds each on this "
                "virtual machine. With `--busy-poll-us` the service keeps polling for that long "
                "after its last event instead of sleeping: the wake-ups go, and so does the idle "
                "core (last column: the share of its core each proxy used).",
                "",
            ]
    if "hedging" in r:
        h = r["hedging"]
        lines += [
            "## Hedging on the realistic upstream",
            "",
            "`upstream-sim` with its defaults (latency uniform over 100–600 ms; 5 % 500, 5 % 429, "
            "3 % invalid JSON, 1 % hang, 2 % reset), "
            f"{h['rate']} requests/s for {h['seconds']} s per row, with a fresh seed per run "
            f"(this run: {h.get('seed', '?')}) and `--plan-by request-id`. Every request carries "
            "an `X-Request-Id`, which smart-api passes on to each of its attempts, and the "
            "simulator draws each attempt's latency and failure from that id. **Model** replays "
            "the same policy on exactly those draws with zero overhead (`bench/model.py`): the "
            "ideal answer to each of the same requests. Measured and model therefore differ by "
            "the implementation's overhead alone, without sampling noise. *Overhead* is measured "
            "minus model per request, over the requests whose status agrees (the last column "
            "counts the others). Latency is over all answers (200, 502 and 504), from each "
            "request's due time.",
            "",
            "| policy | timeout | requests | success (measured / model) | p50 ms (measured / model) "
            "| p99 ms (measured / model) | upstream calls per request (measured / model) "
            "| overhead p50 / p99 / max | status differs |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]

        def policy_name(row):
            return "hedged (1 + 2 at 300 ms)" if row["hedges"] else "single request"

        for row in h["rows"]:
            pa = row.get("paired")
            if not pa:
                continue
            o = pa["overhead_ms"]
            lines.append(
                f"| {policy_name(row)} | {row['timeout_ms']} | {row['requests']:,} | "
                f"{100 * row['success_ratio']:.2f} % / {100 * pa['success_ratio']:.2f} % | "
                f"{row['p50_ms']:.1f} / {pa['p50_ms']:.1f} | "
                f"{row['p99_ms']:.1f} / {pa['p99_ms']:.1f} | "
                f"{row['upstream_per_request']:.2f} / {pa['upstream_per_request']:.2f} | "
                f"{o['p50']:.2f} / {o['p99']:.2f} / {o['max']:.2f} ms | "
                f"{pa['status_disagrees']} |")

        def within(row, key, scale=1.0, digits=1):
            spread = row.get("model_spread")
            if not spread:
                return ""
            lo, hi = spread[key]
            return f" [{scale * lo:.{digits}f}–{scale * hi:.{digits}f}]"

        lines += [
            "",
            "Whether the run's draws are a fair sample of the upstream: the model on this run's "
            "draws against the model on independent draws "
            f"({h['rows'][0]['model']['requests']:,} requests). In brackets, the central 95 % of "
            "the independent model's figure over many simulated runs of as many requests as "
            "were measured: how far a sample of that size strays by chance alone.",
            "",
            "| policy | timeout | success (this run's draws / independent) "
            "| p50 ms (this run's draws / independent) | p99 ms (this run's draws / independent) |",
            "|---|---:|---:|---:|---:|",
        ]
        for row in h["rows"]:
            mo, pa = row["model"], row.get("paired") or row["model"]
            lines.append(
                f"| {policy_name(row)} | {row['timeout_ms']} | "
                f"{100 * pa['success_ratio']:.2f} % / {100 * mo['success_ratio']:.2f} %"
                f"{within(row, 'success_ratio', 100, 2)} | "
                f"{pa['p50_ms']:.1f} / {mo['p50_ms']:.1f}{within(row, 'p50_ms')} | "
                f"{pa['p99_ms']:.1f} / {mo['p99_ms']:.1f}{within(row, 'p99_ms')} |")
        lines += [""]
        if "hedging.png" in made:
            lines += ["![hedging](hedging.png)", ""]
    if "https" in r:
        h = r["https"]
        base = h["rows"][0]["cpu_ms_per_request"] if h["rows"] else 0
        lines += [
            "## The upstream over HTTPS: HTTP/1.1, resumption, HTTP/2",
            "",
            "The realistic hedged load of the previous section (`upstream-sim` defaults, "
            f"`--plan-by request-id`, seed {h['seed']}), {h['rate']} requests/s for "
            f"{h['seconds']} s per row after a warm-up, `timeout={h['timeout_ms']}`, smart-api "
            "with one I/O thread on core 0. The simulator sits behind nginx on core 1, which "
            "terminates TLS (a P-256 certificate, TLS 1.3) on one port with session tickets "
            "(ALPN h2 and http/1.1), on another without any resumption (`ssl_session_tickets "
            "off; ssl_session_cache off`), and serves plain HTTP on a third. CPU is smart-api's "
            "own (user + system, `/proc/PID/stat`) over the measured run, per request. New "
            "connections are `smart_upstream_connections_opened_total` per 1,000 requests. "
            "Model: the specification's policy replayed on the same draws (see above).",
            "",
            "| upstream | CPU per request | vs plain | new connections per 1,000 requests "
            "| TLS handshakes full / resumed | streams reset | success (measured / model) "
            "| p50 ms (measured / model) | p99 ms (measured / model) "
            "| upstream calls per request |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for row in h["rows"]:
            pa = row.get("paired") or {}
            ratio = row["cpu_ms_per_request"] / base if base else 0
            lines.append(
                f"| {row['name']} | {row['cpu_ms_per_request']:.2f} ms | {ratio:.2f}× | "
                f"{row['connections_per_1000']:.1f} | "
                f"{row['handshakes_full']:.0f} / {row['handshakes_resumed']:.0f} | "
                f"{row['streams_reset']:.0f} | "
                f"{100 * row['success_ratio']:.2f} % / {100 * pa.get('success_ratio', 0):.2f} % | "
                f"{row['p50_ms']:.1f} / {pa.get('p50_ms', 0):.1f} | "
                f"{row['p99_ms']:.1f} / {pa.get('p99_ms', 0):.1f} | "
                f"{row['upstream_per_request']:.2f} |")
        t = h["throughput"]
        lines += [
            "",
            "Goals: over HTTP/2 at most 5 new upstream connections per 1,000 requests once "
            "warm, and CPU per hedged request over HTTPS at most 1.3× that of plain HTTP/1.1.",
            "",
            "**Throughput over HTTPS, side by side.** The fast upstream is nginx itself on core 1 "
            "answering `{\"time\": 1}` over TLS (h2 and http/1.1 by ALPN). On core 0, one at a "
            "time in rotating order: nginx as a reverse proxy with `proxy_ssl` (verified, "
            "sessions reused) and a keep-alive pool (its proxy speaks HTTP/1.1 only), smart-api "
            "over HTTP/2, and smart-api over HTTP/1.1. `wrk -t1 -c64` on core 1, "
            f"{len(t['runs'])} rounds of {t['seconds_per_run']} s; medians.",
            "",
            "| proxy | requests/s | vs nginx | CPU per request |",
            "|---|---:|---:|---:|",
        ]
        for name in ("nginx", "smart-api h2", "smart-api http/1.1"):
            vs = {"nginx": 1.0, "smart-api h2": t["h2_ratio_median"],
                  "smart-api http/1.1": t["h1_ratio_median"]}[name]
            lines.append(f"| {name} | {t['rps_median'][name]:,.0f} | {vs:.2f}× | "
                         f"{t['cpu_us_median'][name]:.1f} µs |")
        lines += ["", f"Errors and non-2xx answers over all rounds: {t['non2xx']}.", ""]
    if "deadline" in r:
        d = r["deadline"]
        late, b = d["late_ms"], d["burst"]["late_ms"]
        lines += [
            "## Deadline precision",
            "",
            f"Requests with `timeout={d['timeout_ms']}` against an upstream that never answers, "
            f"arriving at {d['rate']:,} per second, so that {d['in_flight']:,} are in flight at "
            "any moment; response time measured by the client from the request's due time, "
            f"minus the timeout. Status counts: {d['status']}. The last row is the worst case: "
            f"{d['burst']['concurrent']:,} requests sent at once, so that all their deadlines "
            "fall within a few milliseconds (connections opened beforehand; each request timed "
            "from its own send).",
            "",
            "| arrival | earliest | p50 | p99 | latest |",
            "|---|---:|---:|---:|---:|",
            f"| {d['rate']:,}/s, {d['in_flight']:,} in flight | {late['min']:.2f} ms | "
            f"{late['p50']:.2f} ms | {late['p99']:.2f} ms | {late['max']:.2f} ms |",
            f"| {d['burst']['concurrent']:,} at once | {b['min']:.2f} ms | {b['p50']:.2f} ms | "
            f"{b['p99']:.2f} ms | {b['max']:.2f} ms |",
            "",
        ]
        wake = d.get("machine_wakeup_us")
        if wake:
            lines += [
                "For scale, the machine alone (`smart-wakeup`, right after, at the same rate and "
                "for as long, nothing else running): a thread asleep in `epoll_wait()`, woken "
                f"from the other core, ran {fmt(wake['p50'])} µs late at the median, "
                f"{fmt(wake['p99'])} µs at the p99 and {wake['max'] / 1000:.2f} ms at worst: "
                "when the host does not run a virtual CPU for a few milliseconds, whatever was "
                "due on it is late by as much, a deadline's 504 included.",
                "",
            ]
        if "deadline.png" in made:
            lines += ["![deadline](deadline.png)", ""]
    if "memory" in r:
        mi, mc = r["memory"]["in_flight"], r["memory"]["idle_clients"]
        lines += [
            "## Memory and scale",
            "",
            "| situation | resident memory | per request / client |",
            "|---|---:|---:|",
            f"| idle service | {fmt(mi['idle_rss_kib'] / 1024, 1)} MiB | |",
            f"| {fmt(mi['peak_in_flight'])} `/api/smart` requests in flight (hanging upstream, "
            f"timeout 5 s, upstream connections capped at 5,000) | "
            f"{fmt(mi['peak_rss_kib'] / 1024, 1)} MiB | {mi['kib_per_request']:.1f} KiB |",
            f"| {fmt(mc['clients'])} idle keep-alive clients | "
            f"{fmt(mc['rss_with_clients_kib'] / 1024, 1)} MiB | {mc['kib_per_client']:.1f} KiB |",
            "",
            f"With the idle clients connected, a probe still got {fmt(mc['requests_per_s_meanwhile'])} "
            "requests/s.",
            "",
        ]
    if "threads" in r:
        lines += [
            "## Throughput and `--threads`",
            "",
            "`wrk -t1 -c128`, nothing pinned (the two cores are shared by wrk, the upstream and "
            "the service).",
            "",
            "| --threads | requests/s (median) |",
            "|---:|---:|",
        ]
        for row in r["threads"]:
            lines.append(f"| {row['threads']} | {fmt(row['rps_median'])} |")
        lines += [""]
    if "scrape" in r:
        lines += [
            "## What a scrape costs",
            "",
            "`wrk -t1 -c4` on one endpoint at a time, the service with `--threads 1` on core 0; "
            "the service's CPU time (user + system, from `/proc`) over the requests it answered, "
            "median of the runs. `/metrics` renders every series it has; with its cache, one "
            "rendering serves every scrape for `--metrics-cache-ms`.",
            "",
            "| endpoint | service CPU per request |",
            "|---|---:|",
        ]
        for row in r["scrape"]:
            lines.append(f"| {row['endpoint']} | {row['cpu_us_per_request']:.1f} µs |")
        lines += [""]
    if "payload" in r:
        lines += [
            "## The payload validator",
            "",
            "The rule of a successful body (spec §1), hand-written (`src/upstream/payload.cpp`) "
            "and on nlohmann/json's SAX parser (`tests/support/payload_reference.hpp`, the "
            "reference the tests hold it to), side by side in one Google Benchmark run on core 0; "
            f"median of {r['payload']['repetitions']} repetitions, time per body.",
            "",
            "| body | hand-written | nlohmann SAX | SAX / hand-written |",
            "|---|---:|---:|---:|",
        ]
        for row in r["payload"]["rows"]:
            lines.append(f"| {row['body']} | {row['hand_written_ns']:,.0f} ns | "
                         f"{row['nlohmann_sax_ns']:,.0f} ns | {row['sax_over_hand']:.1f}× |")
        lines += [""]
    if "tuning" in r:
        tu = r["tuning"]
        lines += [
            "## Hedge budget and adaptive hedge delay",
            "",
            f"{tu['rate']} `/api/smart` requests/s for {tu['seconds']} s per row "
            f"(`timeout={tu['timeout_ms']}`, after 5 s to let the adaptive delay learn), on the "
            "realistic upstream, on one that is slow everywhere (latency uniform over "
            "400–900 ms) and on one that is usually fast with a heavy tail (Pareto, scale "
            "30 ms, shape 1.5: median 48 ms, p90 139 ms, p99 646 ms), all with the same "
            "failure mix. *Upstream calls* is the extra load: 1.00 means no hedging at all.",
            "",
            "| upstream | policy | success | p50 ms | p99 ms | p99.9 ms | upstream calls per "
            "request | hedge delay at the end | hedges withheld |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for x in tu["rows"]:
            lines.append(
                f"| {x['upstream']} | {x['policy']} | {100 * x['success_ratio']:.1f} % | "
                f"{x['p50_ms']:.0f} | {x['p99_ms']:.0f} | {x['p999_ms']:.0f} | "
                f"{x['upstream_per_request']:.2f} | {x['hedge_delay_ms']:.0f} ms | "
                f"{x['suppressed']:.0f} |")
        lines += [""]
        if "tuning.png" in made:
            lines += ["![tuning](tuning.png)", ""]
    if "soak" in r:
        k = r["soak"]
        lines += [
            "## Soak",
            "",
            f"`bench/soak.sh`: {k['minutes']:g} minutes at {k['rate']:,} `/api/smart` requests/s "
            "(`timeout=1000`) against `upstream-sim` with its failure mix (500, 429, invalid JSON, "
            "hangs, resets), the clients giving up on 5 % of the requests after 50 ms (the "
            f"service counted {fmt(k['client_closed_499'])} as 499). {k['requests']:,} requests; "
            f"status counts (0 = given up by the client): {k['status']}. Resident memory and open "
            "descriptors of the service, sampled every 5 s:",
            "",
            "| | first tenth (median) | last tenth (median) |",
            "|---|---:|---:|",
            f"| resident memory | {k['rss_first_kib'] / 1024:.1f} MiB | "
            f"{k['rss_last_kib'] / 1024:.1f} MiB |",
            f"| open descriptors | {k['fds_first']:.0f} | {k['fds_last']:.0f} |",
            "",
        ]
        if "soak.png" in made:
            lines += ["![soak](soak.png)", ""]
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write("\n".join(lines))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser.add_argument("--out", default=os.path.join(here, "report"))
    args = parser.parse_args()
    with open(os.path.join(args.out, "data", "results.json")) as f:
        write(json.load(f), args.out)


if __name__ == "__main__":
    main()
