"""The README's "Training step time" table: core/time/step.py against published training runs
(tests/golden/runs/registry.json), one matmul constant per GPU generation fitted on the rows named
in tests/step_rows.py CALIBRATE, every other row held out.

    .venv/bin/python benchmarks/step_validation.py          # markdown table and summary on stdout
    .venv/bin/python benchmarks/step_validation.py speed    # milliseconds per layout (step_time)
"""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.step_fit import mean_abs, run  # noqa: E402
from tests.step_rows import CALIBRATE  # noqa: E402


def pct(x: Fraction) -> str:
    return f"{float(x) * 100:+.1f}%"


def main() -> None:
    constants, results, skipped = run()
    print("| row | model | GPUs | tp·pp·dp·cp·ep | dtype | measured s | predicted s | error | MFU (exact causal) |")
    print("|---|---|---:|---|---|---:|---:|---:|---:|")
    for x in results:
        r, L = x.row, x.row.layout
        split = f"{L.tp}·{L.pp}·{L.dp}·{L.cp}·{L.ep}"
        tag = " (calibration)" if x.calibration else ""
        if x.predicted is None:
            print(f"| {r.id}{tag} | {r.model} | {L.gpus:,} | {split} | {r.dtype} | {float(r.measured):.2f} | refused | "
                  f"{x.refused} | |")
            continue
        print(f"| {r.id}{tag} | {r.model} | {L.gpus:,} | {split} | {r.dtype} | {float(r.measured):.2f} | "
              f"{float(x.predicted.step_s):.2f} | {pct(x.error)} | {float(x.predicted.mfu) * 100:.1f}% |")
    held = [x for x in results if not x.calibration and x.error is not None]
    print()
    for g, eta in constants.items():
        on = ", ".join(CALIBRATE[g]) or "no training row: the hardware file's [fitted] constant (one H200 prefill pass)"
        print(f"- {g}: matmul efficiency {float(eta):.3f}, fitted on {on}")
    print(f"- held out: {len(held)} rows, mean absolute error {float(mean_abs(held)) * 100:.1f}%, "
          f"worst {pct(max((x.error for x in held), key=abs))}")
    rest = [x for x in held if not (x.row.layout.zero == 3 and x.row.source == "narayanan2021")]
    print(f"- held out without the DeepSpeed ZeRO-3 rows: {len(rest)} rows, mean absolute error "
          f"{float(mean_abs(rest)) * 100:.1f}%")
    dense = [x for x in rest if not x.row.arch.is_moe]
    print(f"- held out, dense models, without the DeepSpeed ZeRO-3 rows: {len(dense)} rows, mean absolute error "
          f"{float(mean_abs(dense)) * 100:.1f}%")
    groups = {
        "Megatron-LM papers, tensor + pipeline (Narayanan 2021 PTD-P, Korthikanti 2022)":
            lambda x: x.row.source in ("narayanan2021", "korthikanti2022") and x.row.layout.zero != 3,
        "DeepSpeed ZeRO-3 (Narayanan 2021 Table 2)": lambda x: x.row.layout.zero == 3 and x.row.source == "narayanan2021",
        "NeMo / Megatron-Bridge, dense (H100, B200)":
            lambda x: x.row.source in ("nemo_2407", "mbridge_perf") and not x.row.arch.is_moe,
        "NeMo / Megatron-Bridge, mixture of experts (H100, B200)":
            lambda x: x.row.source in ("nemo_2407", "mbridge_perf") and x.row.arch.is_moe,
    }
    for name, keep in groups.items():
        sel = [x for x in held if keep(x)]
        if sel:
            print(f"- {name}: {len(sel)} rows, mean absolute error {float(mean_abs(sel)) * 100:.1f}%")
    bound_ok = all(x.predicted.bound_s <= x.row.measured for x in results if x.predicted is not None)
    print(f"- roofline bound (model FLOPs / GPUs x dense peak) below every measured step: {bound_ok}")
    print(f"- rows not used: {len(skipped)} (tests/step_rows.py says why for each)")


def speed() -> None:
    """step_time per layout after prepare, over 200 layouts (micro-batch and global batch varied)."""
    import time

    from attncalc.core.time.step import TrainLayout, prepare, step_time
    from attncalc.spec.hardware import load_hardware
    from attncalc.spec.load import load_preset

    hw = load_hardware("h100-sxm")
    for name, base in (("llama-3-8b", dict(dp=8)), ("llama-3-70b", dict(tp=4, pp=8, dp=2)),
                       ("deepseek-v3", dict(pp=16, dp=64, ep=64))):
        p = prepare(load_preset(name), hw, seq=4096)
        t = time.perf_counter()
        n = 0
        for mb in (1, 2, 4, 8):
            for k in range(1, 51):
                step_time(p, TrainLayout(micro_batch=mb, global_batch=base["dp"] * mb * k * 2, **base))
                n += 1
        print(f"{name}: {(time.perf_counter() - t) / n * 1000:.2f} ms per layout ({n} layouts)")


if __name__ == "__main__":
    speed() if sys.argv[1:] == ["speed"] else main()
