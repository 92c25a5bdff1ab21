"""Efficiencies fitted exactly to what a user measured: the estimate equals the measured time."""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction

from ...errors import WorkloadError
from .roofline import PassTime
from .setup import Efficiency, Setup


@dataclass(frozen=True)
class Measured:
    """What the user measured for this model and workload, to fit the efficiencies."""

    prefill_s: Fraction | None = None
    decode_s: Fraction | None = None  # per step (per output token of each sequence)
    decode_tokens_per_s: Fraction | None = None  # all sequences together: batch / step time

    def any(self) -> bool:
        return any(v is not None for v in (self.prefill_s, self.decode_s, self.decode_tokens_per_s))



def _solve(pairs: list[tuple[Fraction, Fraction]], const: Fraction, target: Fraction) -> Fraction | None:
    """Solve sum_p max(a_p / e, b_p) + const = target for e > 0 exactly (a_p, b_p >= 0).

    The left side falls as e grows; between breakpoints e_p = a_p / b_p the set S of parts with
    a_p / e >= b_p is fixed, and e = A_S / (target - const - B_notS)."""
    pairs = [(x, y) for x, y in pairs if x or y]
    if not pairs:
        return None
    cuts = sorted({x / y for x, y in pairs if y and x} | {Fraction(0)})
    cuts.append(None)  # +infinity
    for lo, hi in zip(cuts, cuts[1:]):
        probe = lo + 1 if hi is None else (lo + hi) / 2
        a_s = sum((x for x, y in pairs if x / probe >= y), Fraction(0))
        b_n = sum((y for x, y in pairs if x / probe < y), Fraction(0))
        rest = target - const - b_n
        if a_s and rest > 0:
            e = a_s / rest
            if e >= lo and (hi is None or e <= hi):
                return e
    return None


def _fitted(e: Fraction, which: str, secs: Fraction) -> Fraction:
    """A fitted efficiency to 6 digits; below one millionth (a time a million times the bound, which
    would round to 0) it is refused: the measurement is then in the wrong unit or of something else."""
    if e < Fraction(1, 10**6):
        raise WorkloadError(f"measured {which} time {float(secs):.6g} s is over a million times the roofline "
                            "bound (a fitted efficiency below 1e-6): check the unit (seconds), the hardware and the "
                            "workload")
    return e.limit_denominator(10**6)


def fit_efficiency(measured: dict[str, tuple[PassTime, Fraction]], base: Efficiency = Efficiency(),
                   rounds: int = 4) -> Efficiency:
    """Efficiencies that make the estimate equal the measured times given.

    ``measured``: {"prefill": (pass, seconds), "decode": (pass, seconds per step)}. Prefill fits the
    compute efficiency (memory held), decode the memory efficiency (compute held); with both, the two
    fits alternate a few rounds (each rounded to 6 significant digits as a rational)."""
    ec, em = base.compute, base.memory
    order = [k for k in ("prefill", "decode", "training") if k in measured]
    if not order:
        return base
    for _ in range(rounds if len(order) > 1 else 1):
        for k in order:
            pt, secs = measured[k]
            if secs <= 0:
                raise WorkloadError(f"measured {k} time must be positive")
            const = pt.comm_estimate_s
            if k == "decode":
                pairs = [(t.memory_s, t.compute_s / ec) for t in pt.times]
                e = _solve(pairs, const, secs)
                if e is None:
                    raise WorkloadError(f"measured {k} time {float(secs):.6g} s is below what compute alone "
                                        f"needs at compute efficiency {float(ec):.3g}: no memory efficiency fits")
                em = _fitted(e, k, secs)
            else:
                pairs = [(t.compute_s, t.memory_s / em) for t in pt.times]
                e = _solve(pairs, const, secs)
                if e is None:
                    raise WorkloadError(f"measured {k} time {float(secs):.6g} s is below what memory alone "
                                        f"needs at memory efficiency {float(em):.3g}: no compute efficiency fits")
                ec = _fitted(e, k, secs)
    for k, v in (("compute", ec), ("memory", em)):
        if v > 1:
            raise WorkloadError(f"the measured {' and '.join(order)} time is below the roofline lower bound "
                                f"({k} efficiency {float(v):.3g} > 1): check the hardware file, dtype and workload")
    src = "fitted to measured " + " and ".join(order)
    return Efficiency(ec, em, base.network, src)


def with_efficiency(setup: Setup, e: Efficiency) -> Setup:
    return replace(setup, efficiency=e)
