#!/usr/bin/env python3
"""Turns the load generator's JSON results of bench/run into docs/BENCHMARKS.md.

  report.py all RESULTS_DIR OUT   rewrite OUT from a full run (keeps the max section of OUT)
  report.py max RESULTS_DIR OUT   replace only the max section of OUT

RESULTS_DIR holds machine.env and SCENARIO.SERVER.RUN.json files (one JSON line each); for
max, max.env, max.client.N.json and max.probe.json.
"""

import json
import statistics
import sys
from pathlib import Path

SERVERS = [("ssehub", "ssehub"), ("nchan", "nginx + Nchan"), ("pushpin", "Pushpin")]
# ssehub's history configurations, measured in the unicast scenarios only.
VARIANTS = [
    ("ssehub", "ssehub, defaults (segment log: survives kill -9)"),
    ("ssehub-full", "ssehub `--history-sync full` (survives power loss)"),
    ("ssehub-sqlite", "ssehub `--history-store sqlite --history-sync full`"),
    ("ssehub-memory", "ssehub `--history-store memory` (nothing durable)"),
    ("ssehub-pinned", "ssehub, defaults and `--cpu-affinity auto` (I/O threads kept on their CPUs)"),
]
# bench/floor: the least work a server does for the unicast load (a journal write before each
# answer, nothing else a user is owed), measured beside the others as this machine's yardstick.
FLOOR = ("floor", "the floor: `bench/floor`, the least a server does for this load, with a journal write (not a product)")
# Issue 15's goal, against Nchan in the same run: deliveries/s at least this ratio with every
# publisher count, and latency p99 no worse; --history-sync full at least FULL_GOAL at 32.
DEFAULT_GOAL = 1.5
FULL_GOAL = 1.0
MAX_BEGIN = "<!-- bench-max:begin -->"
MAX_END = "<!-- bench-max:end -->"
# Everything from this line to the end is written by hand and kept by every run.
HAND_MARK = "<!-- Hand-written below; a new `bench/run` rewrites the tables above, not this section. -->"

# Per scenario: (label, JSON field, scale, decimals, which way is better; None: counts that
# should be 0, shown without a ratio).
METRICS = {
    "idle": [
        ("streams open", "open", 1, 0, "more"),
        ("connect rate (streams/s)", "connect_rate", 1, 0, "more"),
        ("connect time p99 (ms)", "connect_p99_ms", 1, 1, "less"),
        ("server memory per stream (KiB)", "rss_per_stream_b", 1 / 1024, 2, "less"),
        ("server memory, all streams open (MiB)", "rss_open_kb", 1 / 1024, 0, "less"),
        ("errors", "errors", 1, 0, None),
    ],
    "unicast": [
        ("deliveries/s", "deliveries_per_s", 1, 0, "more"),
        ("messages accepted/s", "publish_rate", 1, 0, "more"),
        ("latency p50 (ms)", "lat_p50_ms", 1, 2, "less"),
        ("latency p99 (ms)", "lat_p99_ms", 1, 2, "less"),
        ("latency p99.9 (ms)", "lat_p999_ms", 1, 2, "less"),
        ("publish round trip p50 (ms)", "publish_rtt_p50_ms", 1, 2, "less"),
        ("server CPU per delivery, user (µs)", "server_cpu_user_us", 1, 1, "less"),
        ("server CPU per delivery, kernel (µs)", "server_cpu_system_us", 1, 1, "less"),
        ("client CPU per delivery (µs)", "client_cpu_us", 1, 1, "less"),
        ("lost deliveries", "lost", 1, 0, None),
        ("errors", "errors", 1, 0, None),
    ],
    "fanout": [
        ("deliveries/s", "deliveries_per_s", 1, 0, "more"),
        ("messages accepted/s (target 100)", "publish_rate", 1, 1, "more"),
        ("latency p50 (ms)", "lat_p50_ms", 1, 1, "less"),
        ("latency p99 (ms)", "lat_p99_ms", 1, 1, "less"),
        ("latency p99.9 (ms)", "lat_p999_ms", 1, 1, "less"),
        ("publish round trip p50 (ms)", "publish_rtt_p50_ms", 1, 1, "less"),
        ("server CPU per delivery, user (µs)", "server_cpu_user_us", 1, 1, "less"),
        ("server CPU per delivery, kernel (µs)", "server_cpu_system_us", 1, 1, "less"),
        ("client CPU per delivery (µs)", "client_cpu_us", 1, 1, "less"),
        ("lost deliveries", "lost", 1, 0, None),
        ("errors", "errors", 1, 0, None),
    ],
}


def read_env(path):
    values = {}
    if path.exists():
        for line in path.read_text().splitlines():
            key, _, value = line.partition("=")
            if key:
                values[key] = value
    return values


def read_json(path):
    lines = [l for l in path.read_text().splitlines() if l.strip().startswith("{")]
    return json.loads(lines[-1]) if lines else {"error": "no result"}


def load_results(results_dir):
    """{scenario: {server: [result, ...]}}, runs in order."""
    out = {}
    for path in sorted(results_dir.glob("*.*.*.json")):
        scenario, server, run = path.name.split(".")[:3]
        if not run.isdigit():
            continue
        result = read_json(path)
        result["run"] = int(run)  # the round: every server ran once in round n before round n + 1
        out.setdefault(scenario, {}).setdefault(server, []).append(result)
    return {s: {srv: sorted(runs, key=lambda r: r["run"]) for srv, runs in by.items()} for s, by in out.items()}


def fmt(value, decimals):
    if value is None:
        return "–"
    if decimals == 0:
        return f"{value:,.0f}"
    return f"{value:,.{decimals}f}"


def figures(runs, field, scale):
    values = [r[field] * scale for r in runs if isinstance(r.get(field), (int, float)) and r[field] >= 0]
    if not values:
        return None, None, None
    return statistics.median(values), min(values), max(values)


def cell(runs, field, scale, decimals):
    median, low, high = figures(runs, field, scale)
    if median is None:
        return "–"
    text = fmt(median, decimals)
    if len(runs) > 1 and fmt(low, decimals) != fmt(high, decimals):
        text += f" ({fmt(low, decimals)}–{fmt(high, decimals)})"
    return text


def ratio(ours, theirs, field, scale):
    a, _, _ = figures(ours, field, scale)
    b, _, _ = figures(theirs, field, scale)
    if a is None or b is None or b == 0:
        return "–"
    return f"{a / b:.2f}×"


def base_of(scenario):
    """unicast-p32 -> unicast, unicast-h2-p32 -> unicast."""
    return scenario.split("-")[0]


def is_h2(scenario):
    """unicast-h2-p4, fanout-h2: the same scenario over HTTP/2 (h2c), ssehub only."""
    return "-h2" in scenario


def http1_twin(scenario):
    """unicast-h2-p4 -> unicast-p4."""
    return scenario.replace("-h2", "")


def h2_of(scenario):
    """unicast-p4 -> unicast-h2-p4, fanout -> fanout-h2."""
    base, _, rest = scenario.partition("-")
    return f"{base}-h2-{rest}" if rest else f"{base}-h2"


def publishers_of(scenario):
    return int(scenario.split("-p")[1]) if "-p" in scenario else None


def scenario_table(scenario, by_server, ours_key="ssehub", ours_name="ssehub"):
    """The scenario's figures, ours (ssehub, or one of its variants) first, then each peer with
    the ratio ours / peer."""
    present = [(key, name) for key, name in SERVERS if key in by_server and key != "ssehub"]
    if ours_key in by_server:
        present.insert(0, (ours_key, ours_name))
    header = ["", *(name for _, name in present[:1])]
    for key, name in present[1:]:
        header += [name, f"ssehub / {name.split(' + ')[-1]}"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    ours = by_server.get(ours_key, [])
    for label, field, scale, decimals, better in METRICS[base_of(scenario)]:
        arrow = {"more": " ↑", "less": " ↓", None: ""}[better]
        row = [f"{label}{arrow}"]
        for i, (key, _) in enumerate(present):
            row.append(cell(by_server[key], field, scale, decimals))
            if i > 0:
                row.append(ratio(ours, by_server[key], field, scale) if better else "")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def h2_table(scenario, results):
    """ssehub over HTTP/2 beside its HTTP/1.1 figures of the same run and Nchan's (over HTTP/2
    if it ran so, and over HTTP/1.1), with the ratio of ssehub's HTTP/2 figure to each."""
    h2 = results[scenario].get("ssehub", [])
    twin = results.get(http1_twin(scenario), {})
    columns = [
        (twin.get("ssehub"), "ssehub over HTTP/1.1", "HTTP/2 / HTTP/1.1"),
        (results[scenario].get("nchan"), "nginx + Nchan over HTTP/2", "ssehub / Nchan, both HTTP/2"),
        (twin.get("nchan"), "nginx + Nchan over HTTP/1.1", "ssehub HTTP/2 / Nchan HTTP/1.1"),
    ]
    columns = [c for c in columns if c[0]]
    header = ["", "ssehub over HTTP/2"]
    for _, name, ratio_name in columns:
        header += [name, ratio_name]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, field, scale, decimals, better in METRICS[base_of(scenario)]:
        arrow = {"more": " ↑", "less": " ↓", None: ""}[better]
        row = [f"{label}{arrow}", cell(h2, field, scale, decimals)]
        for peer, _, _ in columns:
            row += [cell(peer, field, scale, decimals), ratio(h2, peer, field, scale) if better else ""]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def scenario_intro(scenario, env):
    if is_h2(scenario):
        return (f"The scenario above over HTTP/2: ssehub started with `--http2`, the load generator "
                f"speaking h2c with prior knowledge, {env.get('h2_streams_per_connection', '100')} "
                "streams multiplexed on each connection; each publisher connection keeps one POST "
                "in flight, as over HTTP/1.1. The other columns are from the same run.")
    if scenario == "idle":
        return (f"{env.get('idle_streams')} streams of distinct users, opened {env.get('concurrency')} at a time; "
                "nothing is published. Connect rate counts a stream once its response headers arrived; "
                "memory is the server's VmRSS with all streams open minus before, per stream.")
    if base_of(scenario) == "unicast":
        return (f"{env.get('unicast_streams')} streams of distinct users; {publishers_of(scenario)} keep-alive "
                f"connections POST to random users as fast as answers come, for {env.get('unicast_seconds')} s. "
                "Latency is from just before the POST is written to the event being parsed by the client.")
    return (f"One user with {env.get('fanout_streams')} streams; a message every 10 ms for "
            f"{env.get('fanout_seconds')} s ({env.get('fanout_publishers')} publisher connections so a slow "
            "answer does not hold the next message back), i.e. 10^6 deliveries/s offered.")


TITLES = {"idle": "Idle streams", "unicast": "Unicast", "fanout": "Fan-out"}


def title_of(scenario):
    publishers = publishers_of(scenario)
    title = TITLES[base_of(scenario)]
    if publishers:
        title = f"{title}, {publishers} publisher connections"
    return f"{title}, over HTTP/2" if is_h2(scenario) else title


def unicast_scenarios(results):
    """The HTTP/1.1 unicast scenarios, by publisher count."""
    return sorted((s for s in results if base_of(s) == "unicast" and not is_h2(s)), key=publishers_of)


def h2_twin(results, scenario, server):
    """ssehub's runs of scenario's HTTP/2 twin, as if they were a configuration of scenario."""
    if server != "ssehub-h2":
        return results[scenario].get(server)
    return results.get(h2_of(scenario), {}).get("ssehub")


def median_of(runs, field):
    return figures(runs, field, 1)[0]


def configurations_table(results):
    """Issue 15's view: each history configuration's deliveries/s and p99 per publisher count,
    as ratios to Nchan's in the same run."""
    scenarios = unicast_scenarios(results)
    header = ["configuration (median of runs)", *(f"{publishers_of(s)} publisher connections" for s in scenarios)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    rows = [("nchan", "nginx + Nchan (messages in shared memory)")] + VARIANTS + [
        ("ssehub-h2", "ssehub, defaults, over HTTP/2 (h2c; Nchan over HTTP/1.1)"), FLOOR]
    for key, name in rows:
        if not any(h2_twin(results, s, key) for s in scenarios):
            continue
        row = [name]
        for s in scenarios:
            runs = h2_twin(results, s, key)
            nchan = results[s].get("nchan")
            if not runs:
                row.append("–")
                continue
            rate, p99 = median_of(runs, "deliveries_per_s"), median_of(runs, "lat_p99_ms")
            text = f"{fmt(rate / 1000, 1)} k/s" if rate is not None else "–"
            if key != "nchan" and nchan and rate is not None and median_of(nchan, "deliveries_per_s"):
                text += f" ({rate / median_of(nchan, 'deliveries_per_s'):.2f}×)"
            text += f", p99 {fmt(p99, 1)} ms" if p99 is not None else ""
            row.append(text)
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def round_ratios(ours, theirs, field):
    """ours / theirs for each round both ran in, in round order. The machine's speed drifts
    from minute to minute (Nchan alone by a third between runs here), and the two runs of one
    round are minutes closer than the medians' runs."""
    theirs_by_round = {r["run"]: r.get(field) for r in theirs}
    out = []
    for r in ours:
        a, b = r.get(field), theirs_by_round.get(r["run"])
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) and a >= 0 and b > 0:
            out.append(a / b)
    return out


def goal_lines(results):
    """Whether issue 15's goal is met in this run, said plainly."""
    out = []
    for s in unicast_scenarios(results):
        by = results[s]
        nchan = by.get("nchan")
        if not nchan or not median_of(nchan, "deliveries_per_s"):
            continue
        n = publishers_of(s)
        checks = [("ssehub", "defaults", DEFAULT_GOAL, True)]
        if n >= 32:
            checks.append(("ssehub-full", "`--history-sync full`", FULL_GOAL, False))
        for key, name, goal, p99_too in checks:
            runs = by.get(key)
            if not runs or median_of(runs, "deliveries_per_s") is None:
                continue
            r = median_of(runs, "deliveries_per_s") / median_of(nchan, "deliveries_per_s")
            ok = r >= goal
            text = f"- {n} publishers, {name}: {r:.2f}× Nchan's deliveries/s (goal ≥ {goal:.1f}×)"
            rounds = round_ratios(runs, nchan, "deliveries_per_s")
            if len(rounds) > 1:
                text += (f"; round by round {' / '.join(f'{x:.2f}×' for x in rounds)}, "
                         f"at the goal in {sum(x >= goal for x in rounds)} of {len(rounds)}")
            ours_p99, their_p99 = median_of(runs, "lat_p99_ms"), median_of(nchan, "lat_p99_ms")
            if p99_too and ours_p99 is not None and their_p99 is not None:
                ok = ok and ours_p99 <= their_p99
                text += f", p99 {ours_p99:.1f} ms against {their_p99:.1f} ms (goal: no worse)"
            out.append(text + (": met." if ok else ": **not met**."))
    return out


def server_cpu_of(runs):
    """Median server CPU per delivery, user and kernel together (µs); None when not measured."""
    user, kernel = median_of(runs, "server_cpu_user_us"), median_of(runs, "server_cpu_system_us")
    return None if user is None or kernel is None else user + kernel


def cpu_budget_section(results, cores):
    """Where the CPU of a unicast delivery goes, per configuration, and what issue 15's goal
    leaves a server of it: server and client share the cores, so a rate of R deliveries/s on
    C busy cores allows C / R of CPU per delivery for both together."""
    scenarios = unicast_scenarios(results)
    if not scenarios or not any(server_cpu_of(results[s].get("nchan", [])) for s in scenarios):
        return []
    header = ["server (median of runs)", *(f"{publishers_of(s)} publisher connections" for s in scenarios)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for key, name in [("nchan", "nginx + Nchan")] + VARIANTS + [FLOOR]:
        if not any(results[s].get(key) for s in scenarios):
            continue
        row = [name]
        for s in scenarios:
            runs = results[s].get(key, [])
            total = server_cpu_of(runs)
            if total is None:
                row.append("–")
                continue
            row.append(f"{total:.1f} µs (kernel {median_of(runs, 'server_cpu_system_us'):.1f}), "
                       f"client {fmt(median_of(runs, 'client_cpu_us'), 1)} µs")
        lines.append("| " + " | ".join(row) + " |")
    notes = []
    for s in scenarios:
        nchan, ours = results[s].get("nchan", []), results[s].get("ssehub", [])
        rate, client = median_of(nchan, "deliveries_per_s"), median_of(ours, "client_cpu_us")
        if not rate or client is None or server_cpu_of(ours) is None:
            continue
        per_delivery = cores / (DEFAULT_GOAL * rate) * 1e6
        busy = (server_cpu_of(ours) + client) * (median_of(ours, "deliveries_per_s") or 0) / 1e6 / cores
        notes.append(
            f"- {publishers_of(s)} publishers: ssehub's defaults use {server_cpu_of(ours):.1f} µs per delivery "
            f"(kernel {median_of(ours, 'server_cpu_system_us'):.1f}) and the client {client:.1f}; together they "
            f"kept {busy:.0%} of the {cores} cores busy. {DEFAULT_GOAL:.1f}× Nchan's rate "
            f"({DEFAULT_GOAL * rate / 1000:.1f} k/s) leaves {per_delivery:.1f} µs per delivery for both on busy "
            f"cores, so at most {per_delivery - client:.1f} µs for the server.")
    for s in scenarios:
        nchan, floor, ours = (results[s].get(k, []) for k in ("nchan", FLOOR[0], "ssehub"))
        if server_cpu_of(floor) is None or server_cpu_of(ours) is None or not median_of(nchan, "deliveries_per_s"):
            continue
        def beyond_floor(field):
            return median_of(ours, field) - median_of(floor, field)

        notes.append(
            f"- {publishers_of(s)} publishers, the floor: {server_cpu_of(floor):.1f} µs per delivery "
            f"(kernel {median_of(floor, 'server_cpu_system_us'):.1f}), "
            f"{median_of(floor, 'deliveries_per_s') / median_of(nchan, 'deliveries_per_s'):.2f}× Nchan's "
            f"deliveries/s. ssehub's defaults spend {server_cpu_of(ours) - server_cpu_of(floor):.1f} µs "
            f"more per delivery ({beyond_floor('server_cpu_user_us'):.1f} in user space, "
            f"{beyond_floor('server_cpu_system_us'):.1f} in the kernel).")
    return [
        "### CPU per delivery",
        "",
        "Server CPU (user and kernel, all its threads or processes) and the client's, from just before "
        "publishing to the last delivery, divided by the deliveries. The kernel's share is mostly "
        "loopback TCP: sending a delivery or an answer runs the receiving side's TCP too, and wakes it.",
        "",
        *lines,
        "",
        *notes,
    ]


TLS_SHAPES = [
    ("plain", "HTTP/1.1 stream, plain TCP (for reference)"),
    ("tls", "HTTP/1.1 stream over TLS, one connection each"),
    ("h2-conn", "HTTP/2 stream over TLS, one connection each"),
    ("h2-stream", "HTTP/2 stream beyond its connection (500 per TLS connection)"),
    ("h2c-conn", "HTTP/2 stream over cleartext (h2c), one connection each"),
    ("h2c-stream", "HTTP/2 stream beyond its connection (500 per h2c connection)"),
]


def tls_idle_section(runs):
    """bench/tls-memory's figures: memory per idle stream by transport."""
    lines = ["## Idle streams over TLS and HTTP/2", "",
             "ssehub only (`bench/tls-memory/measure.mjs`): server memory with 2000 idle streams open "
             "minus before, per stream; for the rows beyond a connection, with 500 streams on each of 4 "
             "HTTP/2 connections minus with 1. Issue 16's targets: at most 8 KiB per TLS stream and 2 KiB per "
             "HTTP/2 stream beyond its connection.", "",
             "| stream | memory per idle stream (KiB) ↓ |", "|---|---|"]
    for key, name in TLS_SHAPES:
        values = [r[key]["per_stream_kib"] for r in runs if isinstance(r.get(key), dict)]
        if not values:
            continue
        text = fmt(statistics.median(values), 2)
        if len(values) > 1 and fmt(min(values), 2) != fmt(max(values), 2):
            text += f" ({fmt(min(values), 2)}–{fmt(max(values), 2)})"
        lines.append(f"| {name} | {text} |")
    return lines


def render_all(results_dir, old_text):
    env = read_env(results_dir / "machine.env")
    results = load_results(results_dir)
    out = [
        "# Benchmarks",
        "",
        f"Generated by `bench/run` (`make bench`) on {env.get('date')}; do not edit by hand. "
        "ssehub against nginx + Nchan and Pushpin, all on loopback on one machine, each started "
        "freshly for every run with the configs in `bench/peers/`. The client is "
        "`bench/loadgen` (C++, epoll), one process with 2 threads on the same 2 cores as the server.",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        f"| CPU | {env.get('cores')} cores, {env.get('cpu')} |",
        f"| memory | {env.get('memory')} |",
        f"| kernel (`uname -r`) | {env.get('kernel')} |",
        f"| OS | {env.get('os')} |",
        f"| open files per process | {env.get('nofile')} (hard limit) |",
        f"| ssehub | {env.get('ssehub')}, `--threads 2`, history as configured by default (the segment "
        "log); for unicast also the other history configurations |",
        f"| nginx + Nchan | nginx {env.get('nginx')}, Nchan {env.get('nchan')}, 2 workers, history in shared memory |",
        f"| Pushpin | {env.get('pushpin')} (condure {env.get('condure')}, zurl {env.get('zurl')}), no history |",
        "| the floor (unicast only) | `bench/floor`: 2 threads, each with its own epoll; a publish is one "
        "`pwrite` to a journal, one `send` to the stream from the thread that read it, and a 204; no "
        "validation, ids, history or back-pressure. What any server pays on this machine for the same "
        "sockets; not a peer |",
        f"| HTTP/2 rows | h2c with prior knowledge, {env.get('h2_streams_per_connection', '100')} streams per "
        "connection; ssehub `--http2`, nginx `listen ... http2` |",
        "",
        f"Each figure is the median of {env.get('runs')} runs, with the lowest and highest in brackets. "
        "A ratio is ssehub's median over the peer's: above 1 means ssehub has more of it "
        "(↑ marks figures where more is better, ↓ where less is better).",
        "",
    ]
    if unicast_scenarios(results):
        out += ["## Unicast by history configuration", "",
                "Deliveries/s (ratio to Nchan's in the same run) and latency p99, per number of publisher "
                "connections; the sections below give every figure with its range.", "",
                configurations_table(results), "", *goal_lines(results), ""]
        budget = cpu_budget_section(results, int(env.get("cores") or 2))
        if budget:
            out += [*budget, ""]
    order = ["idle"]
    for scenario in [*unicast_scenarios(results), "fanout"]:
        order += [scenario, h2_of(scenario)]  # each HTTP/2 section right after its twin
    order += sorted(s for s in results if is_h2(s) and s not in order)  # one without its twin
    for scenario in order:
        if scenario not in results:
            continue
        table = h2_table(scenario, results) if is_h2(scenario) else scenario_table(scenario, results[scenario])
        out += [f"## {title_of(scenario)}", "", scenario_intro(scenario, env), "", table, ""]
        for key, name in VARIANTS[1:] + [FLOOR]:
            if key in results[scenario]:
                out += [f"The same with {name}:", "", scenario_table(scenario, results[scenario], key, name), ""]
        failures = [
            f"{server} run {i + 1}: {r['error']}"
            for server, runs in results[scenario].items()
            for i, r in enumerate(runs)
            if "error" in r
        ]
        if failures:
            out += ["Runs that produced no result: " + "; ".join(failures) + ".", ""]
    if "tls-idle" in results and "ssehub" in results["tls-idle"]:
        out += tls_idle_section(results["tls-idle"]["ssehub"]) + [""]
    out += [
        "## Reading these numbers",
        "",
        "- Server and client share 2 cores, so a figure is what a server does with the CPU the client "
        "leaves it; the client costs every server about the same per delivery (the CPU rows of the unicast "
        "tables measure both).",
        "- Fan-out offers 10^6 deliveries/s, more than any of the three can send on 2 cores here, so its "
        "deliveries/s is each server's ceiling and its latency is mostly time spent queued; it grows "
        "with the length of the run.",
        "- Pushpin's HTTP publish endpoint answers `Connection: close`, so its publisher opens a "
        "connection per message; Nchan's and ssehub's publishers keep theirs open. Pushpin keeps no "
        "history; Nchan keeps it in shared memory (1000 messages per channel); ssehub by default "
        "writes every message to its journal (a write() into the page cache, no fsync) before "
        "answering, with `--history-sync full` also fdatasyncs it (grouped across publishes), and "
        "with `--history-store memory` keeps 1000 per user in memory only.",
        "- Errors are streams that did not open or were closed, and failed publishes. Pushpin's "
        "come from Pushpin itself: under the connect burst it answers 500/502 to a few "
        "subscriptions, and under fan-out load its handler cancels some streams (its log: "
        "`received message out of sequence, canceling`). Figures of a run are over the streams that "
        "did open.",
        "- HTTP/2 rows are h2c (cleartext, prior knowledge), so they show what multiplexing costs or "
        "saves without TLS in the way; the HTTP/1.1 columns beside them come from the same run. "
        "Nchan serves HTTP/2 by nginx's `listen ... http2` (nginx 1.22: h2c with prior knowledge "
        "only on that port); Pushpin runs over HTTP/1.1 only here.",
        "- Lost deliveries are counted after a drain period: expected deliveries are, per accepted "
        "message, the streams its user had open at that moment.",
        "",
    ]
    text = "\n".join(out)
    max_section = extract_max(old_text)
    if max_section:
        text += "\n" + max_section + "\n"
    if HAND_MARK in old_text:
        text += "\n" + old_text[old_text.index(HAND_MARK):].rstrip("\n") + "\n"
    return text


def extract_max(text):
    if MAX_BEGIN in text and MAX_END in text:
        return text[text.index(MAX_BEGIN): text.index(MAX_END) + len(MAX_END)]
    return ""


def render_max(results_dir):
    env = read_env(results_dir / "machine.env")
    m = read_env(results_dir / "max.env")
    clients = [read_json(p) for p in sorted(results_dir.glob("max.client.*.json"))]
    opened = sum(c.get("open", 0) for c in clients)
    asked = sum(c.get("streams", 0) for c in clients)
    errors = {k: sum(c.get(k, 0) for c in clients) for k in ("err_connect", "err_status", "err_timeout", "err_closed")}
    rss_idle = int(m.get("rss_idle_kb", "0") or 0)
    rss_open = int(m.get("rss_open_kb", "0") or 0)
    per_stream = f"{(rss_open - rss_idle) * 1024 / opened / 1024:.2f} KiB" if opened and rss_open else "–"
    lines = [
        MAX_BEGIN,
        "## Most idle streams in one ssehub process (`bench/run max`)",
        "",
        f"Run on {env.get('date')}, ssehub {env.get('ssehub')}, kernel {env.get('kernel')}, "
        f"{env.get('nofile')} open files per process. {len(clients)} load generator processes asked "
        f"for {asked} streams of distinct users in all, more than one process may hold.",
        "",
        "| | |",
        "|---|---|",
        f"| streams open at once | {opened:,} |",
        f"| refused or not answered | connect {errors['err_connect']}, HTTP error {errors['err_status']}, "
        f"no headers in time {errors['err_timeout']}, closed {errors['err_closed']} |",
        f"| ssehub open files while holding | {m.get('fds', '–')} |",
        f"| ssehub memory (VmRSS) | {rss_idle / 1024:.0f} MiB idle, {rss_open / 1024:.0f} MiB holding, {per_stream} per stream |",
        f"| ssehub CPU while holding idle streams | {m.get('cpu_percent_holding', '–')} % of one core |",
        f"| alive while holding / serving again afterwards | {m.get('alive_while_holding', '–')} / {m.get('probe_after', '–')} |",
        f"| 'too many open files' lines in its log | {m.get('emfile_log_lines', '–')} |",
        "",
        MAX_END,
    ]
    return "\n".join(lines)


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("all", "max"):
        sys.exit(__doc__)
    mode, results_dir, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    old = out.read_text() if out.exists() else ""
    if mode == "all":
        text = render_all(results_dir, old)
    else:
        section = render_max(results_dir)
        if extract_max(old):
            text = old.replace(extract_max(old), section)
        elif old:
            text = old.rstrip("\n") + "\n\n" + section + "\n"
        else:
            text = "# Benchmarks\n\n" + section + "\n"
        print(section)
    out.write_text(text)


if __name__ == "__main__":
    main()
