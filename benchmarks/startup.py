"""Wall time of `attncalc count gpt3` in a fresh process (what a user or a CI step waits for).

Runs each command REPEAT times, alternating, and prints medians, the ratio to a bare
`python -c pass`, and the ratios the start-up target is stated in (issue 10): `count gpt3` and
`count gpt3 --format json` against a bare `import typer, rich` (the floor any Typer + Rich tool
pays; targets <= 1.3 and <= 1.1), as a table and as JSON.
With --baseline DIR (another checkout, e.g. a git worktree of an older commit) the attncalc rows
are run a second time with DIR first on PYTHONPATH, alternating, for a before/after in one run.
Then where the milliseconds of `attncalc count gpt3` go (issue 19 item 4): ``python -X importtime``
self times summed per package (typer, rich, attncalc.cli/core/spec/present, the standard library),
the share of attncalc's import time spent building dataclasses (``dataclasses._process_class``:
each generated method is ``exec``-ed), and the command itself after its imports (compute and render).
Usage: python benchmarks/startup.py [--repeat 15] [--json out.json] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "python -c 'import typer, rich'": [sys.executable, "-c", "import typer, rich"],
    "python -c 'import typer, rich.console, rich.table'": [sys.executable, "-c", "import typer, rich.console, rich.table"],
    "attncalc --version": [sys.executable, "-m", "attncalc", "--version"],
    "attncalc count gpt3": [sys.executable, "-m", "attncalc", "count", "gpt3"],
    "attncalc count gpt3 --format json": [sys.executable, "-m", "attncalc", "count", "gpt3", "--format", "json"],
    "attncalc compare (4 models)": [sys.executable, "-m", "attncalc", "compare", "gpt3", "llama-2-70b", "llama-3-70b", "mixtral-8x7b"],
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--json", help="also write the figures to this file")
    ap.add_argument("--baseline", help="another checkout to time the same commands from (before/after)")
    args = ap.parse_args()
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "120"}
    # As installed (pip compiles every module): cached bytecode, even where the environment turns it off.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    # Run from a neutral folder with the checkout first on the path: `python -m` puts the current
    # folder first, which would shadow --baseline.
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = here
    cwd = tempfile.mkdtemp(prefix="attncalc-startup-")
    runs = {name: (cmd, env) for name, cmd in COMMANDS.items()}
    if args.baseline:
        base_env = {**env, "PYTHONPATH": os.path.abspath(args.baseline)}
        runs |= {f"baseline: {name}": (cmd, base_env) for name, cmd in COMMANDS.items() if "attncalc" in name}
    for cmd, e in runs.values():  # one warm-up run each writes the bytecode caches
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=e, cwd=cwd)
    times: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(args.repeat):
        for name, (cmd, e) in runs.items():
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=e, cwd=cwd)
            times[name].append(time.perf_counter() - t0)
    base = statistics.median(times["python -c pass"])
    result = {name: {"median_s": statistics.median(ts), "min_s": min(ts), "max_s": max(ts),
                     "ratio_to_python": statistics.median(ts) / base} for name, ts in times.items()}
    print(f"{'command':46s} {'median':>9s} {'min':>9s} {'max':>9s} {'× python':>9s}   ({args.repeat} runs each, alternating)")
    for name, r in result.items():
        print(f"{name:46s} {r['median_s'] * 1000:7.0f}ms {r['min_s'] * 1000:7.0f}ms {r['max_s'] * 1000:7.0f}ms {r['ratio_to_python']:9.2f}")
    # issue 19 item 4: the floor is importing typer and rich's console and table (what a Typer + Rich table tool pays)
    floor = statistics.median(times["python -c 'import typer, rich.console, rich.table'"])
    targets = {"attncalc count gpt3": 1.3, "attncalc count gpt3 --format json": 1.1}
    ratios = {name: statistics.median(times[name]) / floor for name in targets}
    if args.baseline:
        ratios |= {f"baseline: {name}": statistics.median(times[f"baseline: {name}"]) / floor for name in targets}
        targets |= {f"baseline: {name}": t for name, t in targets.items()}
    print()
    for name, target in targets.items():
        verdict = "meets" if ratios[name] <= target else "misses"
        print(f"{name:46s} {ratios[name]:5.2f} × `import typer, rich.console, rich.table` ({floor * 1000:.0f} ms); "
              f"target <= {target} ({verdict})")
    where = breakdown(env, cwd, args.repeat)
    print()
    print("where `attncalc count gpt3` spends its time (medians, ms):")
    for k, v in where.items():
        print(f"  {k:58s} {v:7.1f}")
    doc = {"benchmark": "startup", "repeat": args.repeat, "python": sys.version.split()[0], "results": result,
           "ratio_to_import_typer_rich": ratios, "breakdown_ms": where}
    print(json.dumps(doc, indent=2))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(doc, fh, indent=2)


GROUPS = ("attncalc.cli", "attncalc.core", "attncalc.spec", "attncalc.present", "attncalc", "typer", "rich", "click")

PROBE = r"""
import dataclasses, sys, time
t0 = time.perf_counter()
import typer, rich.console, rich.table
t1 = time.perf_counter()
spent = [0.0]
orig = dataclasses._process_class
def timed(cls, *a, **k):
    s = time.perf_counter()
    try:
        return orig(cls, *a, **k)
    finally:
        if cls.__module__.startswith("attncalc"):
            spent[0] += time.perf_counter() - s
dataclasses._process_class = timed
import contextlib, io
from attncalc.cli import load_commands, main
t2 = time.perf_counter()
load_commands(["count"])
import attncalc.core.report, attncalc.present.headline, attncalc.present.mixers, attncalc.spec.load  # what count runs
t3 = time.perf_counter()
buf = io.StringIO()
try:
    with contextlib.redirect_stdout(buf):
        main(["count", "gpt3"])
except SystemExit:
    pass
t4 = time.perf_counter()
print(1e3 * (t1 - t0), 1e3 * (t3 - t1), 1e3 * spent[0], 1e3 * (t4 - t3))
"""


def breakdown(env: dict, cwd: str, repeat: int) -> dict[str, float]:
    """Import self times per package (-X importtime), and an in-process split of one run."""
    per: dict[str, list[float]] = {}
    for _ in range(max(3, repeat // 3)):
        out = subprocess.run([sys.executable, "-X", "importtime", "-m", "attncalc", "count", "gpt3"], env=env, cwd=cwd,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=True).stderr
        sums: dict[str, float] = {}
        for line in out.splitlines():
            if not line.startswith("import time:") or "self [us]" in line:
                continue
            self_us, _, name = line[len("import time:"):].split("|")
            name = name.strip()
            group = next((g for g in GROUPS if name == g or name.startswith(g + ".")), "standard library and others")
            sums[group] = sums.get(group, 0.0) + int(self_us) / 1000
        for k, v in sums.items():
            per.setdefault(f"import (self times) {k}", []).append(v)
        probe = subprocess.run([sys.executable, "-c", PROBE], env=env, cwd=cwd, capture_output=True, text=True,
                               check=True).stdout.split()
        for k, v in zip(("in-process: import typer, rich.console, rich.table", "in-process: import attncalc (cli + count's modules)",
                         "  of which building attncalc's dataclasses", "in-process: count gpt3 after its imports (compute, render)"),
                        probe):
            per.setdefault(k, []).append(float(v))
    return {k: statistics.median(v) for k, v in sorted(per.items())}


if __name__ == "__main__":
    main()
