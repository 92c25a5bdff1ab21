"""What a sweep says about its layouts: each one's binding constraint, and for every (tp, pp, cp)
unit that lost, the one reason (it does not fit by X GiB; its bubble, its communication or its
compute is what the best layout does not pay).

Shares are of the layout's own step time (the time model's compute, exposed communication per
dimension and pipeline bubble add up to it: ``core.time.step``).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from .search import Result, Sweep
from .timing import DIMENSIONS

GIB = 1 << 30
MEMORY_FULL = Fraction(95, 100)  # a layout using more of the budget is bound by memory
OVERHEAD = Fraction(5, 100)  # an overhead below this share of the step binds nothing


def size_text(n: int) -> str:
    """Bytes as GiB with two decimals, or MiB below one GiB (a near miss stays visible)."""
    return f"{n / GIB:,.2f} GiB" if n >= GIB else f"{n / (1 << 20):,.1f} MiB"


def parts(r: Result) -> dict[str, Fraction]:
    """The step's pieces: compute, the bubble, and each dimension's exposed communication."""
    t = r.timed
    out = {"compute": t.compute_s, "bubble": t.bubble_s}
    for d in DIMENSIONS:
        out[f"{d} comm"] = t.exposed.get(d, Fraction(0))
    return out


def binding(r: Result, budget: int) -> str:
    """Memory when the layout uses >= 95 % of the budget; else its largest overhead (bubble or a
    dimension's exposed communication) when that is >= 5 % of the step; else compute."""
    if r.memory >= MEMORY_FULL * budget:
        return f"memory {100 * r.memory / budget:.1f}%"
    overheads = {k: v for k, v in parts(r).items() if k != "compute"}
    name = max(overheads, key=lambda k: (overheads[k], k)) if overheads else None
    if name is not None and r.step_s and overheads[name] >= OVERHEAD * r.step_s:
        return f"{name} {float(100 * overheads[name] / r.step_s):.1f}%"
    return f"compute {float(100 * parts(r)['compute'] / r.step_s):.1f}%" if r.step_s else "compute"


@dataclass(frozen=True)
class Region:
    """One (tp, pp, cp) unit: its best layout (None when none fits or runs) and why it lost."""

    tp: int
    pp: int
    cp: int
    best: Result | None
    slower: Fraction | None  # step time / the best layout's, minus 1
    reason: str
    miss: int | None  # bytes over the budget of its closest layout, when none fits


def why(r: Result, top: Result) -> str:
    """The piece of ``r``'s step that grew most against ``top``'s, with its share of r's step."""
    mine, theirs = parts(r), parts(top)
    name = max(mine, key=lambda k: (mine[k] - theirs[k], k))
    share = float(100 * mine[name] / r.step_s) if r.step_s else 0.0
    if name == "compute":
        extra = float(100 * (mine[name] - theirs[name]) / theirs[name]) if theirs[name] else 0.0
        return f"compute +{extra:.1f}% ({r.layout.recompute} recomputation, micro-batch {r.layout.micro_batch})"
    return f"{name} {share:.1f}%"


def regions(sw: Sweep) -> list[Region]:
    """Every unit, the best first: those that ran by step time, then those that did not fit by how
    far they missed."""
    t = sw.tally
    top = t.best[0] if t.best else None
    out = []
    for u in sw.units:
        r = t.units.get(u.key)
        if r is None:
            miss = t.unit_miss.get(u.key)
            reason = f"does not fit by {size_text(miss)}" if miss is not None else "no layout runs (schedule rules)"
            out.append(Region(u.tp, u.pp, u.cp, None, None, reason, miss))
            continue
        if top is not None and r.key == top.key:
            out.append(Region(u.tp, u.pp, u.cp, r, Fraction(0), "best", None))
            continue
        slower = r.step_s / top.step_s - 1 if top is not None else None
        out.append(Region(u.tp, u.pp, u.cp, r, slower, why(r, top) if top is not None else "", None))
    ran = sorted((x for x in out if x.best is not None), key=lambda x: x.best.key)
    missed = sorted((x for x in out if x.best is None), key=lambda x: (x.miss is None, x.miss or 0, x.tp, x.pp, x.cp))
    return ran + missed
