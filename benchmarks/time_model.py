"""The README's time-model figures: collectives against measured NCCL tables, kernels against the H200
rows of issue 18, and the pipeline schedules' closed forms against their simulation.

    .venv/bin/python benchmarks/time_model.py            # all three
    .venv/bin/python benchmarks/time_model.py kernels    # one of collectives | kernels | schedules
"""

from __future__ import annotations

import json
import sys
import time
from fractions import Fraction
from pathlib import Path

from attncalc.core.time.collectives import all_reduce, collective
from attncalc.core.time.passes import Workload, pass_time
from attncalc.core.time.schedules import SCHEDULES, StageTimes, check, closed_form, simulate
from attncalc.spec.hardware import load_hardware
from attncalc.spec.load import load_preset

GOLDEN = Path(__file__).resolve().parent.parent / "tests" / "golden"
OPS = {"all_reduce": "all_reduce", "all_gather": "all_gather", "reduce_scatter": "reduce_scatter", "alltoall": "all_to_all"}
CAL = 512 * 2**20


def collectives() -> None:
    tables = {t["id"]: t for t in json.loads((GOLDEN / "collectives" / "nccl.json").read_text())["tables"]}
    print("Collectives: NCCL 2.29.2 (AIConfigurator's nccl-tests runs), 16 KiB to 512 MiB; H200 and B200 rows at")
    print("512 MiB calibrated the efficiency and are left out below.\n")
    print("| GPU | collective | mean abs error, 2 GPUs | 4 GPUs | 8 GPUs | rows | within ±25% | mean abs error | worst |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for hw_name, sys_ in (("h100-sxm", "h100_sxm"), ("h200", "h200_sxm"), ("b200", "b200_sxm")):
        hw = load_hardware(hw_name)
        for op, ours in OPS.items():
            errs, cells = [], []
            for n in (2, 4, 8):
                t = tables[f"aic-{sys_}-nccl2.29.2-{op}-{n}gpu"]
                e = [collective(ours, r[1], n, hw).time / (Fraction(str(min(r[2]))) / 1000) - 1 for r in t["rows"]
                     if 16384 <= r[1] <= CAL and not (sys_ != "h100_sxm" and r[1] == CAL)]
                errs += e
                cells.append(f"{float(sum(abs(x) for x in e) / len(e)) * 100:.0f}%")
            ab = [abs(x) for x in errs]
            worst = max(errs, key=abs)
            print(f"| {hw_name} | {op} | {' | '.join(cells)} | {len(errs)} | {sum(a <= Fraction(1, 4) for a in ab)} | "
                  f"{float(sum(ab) / len(ab)) * 100:.1f}% | {float(worst) * 100:+.0f}% |")
    h = load_hardware("h200")
    print("\nIssue 18's three points, 8 x H200 all-reduce (measured; NCCL model; bytes over the link alone):")
    for nbytes, meas in ((16 * 1024, "18.3"), (2 * 2**20, "37.5"), (256 * 2**20, "1052.6")):
        c = all_reduce(nbytes, 8, h)
        bw = Fraction(14, 8) * nbytes / h.intra().bytes_per_s
        print(f"  {nbytes:>11,} B: {meas} us; {float(c.time) * 1e6:.1f} us ({c.algorithm}/{c.protocol}); "
              f"{float(bw) * 1e6:.2f} us")
    a = load_preset("llama-3-70b")
    one = all_reduce(a.d_model * 2, 8, h)
    custom = all_reduce(a.d_model * 2, 8, h, engine="custom")
    print(f"Llama-3-70B tp-8 decode step, batch 1: 2 x {a.n_layers} all-reduces of {a.d_model * 2:,} B: "
          f"{float(2 * a.n_layers * one.time) * 1e3:.2f} ms with NCCL, {float(2 * a.n_layers * custom.time) * 1e3:.2f} "
          f"ms with the custom one-shot kernel")


def kernels() -> None:
    doc = json.loads((GOLDEN / "roofline" / "h200_issue18.json").read_text())
    h = load_hardware("h200")
    print(f"Kernels on one H200 (transformers eager recipe, eager engine; matmul efficiency "
          f"{float(h.fitted.get('matmul_efficiency')):.3f} fitted on the calibration row):\n")
    print("| model | pass | shape | measured | before (roofline x 1 efficiency) | now | error | kernels | host-bound | role |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---|")
    for r in doc["rows"]:
        dec = r["pass"] == "decode"
        w = Workload(r["batch"], r["context"] if dec else r["seq"], dec)
        est = pass_time(load_preset(r["model"]), w, h)
        m = Fraction(r["measured_ms"])
        shape = f"b{r['batch']} " + (f"ctx {r['context']}" if dec else f"s{r['seq']}")
        now = est.time * 1000
        print(f"| {r['model']} | {r['pass']} | {shape} | {float(m):g} ms | {float(Fraction(r['issue_estimate_ms'])):g} ms | "
              f"{float(now):.2f} ms | {float(now / m - 1) * 100:+.1f}% | {est.kernels:,} | "
              f"{float(est.host_bound) * 100:.0f}% | {r['role']} |")


def schedules() -> None:
    t = StageTimes(Fraction(1), Fraction(1), Fraction(1), Fraction(2))
    print("Pipeline schedules, p = 8 stages, m = 32 micro-batches, F = B = W = 1, F&B = 2 (v = 2 interleaved):\n")
    print("| schedule | step | bubble | bubble / ideal | peak activations (micro-batches, stage 0 / max) |")
    print("|---|---:|---:|---:|---:|")
    for s in SCHEDULES:
        c = closed_form(s, 8, 32, t, 2 if s == "interleaved" else 1)
        print(f"| {s} | {c.step} | {c.bubble} | {float(c.bubble_fraction):.3f} | {c.peak_activations[0]} / {c.peak} |")
    t0, n = time.perf_counter(), 0
    for s in SCHEDULES:
        for p in range(1, 17):
            for m in range(1, 65):
                for v in (range(2, 5) if s == "interleaved" else (1,)):
                    try:
                        check(s, p, m, v)
                    except Exception:
                        continue
                    a, b = closed_form(s, p, m, StageTimes(Fraction(3), Fraction(3), Fraction(2), Fraction(6)), v), \
                        simulate(s, p, m, StageTimes(Fraction(3), Fraction(3), Fraction(2), Fraction(6)), v)
                    assert (a.step, a.work, a.peak_activations) == (b.step, b.work, b.peak_activations)
                    n += 1
    print(f"\nclosed form == simulation on {n:,} schedules (p <= 16, m <= 64, v <= 4) in {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    which = sys.argv[1:] or ["collectives", "kernels", "schedules"]
    for w in which:
        {"collectives": collectives, "kernels": kernels, "schedules": schedules}[w]()
        print()
