"""Fitting the few constants the time models take from measurements, reproducibly.

Each hardware file's ``[fitted]`` table holds the result of these functions on the rows its
``fitted_on`` names; tests/test_collectives.py and tests/test_kernel_time.py run them again on the
same rows and require the same constants, then measure the error on the rows held out.

- ``fit_minimax``: the grid value whose worst relative error over the calibration rows is least
  (a Chebyshev fit: no row is allowed to be far off to make the others close);
- ``fit_custom_latency``: the one-shot all-reduce latency that reproduces one measured row exactly.

Exact rationals; the grids are rationals too (k / 1000).
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from typing import Callable, Iterable, Sequence

from ...errors import WorkloadError
from ...spec.hardware import Fitted, Hardware


def relative_error(predicted: Fraction, measured: Fraction) -> Fraction:
    return predicted / measured - 1


def fit_minimax(grid: Iterable[Fraction], rows: Sequence, predict: Callable[[Fraction, object], Fraction],
                measured: Callable[[object], Fraction]) -> tuple[Fraction, Fraction]:
    """(value, worst |error|) over ``rows`` for the grid value with the least worst error; ties go
    to the smaller value."""
    best: tuple[Fraction, Fraction] | None = None
    for x in grid:
        worst = max(abs(relative_error(predict(x, r), measured(r))) for r in rows)
        if best is None or worst < best[1]:
            best = (x, worst)
    if best is None:
        raise WorkloadError("nothing to fit: an empty grid")
    return best


def with_fitted(hw: Hardware, **values: Fraction) -> Hardware:
    """``hw`` with these ``[fitted]`` values (others kept): for fitting and for what-if runs."""
    old = hw.fitted.values if hw.fitted else {}
    return replace(hw, fitted=Fitted(hw.fitted.fitted_on if hw.fitted else "given", {**old, **values}))


def efficiency_grid(lo: int = 300, hi: int = 1000) -> list[Fraction]:
    return [Fraction(k, 1000) for k in range(lo, hi + 1)]


def fit_collective_efficiency(hw: Hardware, rows: Sequence[tuple[str, int, int, Fraction]]) -> tuple[Fraction, Fraction]:
    """The intra-node efficiency (k / 1000) that makes NCCL's model fit ``rows`` (op, GPUs, bytes,
    measured seconds) best in the minimax sense; returns (efficiency, worst |error|)."""
    from .collectives import collective

    def predict(eff: Fraction, r: tuple) -> Fraction:
        return collective(r[0], r[2], r[1], with_fitted(hw, intra_node_efficiency=eff)).time

    return fit_minimax(efficiency_grid(), rows, predict, lambda r: r[3])


def fit_custom_latency(hw: Hardware, gpus: int, nbytes: int, measured: Fraction) -> int:
    """The per-step latency (whole nanoseconds, rounded) of the custom one-shot all-reduce that
    reproduces one measured row: measured - (n-1) S / (line rate x fitted efficiency)."""
    from .collectives import tiers

    intra, _ = tiers(hw, gpus)
    if intra is None:
        raise WorkloadError(f"{hw.name}: no intra-node link to fit")
    lat = measured - Fraction((gpus - 1) * nbytes) / intra.bytes_per_s
    if lat <= 0:
        raise WorkloadError("the measured one-shot all-reduce is faster than its bytes alone")
    return round(lat * 10**9)


def fit_matmul_efficiency(hw: Hardware, predict: Callable[[Hardware], Fraction], measured: Fraction) -> Fraction:
    """The matmul efficiency (k / 1000) whose predicted pass time is closest to ``measured``:
    ``predict(hw with that efficiency)`` falls as the efficiency grows, so bisect for the crossing
    and keep the nearer of its two grid neighbours."""

    def err(k: int) -> Fraction:
        return relative_error(predict(with_fitted(hw, matmul_efficiency=Fraction(k, 1000))), measured)

    lo, hi = 1, 1000
    if err(hi) > 0:
        raise WorkloadError("the measured pass is faster than the model at full peak: check the workload")
    if err(lo) < 0:
        raise WorkloadError("the measured pass is slower than the model at 0.1% of peak")
    while hi - lo > 1:  # err(lo) >= 0 >= err(hi)
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if err(mid) >= 0 else (lo, mid)
    k = lo if abs(err(lo)) <= abs(err(hi)) else hi
    return Fraction(k, 1000)
