"""Where published layouts land in `attncalc sweep`: Narayanan et al. 2021 Table 1 (every row) and
Llama 3 405B (Dubey et al. 2024 Table 4). For each, the sweep's best layout, the best layout with the
published (tp, pp, cp), how much slower it is than the best, its rank among the (tp, pp, cp) units,
and the one reason the output gives when it is not the best.

Narayanan rows: the publisher's space (cp 1, full recomputation, no ZeRO, no sequence parallelism;
attention materialized and dropout kept, as Megatron-LM ran in 2021), A100 80 GB, the Ampere matmul
constant of the hardware file (fitted on one Korthikanti row, none of these). Llama rows:
the default space (cp held to 1 at 8K tokens), H100, the Hopper constant of the hardware file.

    python benchmarks/sweep_published.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from attncalc.core.sweep.memory import MemorySetup  # noqa: E402
from attncalc.core.sweep.search import SweepSetup, sweep  # noqa: E402
from attncalc.core.sweep.space import Space  # noqa: E402
from attncalc.core.sweep.timing import prepare  # noqa: E402
from attncalc.core.sweep.verdict import regions  # noqa: E402
from attncalc.spec.hardware import load_hardware  # noqa: E402
from attncalc.spec.load import load_preset  # noqa: E402
from tests.step_rows import CALIBRATE, rows  # noqa: E402


def report(name: str, sw, unit_key: tuple[int, int, int], dt: float) -> None:
    regs = regions(sw)
    best = sw.tally.best[0] if sw.tally.best else None
    rank = next((i + 1 for i, g in enumerate(regs) if (g.tp, g.pp, g.cp) == unit_key), None)
    g = regs[rank - 1] if rank else None
    b = "none fits" if best is None else (f"tp {best.layout.tp} pp {best.layout.pp} cp {best.layout.cp} "
                                          f"mb {best.layout.micro_batch} v {best.layout.virtual_stages} "
                                          f"{best.layout.recompute} zero {best.layout.zero}: {float(best.step_s):.3f} s")
    slower = "" if g is None or g.slower is None else f"+{100 * float(g.slower):.1f}%"
    print(f"| {name} | tp {unit_key[0]} pp {unit_key[1]} cp {unit_key[2]} | {b} | {slower} | "
          f"{rank} of {len(regs)} | {'' if g is None else g.reason} | {sw.tally.candidates:,} / {sw.tally.timed:,} "
          f"| {dt:.1f} s |")


def main() -> None:
    used = rows()[0]
    ampere = load_hardware("a100-80gb-sxm").fitted.values["matmul_efficiency"]
    print(f"Ampere matmul constant {float(ampere)} "
          f"(hardware file, fitted on {CALIBRATE['ampere'][0]})\n")
    print("| row | published | sweep's best | published unit slower | rank | reason | candidates / timed | wall |")
    print("|---|---|---|---:|---:|---|---:|---:|")
    for r in used:
        if not r.id.startswith("narayanan2021-t1"):
            continue
        L, hw = r.layout, load_hardware(r.hw)
        p = prepare(r.arch, hw, seq=r.seq, dtype=r.dtype, efficiency=None, attention=r.attention)
        space = Space(gpus=L.gpus, global_batch=L.batch, seq=r.seq, recompute=("full",), zero=(0,),
                      sequence_parallel=(False,), max_micro_batch=8, fixed={"cp": 1})
        t0 = time.perf_counter()
        sw = sweep(r.arch, SweepSetup(space, MemorySetup(seq=r.seq, global_batch=L.batch, flash=False, dropout=True),
                                      hw.memory_bytes, 8, top=5), p)
        report(r.id, sw, (L.tp, L.pp, 1), time.perf_counter() - t0)
    a, hw = load_preset("llama-3.1-405b"), load_hardware("h100-sxm")
    for gpus, batch, seq, cp in ((8192, 2048, 8192, 1), (16384, 2048, 8192, 1), (16384, 128, 131072, 16)):
        space = Space(gpus=gpus, global_batch=batch, seq=seq, max_micro_batch=2, fixed={"cp": 1} if cp == 1 else {})
        t0 = time.perf_counter()
        sw = sweep(a, SweepSetup(space, MemorySetup(seq=seq, global_batch=batch), hw.memory_bytes, 8, top=5),
                   prepare(a, hw, seq=seq))
        report(f"llama3-405b {gpus} GPUs seq {seq}", sw, (8, 16, cp), time.perf_counter() - t0)


if __name__ == "__main__":
    main()
