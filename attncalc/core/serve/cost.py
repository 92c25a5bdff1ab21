"""What serving costs: dollars per million tokens and joules per token, from a simulation's makespan,
with the price and power stated as inputs (never looked up).

- $/M tokens = price per GPU-hour × GPUs × makespan (hours) / (tokens / 10^6);
- J/token = watts per GPU × GPUs × makespan (s) / tokens: every GPU drawing the stated power for the
  whole run (an upper reading when the GPUs idle part of the time; the stated figure's own caveat).
Power comes from ``--watts``, or from the hardware file's ``power_watts`` when it has one.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from .sim import SimResult


@dataclass(frozen=True)
class Cost:
    gpus: int
    makespan_s: Fraction
    price_per_gpu_hour: Fraction | None
    watts: Fraction | None
    watts_source: str
    dollars_per_m_output: Fraction | None
    dollars_per_m_total: Fraction | None
    joules_per_output_token: Fraction | None
    joules_per_token: Fraction | None


def serving_cost(r: SimResult, price_per_gpu_hour: Fraction | None, watts: Fraction | None,
                 watts_source: str = "--watts") -> Cost:
    span = Fraction(r.makespan_ns, 10 ** 9)
    out, total = r.output_tokens, r.output_tokens + r.input_tokens
    dm = dt = jo = jt = None
    if price_per_gpu_hour is not None and out:
        dollars = price_per_gpu_hour * r.gpus * span / 3600
        dm, dt = dollars * 10 ** 6 / out, dollars * 10 ** 6 / total
    if watts is not None and out:
        joules = watts * r.gpus * span
        jo, jt = joules / out, joules / total
    return Cost(r.gpus, span, price_per_gpu_hour, watts, watts_source, dm, dt, jo, jt)
