#!/usr/bin/env python3
"""Checks bench/report.py's verdicts on issue 15's goal against made-up results: the median
decides, and the round-by-round ratios pair each run with Nchan's run of the same round, not
with its neighbour in sorted order. Prints "N passed, M failed" (scripts/test-all's plain)."""

import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import report  # noqa: E402

checks = []


def check(name, condition, detail=""):
    checks.append((name, bool(condition), detail))


def write_results(results_dir, runs):
    """runs: {(server, round): deliveries/s}; p99 fixed at 1 ms for every run."""
    for (server, run), rate in runs.items():
        line = {"deliveries_per_s": rate, "lat_p99_ms": 1.0}
        (results_dir / f"unicast-p32.{server}.{run}.json").write_text(json.dumps(line) + "\n")


def goal_line(runs, prefix="- 32 publishers, `--history-sync full`"):
    with tempfile.TemporaryDirectory() as tmp:
        write_results(Path(tmp), runs)
        lines = report.goal_lines(report.load_results(Path(tmp)))
    return next((line for line in lines if line.startswith(prefix)), "")


# The machine slows down from round to round: Nchan's median round is the slow one, while
# ssehub-full beats Nchan in every round. Paired by round: 1.05, 1.10, 1.20.
drifting = {
    ("nchan", 1): 40000, ("nchan", 2): 30000, ("nchan", 3): 20000,
    ("ssehub-full", 1): 42000, ("ssehub-full", 2): 33000, ("ssehub-full", 3): 24000,
    ("ssehub", 1): 60000, ("ssehub", 2): 45000, ("ssehub", 3): 30000,
}
line = goal_line(drifting)
check("the median ratio is given", "1.10× Nchan's deliveries/s" in line, line)
check("each round is paired with Nchan's of the same round",
      "round by round 1.05× / 1.10× / 1.20×" in line, line)
check("rounds at the goal are counted", "at the goal in 3 of 3" in line, line)
check("met when the median is", line.endswith(": met."), line)

# A round missing for ssehub (its run failed): the other rounds keep their own partners,
# not the next result in the list.
gap = {k: v for k, v in drifting.items() if k != ("ssehub-full", 2)}
line = goal_line(gap)
check("a missing round shifts no pairing", "round by round 1.05× / 1.20×" in line, line)

# Below the goal in one round of three, met by the median.
mixed = dict(drifting)
mixed[("ssehub-full", 1)] = 36000  # 0.90× in round 1
line = goal_line(mixed)
check("a round below the goal is counted as such", "at the goal in 2 of 3" in line, line)
check("the verdict is the median's, not every round's", line.endswith(": met."), line)

# The median below the goal: not met, even with a round above it.
behind = dict(drifting)
behind[("ssehub-full", 2)] = 27000  # 0.90× in round 2, the median's round
line = goal_line(behind)
check("not met when the median is below the goal", line.endswith(": **not met**."), line)

# The defaults' line says the same and keeps its p99 check.
line = goal_line(drifting, "- 32 publishers, defaults")
check("the defaults' rounds are given", "round by round 1.50× / 1.50× / 1.50×" in line, line)
check("the defaults' p99 is still compared", "p99 1.0 ms against 1.0 ms" in line, line)

# One round only: no round-by-round list (it would repeat the median).
single = {k: v for k, v in drifting.items() if k[1] == 1}
line = goal_line(single)
check("one round gives no list", line and "round by round" not in line, line)

# The floor: its own line in the CPU section, with ssehub's distance to it split into user
# and kernel time, and no part in the goal's verdict.
with tempfile.TemporaryDirectory() as tmp:
    cpu = {"nchan": (20000, 20.0, 40.0, 25.0), "ssehub": (26000, 15.0, 30.0, 22.0),
           "floor": (48000, 1.5, 21.0, 18.0)}
    for server, (rate, user, kernel, client) in cpu.items():
        result = {"deliveries_per_s": rate, "lat_p99_ms": 1.0, "server_cpu_user_us": user,
                  "server_cpu_system_us": kernel, "client_cpu_us": client}
        (Path(tmp) / f"unicast-p4.{server}.1.json").write_text(json.dumps(result) + "\n")
    results = report.load_results(Path(tmp))
    notes = "\n".join(report.cpu_budget_section(results, 2))
    goals = "\n".join(report.goal_lines(results))
    table = report.configurations_table(results)
check("the floor's ratio to Nchan is given", "the floor: 22.5 µs per delivery (kernel 21.0), 2.40× Nchan's" in notes, notes)
check("ssehub's distance to the floor is split", "spend 22.5 µs more per delivery (13.5 in user space, 9.0 in the kernel)" in notes, notes)
check("the floor has a row of its own", "| the floor: `bench/floor`" in table and "48.0 k/s (2.40×)" in table, table)
check("the floor is no part of the goal", "floor" not in goals and "1.30× Nchan's" in goals, goals)

failed = [c for c in checks if not c[1]]
for name, ok, detail in checks:
    print(f"{'ok' if ok else 'FAILED'}: {name}" + ("" if ok else f"\n  got: {detail}"))
print(f"{len(checks) - len(failed)} passed, {len(failed)} failed")
sys.exit(1 if failed else 0)
