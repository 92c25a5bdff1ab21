"""Fit the one matmul constant per GPU generation on its calibration row(s) and predict every row
(shared by tests/test_step_published.py and benchmarks/step_validation.py)."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from attncalc.core.time import kernels as K
from attncalc.core.time.step import StepTime, prepare, step_time
from attncalc.errors import WorkloadError
from attncalc.spec.hardware import load_hardware

from .step_rows import CALIBRATE, Row, rows


@dataclass(frozen=True)
class Result:
    row: Row
    generation: str
    calibration: bool
    predicted: StepTime | None
    error: Fraction | None  # predicted / measured - 1
    refused: str = ""


def predict(r: Row, efficiency: Fraction) -> StepTime:
    hw = load_hardware(r.hw)
    return step_time(prepare(r.arch, hw, seq=r.seq, dtype=r.dtype, efficiency=efficiency, attention=r.attention),
                     r.layout)


def fit(cal: list[Row]) -> Fraction:
    """The efficiency (3 decimals, like the hardware files' constants) whose mean signed error over
    the calibration rows is nearest zero: the step time falls as the efficiency rises (bisection)."""
    lo, hi = Fraction(1, 10), Fraction(1)
    for _ in range(40):
        mid = (lo + hi) / 2
        err = sum(predict(r, mid).step_s / r.measured - 1 for r in cal)
        lo, hi = (mid, hi) if err > 0 else (lo, mid)
    return Fraction(round(1000 * (lo + hi) / 2), 1000)


def run() -> tuple[dict[str, Fraction], list[Result], list[tuple[str, str]]]:
    used, skipped = rows()
    gens = {r.id: load_hardware(r.hw).generation for r in used}
    constants = {g: fit([r for r in used if r.id in ids]) if ids else
                 K.matmul_efficiency(load_hardware(next(r.hw for r in used if gens[r.id] == g)))
                 for g, ids in CALIBRATE.items()}
    out = []
    for r in used:
        g = gens[r.id]
        try:
            s = predict(r, constants[g])
        except WorkloadError as e:
            out.append(Result(r, g, r.id in CALIBRATE[g], None, None, str(e)))
            continue
        out.append(Result(r, g, r.id in CALIBRATE[g], s, s.step_s / r.measured - 1))
    return constants, out, skipped


def mean_abs(results: list[Result]) -> Fraction:
    errs = [abs(x.error) for x in results if x.error is not None]
    return sum(errs, Fraction(0)) / len(errs)
