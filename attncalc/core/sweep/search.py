"""The training sweep: weigh every layout of the space, time the ones that fit, rank them.

Per (tp, pp, cp) unit (``space.units``), in a fixed order, every layout is:
1. checked against the schedule's rule (interleaved 1F1B needs the micro-batches a multiple of pp:
   ``core.time.schedules.check``);
2. weighed: memory per GPU by the closed form (``memory.TrainingMemoryModel``, `fit`'s arithmetic),
   refused when over the budget. Memory never falls as the micro-batch grows (each stage keeps
   min(in flight, m)·b sequences' activations, m = B / (dp·b)), so once a micro-batch does not fit
   the larger ones are counted as not fitting without being weighed;
3. timed by ``timing.time_layout`` (the time model's one entry point) when it fits, unless a fitting
   sibling with less recomputation or ZeRO 1 dominates it (``DOMINANCE``): then it waits, with the
   sibling's step time as its lower bound, and ``settle`` times it only if at that bound it could
   still enter the results, the frontier or its unit's best (exact; ``--exhaustive`` times all).

The result keeps the best layouts, the Pareto frontier of step time against memory per GPU, the
best layout of every unit (to say why each lost to the best), and the refusals counted by reason.
Every merge orders by (step time, memory, layout), so ``--workers N`` gives the same result for any N.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, NamedTuple

from ...errors import WorkloadError
from ...spec.arch import Architecture
from ..memory.activations import RECOMPUTE
from ..time.schedules import check as schedule_check
from .memory import Layout, MemorySetup, TrainingMemoryModel
from .space import Space, Unit, expert_degrees, micro_batches, units, virtual_stages
from .timing import Timed, Timer, time_layout

DOMINANCE = ("more recomputation (none, selective, full) never makes a step faster, nor ZeRO 0 or 2 against ZeRO 1 "
             "(ZeRO 1 and 2: the same reduce-scatter of the gradients and all-gather of the weights, which move no more "
             "than ZeRO 0's all-reduce of the gradients, and the optimizer step on a shard)")
DOMINATED = "not timed: a layout with less recomputation or ZeRO 1 fits and is at least as fast"
FASTER_ZERO = {(1, 2), (1, 0), (2, 0)}  # (t, s): ZeRO t is never slower than ZeRO s


class Result(NamedTuple):
    step_s: Fraction
    memory: int
    layout: Layout
    timed: Timed

    @property
    def key(self) -> tuple:
        return (self.step_s, self.memory, self.layout)


@dataclass
class Tally:
    """What one share of the space gave: counts, the best, the frontier, each unit's best."""

    candidates: int = 0
    fitting: int = 0
    timed: int = 0
    best: list[Result] = field(default_factory=list)
    frontier: list[Result] = field(default_factory=list)
    units: dict[tuple, Result | None] = field(default_factory=dict)
    unit_miss: dict[tuple, int] = field(default_factory=dict)  # unit -> least bytes over the budget
    rejected: dict[str, int] = field(default_factory=dict)
    closest_miss: int | None = None  # least bytes over the budget of any layout that did not fit
    deferred: list[tuple] = field(default_factory=list)  # (bound, memory, layout, unit): dominated, not timed yet

    def missed(self, unit: tuple, excess: int) -> None:
        if self.closest_miss is None or excess < self.closest_miss:
            self.closest_miss = excess
        if unit not in self.unit_miss or excess < self.unit_miss[unit]:
            self.unit_miss[unit] = excess

    def refuse(self, reason: str, n: int = 1) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + n

    def keep(self, r: Result, top: int) -> None:
        if len(self.best) < top or r.key < self.best[-1].key:
            insort(self.best, r, key=_key)
            del self.best[top:]
        if not beaten(self.frontier, r.key, r.memory):
            f = self.frontier
            i = bisect_left(f, r.key, key=_key)
            j = i
            while j < len(f) and f[j].memory >= r.memory:
                j += 1
            f[i:j] = [r]

    def merge(self, other: "Tally", top: int) -> None:
        self.candidates += other.candidates
        self.fitting += other.fitting
        self.timed += other.timed
        self.best = sorted(self.best + other.best, key=lambda x: x.key)[:top]
        self.frontier = pareto(self.frontier + other.frontier)
        self.units.update(other.units)
        self.unit_miss.update(other.unit_miss)
        self.deferred += other.deferred
        for k, v in other.rejected.items():
            self.refuse(k, v)
        if other.closest_miss is not None:
            self.closest_miss = other.closest_miss if self.closest_miss is None else min(self.closest_miss,
                                                                                         other.closest_miss)

    def finish(self, top: int) -> "Tally":
        self.best = sorted(self.best, key=lambda x: x.key)[:top]
        return self


def _key(r: Result) -> tuple:
    return r.key


def beaten(frontier: list[Result], key: tuple, memory: int) -> bool:
    """Whether a frontier (ordered by key, memory falling) holds a layout ahead of ``key`` in the
    order with no more memory: the last one ahead has the least memory of those ahead."""
    i = bisect_left(frontier, key, key=_key)
    return i > 0 and frontier[i - 1].memory <= memory


def pareto(rs: list[Result]) -> list[Result]:
    """The layouts no other beats on both step time and memory per GPU (the first by layout on ties)."""
    out: list[Result] = []
    for r in sorted(rs, key=lambda x: x.key):
        if not out or r.memory < out[-1].memory:
            out.append(r)
    return out


@dataclass(frozen=True)
class SweepSetup:
    space: Space
    memory: MemorySetup
    budget: int  # bytes per GPU
    max_tp: int
    top: int = 10
    exhaustive: bool = False  # time every layout that fits (no dominance)


def _reason(err: WorkloadError) -> str:
    """A refusal's rule without its numbers (the counts group by rule)."""
    text = str(err)
    for cut in (", got", " got ", " ("):
        if cut in text:
            text = text.split(cut, 1)[0]
    return text


def _schedule_rule(pp: int, m: int, v: int) -> str | None:
    try:
        schedule_check("interleaved" if v > 1 else "1f1b", pp, m, v)
    except WorkloadError as err:
        return f"schedule: {_reason(err)}"
    return None


RANK = {r: i for i, r in enumerate(RECOMPUTE)}


def _below(t: tuple[int, str], s_: tuple[int, str]) -> bool:
    """(zero, recompute) ``t`` is never slower than ``s_`` (``DOMINANCE``): no more recomputation,
    and the same ZeRO stage, or ZeRO 1 against 0 or 2, or 2 against 0."""
    (zt, rt), (zs, rs) = t, s_
    return RANK[rt] <= RANK[rs] and (zt == zs or (zt, zs) in FASTER_ZERO) and t != s_


def sweep_unit(a: Architecture, s: SweepSetup, mm: TrainingMemoryModel, prepared: Any, timer: Timer,
               u: Unit, tally: Tally) -> None:
    """Weigh every layout of one (tp, pp, cp) unit; time the ones that fit and no sibling dominates;
    defer the dominated ones with their bound (``Tally.deferred``)."""
    sp = s.space
    dp = sp.gpus // (u.tp * u.pp * u.cp)
    vs = virtual_stages(a, sp, u.pp)
    bs = micro_batches(sp, dp)
    sps = sp.sequence_parallel if u.tp > 1 else (False,)
    grid = [(z, rc) for z in sp.zero for rc in sp.recompute]
    ruled: dict[tuple[int, int], str | None] = {}  # (m, v) -> the schedule's refusal, if any
    for ep in expert_degrees(a, dp, u.cp, sp):
        states = {z: mm.states(u.tp, u.pp, ep, z, dp * u.cp) for z in sp.zero}
        for seqpar in sps:
            terms = {rc: mm.terms(u.tp, u.pp, ep, seqpar, rc) for rc in sp.recompute}
            for v in vs:
                over: set[tuple[int, str]] = set()  # (zero, recompute) whose smaller micro-batch did not fit
                for b in bs:
                    tally.candidates += len(grid)
                    m = sp.global_batch // (dp * b)
                    if u.pp > 1:
                        rule = ruled.get((m, v), "")
                        if rule == "":
                            rule = ruled[(m, v)] = _schedule_rule(u.pp, m, v)
                        if rule is not None:
                            tally.refuse(rule, len(grid))
                            continue
                    fits: dict[tuple[int, str], int] = {}
                    for g in grid:
                        if g in over:
                            tally.refuse("memory")
                            continue
                        mem = mm.peak_of(terms[g[1]], states[g[0]], u.pp, v, m, b, u.cp)
                        if mem > s.budget:
                            over.add(g)
                            tally.refuse("memory")
                            tally.missed(u.key, mem - s.budget)
                        else:
                            fits[g] = mem
                    tally.fitting += len(fits)
                    times: dict[tuple[int, str], Fraction | None] = {}
                    later = []
                    for g, mem in fits.items():
                        lay = Layout(u.tp, u.pp, dp, ep, u.cp, b, g[1], seqpar, v, g[0])
                        if not s.exhaustive and any(_below(t, g) for t in fits):
                            later.append((g, mem, lay))
                            continue
                        times[g] = _time(tally, s, prepared, timer, lay, mem, u.key)
                    for g, mem, lay in later:
                        bounds = [times[t] for t in times if _below(t, g)]
                        if bounds and all(x is not None for x in bounds):
                            tally.deferred.append((max(bounds), mem, lay, u.key))
                        else:
                            _time(tally, s, prepared, timer, lay, mem, u.key)


def _time(tally: Tally, s: SweepSetup, prepared: Any, timer: Timer, lay: Layout, mem: int,
          unit: tuple) -> Fraction | None:
    try:
        t = timer(prepared, lay, s.space.global_batch)
    except WorkloadError as err:
        tally.refuse(f"time model: {_reason(err)}")
        return None
    tally.timed += 1
    r = Result(t.step_s, mem, lay, t)
    tally.keep(r, s.top)
    best = tally.units.get(unit)
    if best is None or r.key < best.key:
        tally.units[unit] = r
    return t.step_s


def settle(tally: Tally, s: SweepSetup, prepared: Any, timer: Timer) -> None:
    """The deferred layouts, least bound first: each is timed only if, at its bound, it could still
    enter the best ``top``, the frontier or its unit's best; else it is counted as dominated. Exact
    given ``DOMINANCE`` (tests/test_sweep.py checks it against the exhaustive search)."""
    tally.finish(s.top)
    # float(bound) first: a fast comparison that never contradicts the exact order it precedes
    for bound, mem, lay, unit in sorted(tally.deferred, key=lambda x: (float(x[0]), x[0], x[1], x[2])):
        low = (bound, mem, lay)
        best = tally.best
        could = len(best) < s.top or low < best[min(len(best), s.top) - 1].key
        could = could or not beaten(tally.frontier, low, mem)
        ub = tally.units.get(unit)
        could = could or ub is None or low < ub.key
        if could:
            _time(tally, s, prepared, timer, lay, mem, unit)
        else:
            tally.refuse(DOMINATED)
    tally.deferred = []


# --- workers -------------------------------------------------------------------------------------

_STATE: dict[str, Any] = {}


def _work(indices: list[int]) -> Tally:
    st = _STATE
    tally = Tally()
    for i in indices:
        sweep_unit(st["a"], st["setup"], st["mm"], st["prepared"], st["timer"], st["units"][i], tally)
    return tally.finish(st["setup"].top)


def _init_spawned(a: Architecture, setup: SweepSetup, prepare_args: tuple, timer: Timer, us: list[Unit]) -> None:
    from .timing import prepare

    hw, kw = prepare_args
    _STATE.update(a=a, setup=setup, mm=TrainingMemoryModel(a, setup.memory),
                  prepared=prepare(a, hw, **kw) if hw is not None else None,
                  timer=timer, units=us)


@dataclass(frozen=True)
class Sweep:
    setup: SweepSetup
    units: list[Unit]
    excluded: dict[str, int]
    tally: Tally


def sweep(a: Architecture, s: SweepSetup, prepared: Any, *, timer: Timer = time_layout, workers: int = 1,
          prepare_args: tuple = (None, {})) -> Sweep:
    """Every layout of ``s.space`` weighed, the fitting ones timed; the same result for any ``workers``."""
    s.space.check()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise WorkloadError(f"--workers must be an integer >= 1, got {workers!r}")
    us, excluded = units(a, s.space, s.max_tp)
    mm = TrainingMemoryModel(a, s.memory)
    total = Tally()
    jobs = [list(range(i, len(us), max(1, workers * 4)))
            for i in range(min(len(us), max(1, workers * 4)))]  # units dealt round robin
    if workers == 1 or len(us) <= 1:
        _STATE.update(a=a, setup=s, mm=mm, prepared=prepared, timer=timer, units=us)
        for job in jobs:
            total.merge(_work(job), s.top)
    else:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        if "fork" in mp.get_all_start_methods():
            _STATE.update(a=a, setup=s, mm=mm, prepared=prepared, timer=timer, units=us)
            pool = ProcessPoolExecutor(workers, mp_context=mp.get_context("fork"))
        else:  # pragma: no cover - spawn: each worker evaluates the description itself
            pool = ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_init_spawned,
                                       initargs=(a, s, prepare_args, timer, us))
        with pool:
            for part in pool.map(_work, jobs):
                total.merge(part, s.top)
    settle(total, s, prepared, timer)
    return Sweep(s, us, dict(excluded.counts), total.finish(s.top))
