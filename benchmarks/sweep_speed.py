"""How fast `attncalc sweep` weighs layouts: GPT-3 on 1,024 H100s, 1,536 sequences of 2,048 tokens per
step (Narayanan et al. 2021's GPT-3 batch), the default space.

Prints, for --workers 1 and 2: layouts weighed (candidates), how many fit, how many were timed,
wall seconds and candidates per second; then the two halves of the cost apart: the closed-form
memory alone (every candidate weighed, none timed) and one call of the step-time model.

    python benchmarks/sweep_speed.py [--workers 1,2] [--gpus 1024]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from fractions import Fraction

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from attncalc.core.sweep.memory import MemorySetup  # noqa: E402
from attncalc.core.sweep.search import SweepSetup, sweep  # noqa: E402
from attncalc.core.sweep.space import Space  # noqa: E402
from attncalc.core.sweep.timing import Timed, prepare, time_layout  # noqa: E402
from attncalc.spec.hardware import load_hardware  # noqa: E402
from attncalc.spec.load import load_preset  # noqa: E402


def weigh_only(prepared, lay, batch):
    """No time model: every fitting layout costs one constant (measures the weighing alone)."""
    return Timed(Fraction(1), Fraction(1), {}, Fraction(0), Fraction(1), Fraction(1))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--gpus", type=int, default=1024)
    ap.add_argument("--hw", default="h100-sxm")
    args = ap.parse_args()
    a, hw = load_preset("gpt3"), load_hardware(args.hw)
    seq, batch = 2048, 1536
    setup = SweepSetup(Space(gpus=args.gpus, global_batch=batch, seq=seq), MemorySetup(seq=seq, global_batch=batch),
                       hw.memory_bytes, hw.gpus_per_node or 8)
    t0 = time.perf_counter()
    p = prepare(a, hw, seq=seq)
    print(f"gpt3 on {args.gpus:,} x {hw.name}, {batch:,} x {seq:,} tokens per step; prepare {time.perf_counter() - t0:.3f} s")
    t0 = time.perf_counter()
    w = sweep(a, setup, p, timer=weigh_only)
    dt = time.perf_counter() - t0
    print(f"memory only (closed forms, no timing): {w.tally.candidates:,} candidates, {w.tally.fitting:,} fit, "
          f"{dt:.2f} s, {w.tally.candidates / dt:,.0f} candidates/s")
    from attncalc.core.sweep.memory import Layout

    lays = [Layout(tp, pp, args.gpus // (tp * pp), 1, 1, b, "selective", True, 1, 1)
            for tp in (4, 8) for pp in (8, 16) for b in (1, 2)]
    for lay in lays:
        time_layout(p, lay, batch)  # warm the kernel cache
    t0 = time.perf_counter()
    n = 0
    for _ in range(3):
        for lay in lays:
            time_layout(p, lay, batch)
            n += 1
    print(f"one step-time call (core.time.step.step_time, warm): {(time.perf_counter() - t0) / n * 1e3:.2f} ms")
    for workers in (int(x) for x in args.workers.split(",")):
        t0 = time.perf_counter()
        r = sweep(a, setup, p, workers=workers)
        dt = time.perf_counter() - t0
        t = r.tally
        best = t.best[0]
        print(f"workers {workers}: {t.candidates:,} candidates, {t.fitting:,} fit, {t.timed:,} timed, {dt:.1f} s, "
              f"{t.candidates / dt:,.0f} candidates/s; best {best.layout} step {float(best.step_s):.3f} s")


if __name__ == "__main__":
    main()
