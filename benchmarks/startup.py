"""Wall time of `attncalc count gpt3` in a fresh process (what a user or a CI step waits for).

Runs each command REPEAT times, alternating, and prints medians and the ratio to a bare
`python -c pass`, as a table and as JSON. Usage: python benchmarks/startup.py [--repeat 15] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "attncalc --version": [sys.executable, "-m", "attncalc", "--version"],
    "attncalc count gpt3": [sys.executable, "-m", "attncalc", "count", "gpt3"],
    "attncalc count gpt3 --format json": [sys.executable, "-m", "attncalc", "count", "gpt3", "--format", "json"],
    "attncalc compare (4 models)": [sys.executable, "-m", "attncalc", "compare", "gpt3", "llama-2-70b", "llama-3-70b", "mixtral-8x7b"],
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args()
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "120"}
    times: dict[str, list[float]] = {k: [] for k in COMMANDS}
    for _ in range(args.repeat):
        for name, cmd in COMMANDS.items():
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env)
            times[name].append(time.perf_counter() - t0)
    base = statistics.median(times["python -c pass"])
    result = {name: {"median_s": statistics.median(ts), "min_s": min(ts), "max_s": max(ts),
                     "ratio_to_python": statistics.median(ts) / base} for name, ts in times.items()}
    print(f"{'command':36s} {'median':>9s} {'min':>9s} {'max':>9s} {'× python':>9s}   ({args.repeat} runs each, alternating)")
    for name, r in result.items():
        print(f"{name:36s} {r['median_s'] * 1000:7.0f}ms {r['min_s'] * 1000:7.0f}ms {r['max_s'] * 1000:7.0f}ms {r['ratio_to_python']:9.2f}")
    doc = {"benchmark": "startup", "repeat": args.repeat, "python": sys.version.split()[0], "results": result}
    print(json.dumps(doc, indent=2))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(doc, fh, indent=2)


if __name__ == "__main__":
    main()
