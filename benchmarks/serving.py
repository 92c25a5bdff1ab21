"""Serving as the engines do it (issue 23): the tables the README shows, and the simulation's speed.

1. Held-out start-up logs: for every log of tests/golden/engines/logs.json outside the calibration set,
   the KV tokens the engine printed and what core.serve.engines predicts from the description, knobs
   and device alone (the replayed ones), and why the others cannot be replayed.
2. Published request-level measurements (serving_measurements.json): measured and simulated TTFT,
   time per output token and end-to-end latency, the rows fitted on named, the mean absolute errors of
   the others.
3. Speed: wall time of `simulate` on experiments of 1,000 requests (median of REPEAT runs).

Usage: python benchmarks/serving.py [--repeat 5] [--json out.json] [--only speed|logs|measurements]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def logs_table() -> dict:
    from attncalc.core.serve.calibration import CALIBRATION_LOGS
    from attncalc.core.serve.engines import engine_capacity
    from tests.engines_replay import LOGS, replay
    from tests.test_engines import KNOWN_MISSES

    rows, skipped = [], []
    for e in LOGS:
        f = e.get("figures") or {}
        logged = f.get("gpu_kv_cache_tokens") or f.get("kv_tokens")
        if e["id"] in CALIBRATION_LOGS:
            rows.append((e["id"], e["engine"], logged, None, None, "calibration"))
            continue
        r = replay(e)
        if r.setup is None or not logged or logged <= 0:
            skipped.append((e["id"], e["engine"], r.reason or "the log prints no positive KV token count"))
            continue
        c = engine_capacity(r.arch, r.setup)
        err = Fraction(c.kv_tokens - logged, logged)
        rows.append((e["id"], e["engine"], logged, c.kv_tokens, err, KNOWN_MISSES.get(e["id"], (0, ""))[1]))
    held = [r for r in rows if r[4] is not None]
    within = sum(1 for r in held if abs(r[4]) <= Fraction(1, 100))
    print(f"\n## KV tokens: {len(held)} held-out logs replayed, {within} within 1 %; "
          f"{len(CALIBRATION_LOGS)} calibration logs; {len(skipped)} not replayable\n")
    print("| log | engine | logged | predicted | error | note |\n|---|---|---:|---:|---:|---|")
    for i, eng, logged, pred, err, note in rows:
        if err is None:
            continue
        print(f"| {i} | {eng} | {logged:,} | {pred:,} | {float(err) * 100:+.2f} % | {note} |")
    print("\nNot replayable:\n")
    for i, eng, why in skipped:
        print(f"- {i} ({eng}): {why}")
    return {"held_out": [{"id": i, "logged": lg, "predicted": p, "error": float(er)} for i, _, lg, p, er, _ in held],
            "within_1pct": within, "not_replayable": [{"id": i, "why": w} for i, _, w in skipped]}


def measurements_table() -> dict:
    from tests.serve_replay import FIT_ON, NOT_REPRODUCIBLE, fit_group, measured, rows, run, simulated

    vrows = rows()
    fitted = {g: fit_group(next(r for r in vrows if r.id == rid)) for g, rid in FIT_ON.items()}
    print("\n## Request-level measurements: measured / simulated (ms)\n")
    print("| row | fit? | TTFT | TPOT | E2E | E2E error | TTFT error |\n|---|---|---:|---:|---:|---:|---:|")
    errs = {"e2e": [], "ttft": []}
    out = []
    for r in vrows:
        cal = fitted.get(r.group)
        res = run(r, cal) if cal else run(r)
        m, s = measured(r), simulated(res)
        fit = r.id in FIT_ON.values()
        ee = (s["e2e"] - m["e2e"]) / m["e2e"]
        te = (s["ttft"] - m["ttft"]) / m["ttft"]
        if not fit:
            errs["e2e"].append(abs(ee))
            errs["ttft"].append(abs(te))
        print(f"| {r.id} | {'fitted' if fit else ('held out' if cal else 'defaults')} | "
              f"{float(m['ttft']):,.1f} / {float(s['ttft']):,.1f} | {float(m['tpot']):,.1f} / {float(s['tpot']):,.1f} | "
              f"{float(m['e2e']):,.0f} / {float(s['e2e']):,.0f} | {float(ee) * 100:+.1f} % | {float(te) * 100:+.1f} % |")
        out.append({"id": r.id, "fitted": fit, "measured": {k: float(v) for k, v in m.items() if v is not None},
                    "simulated": {k: float(v) for k, v in s.items() if v is not None}})
    mae = {k: float(sum(v) / len(v)) for k, v in errs.items()}
    print(f"\nMean absolute error over the {len(errs['e2e'])} rows not fitted on: E2E {mae['e2e'] * 100:.1f} %, "
          f"TTFT {mae['ttft'] * 100:.1f} %")
    for g, c in fitted.items():
        print(f"- group {g}: fitted on {FIT_ON[g]}: {c.step_overhead_ns / 1e6:g} ms per step, "
              f"{c.request_overhead_ns / 1e6:g} ms per request")
    for i, why in NOT_REPRODUCIBLE.items():
        print(f"- {i}: not reproducible: {why}")
    return {"rows": out, "mae": mae, "fitted": {g: {"on": FIT_ON[g], "step_overhead_ns": c.step_overhead_ns,
                                                     "request_overhead_ns": c.request_overhead_ns}
                                                 for g, c in fitted.items()}}


def speed(repeat: int) -> dict:
    from attncalc.core.serve.devices import DEVICES
    from attncalc.core.serve.engines import EngineSetup, engine_capacity
    from attncalc.core.serve.sim import SimSetup, simulate
    from attncalc.core.serve.steps import step_costs
    from attncalc.core.serve.workload import Workload, parse_lengths
    from attncalc.core.time.setup import Setup
    from attncalc.spec.hardware import load_hardware
    from attncalc.spec.load import load_model

    a = load_model("llama-3.1-8b")
    cap = engine_capacity(a, EngineSetup("vllm", DEVICES["h100-sxm"], max_model_len=8192))
    costs = step_costs(a, Setup(load_hardware("h100-sxm"), "bf16"))
    cases = {
        "poisson 5/s, 2048 in, 256 out": Workload("poisson", Fraction(5), 1000, parse_lengths("2048", "p"),
                                                  parse_lengths("256", "o")),
        "poisson 20/s, uniform 1k-3k in, 100-400 out (KV-bound)":
            Workload("poisson", Fraction(20), 1000, parse_lengths("uniform:1000:3000", "p"),
                     parse_lengths("uniform:100:400", "o"), seed=3),
        "burst, uniform 1-8192 in, 1-8 out": Workload("burst", None, 1000, parse_lengths("uniform:1:8192", "p"),
                                                      parse_lengths("uniform:1:8", "o")),
        "speculative γ=4 α=0.7, poisson 5/s": Workload("poisson", Fraction(5), 1000, parse_lengths("2048", "p"),
                                                        parse_lengths("256", "o")),
    }
    print(f"\n## Speed: median of {repeat} runs of 1,000 requests (llama-3.1-8b, vLLM 0.19.0, one H100)\n")
    print("| experiment | engine steps | wall time (s) |\n|---|---:|---:|")
    out = {}
    for name, w in cases.items():
        s = SimSetup(cap, costs, draft_tokens=4 if "speculative" in name else 0, acceptance=Fraction(7, 10),
                     draft_cost=Fraction(1, 20))
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            r = simulate(s, w)
            times.append(time.perf_counter() - t)
        out[name] = {"steps": r.steps, "seconds": statistics.median(times)}
        print(f"| {name} | {r.steps:,} | {statistics.median(times):.3f} |")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json")
    ap.add_argument("--only", choices=("speed", "logs", "measurements"))
    args = ap.parse_args()
    result = {}
    if args.only in (None, "logs"):
        result["logs"] = logs_table()
    if args.only in (None, "measurements"):
        result["measurements"] = measurements_table()
    if args.only in (None, "speed"):
        result["speed"] = speed(args.repeat)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
