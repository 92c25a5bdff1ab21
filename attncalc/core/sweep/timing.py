"""THE one place the sweep asks the time model for a layout's step: ``core.time.step`` (``prepare``
once per model, hardware and sequence; ``step_time`` per layout). Nothing here models time: every
improvement to ``core.time.step`` reaches the sweep through these two calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Callable

from .memory import Layout

DIMENSIONS = ("tp", "cp", "ep", "pp", "dp")


@dataclass(frozen=True)
class Timed:
    """What the sweep reads off one layout's step (seconds, exact)."""

    step_s: Fraction
    compute_s: Fraction
    exposed: dict[str, Fraction]  # communication on the critical path, per dimension
    bubble_s: Fraction
    tokens_per_s: Fraction
    mfu: Fraction

    @property
    def comm_s(self) -> Fraction:
        return sum(self.exposed.values(), Fraction(0))


def schedule_of(lay: Layout) -> str:
    """1F1B, or interleaved 1F1B with virtual stages (Narayanan et al. 2021 sec. 2.2)."""
    return "interleaved" if lay.virtual_stages > 1 else "1f1b"


def prepare(a, hw, *, seq: int, dtype: str = "bf16", overlap: str = "default", efficiency: Fraction | None = None,
            attention: str = "flash") -> Any:
    try:
        from ..time.step import prepare as step_prepare
    except ImportError:  # pragma: no cover - before core/time/step.py is merged
        from ...errors import WorkloadError

        raise WorkloadError("the training step time model (attncalc/core/time/step.py) is not installed") from None

    return step_prepare(a, hw, seq=seq, dtype=dtype, overlap=overlap, efficiency=efficiency, attention=attention)


def time_layout(prepared: Any, lay: Layout, global_batch: int) -> Timed:
    """The step of ``lay`` under ``core.time.step`` (raises WorkloadError for a layout it refuses)."""
    from ..time.step import TrainLayout, step_time

    t = step_time(prepared, TrainLayout(tp=lay.tp, pp=lay.pp, dp=lay.dp, ep=lay.ep, cp=lay.cp,
                                        micro_batch=lay.micro_batch, global_batch=global_batch,
                                        virtual_stages=lay.virtual_stages, recompute=lay.recompute,
                                        sequence_parallel=lay.sequence_parallel, zero=lay.zero,
                                        schedule=schedule_of(lay)))
    return Timed(t.step_s, t.compute_s, {d: t.exposed.get(d, Fraction(0)) for d in DIMENSIONS}, t.bubble_s,
                 t.tokens_per_s, t.mfu)


Timer = Callable[[Any, Layout, int], Timed]
