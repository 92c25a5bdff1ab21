"""Pipeline-parallel schedules: the step time, the bubble and the activations each stage holds.

Five schedules, each as a closed form (exact rationals) and as an event-level simulation of the
schedule itself (each stage runs its ops in the schedule's order; an op starts when its stage is free
and its inputs are done). Stages are uniform; point-to-point transfers take no time (add them with
``collectives.send_recv``). Notation (Qi et al. 2023, "Zero Bubble Pipeline Parallelism", sec. 2):
per micro-batch and stage, F = forward, B = the backward's input-gradient part, W = its
weight-gradient part, so a full backward is B + W; ``fb`` = a forward chunk and a full backward chunk
run overlapped (DualPipe's F&B). p stages, m micro-batches, v virtual stages (model chunks) per rank.

=============  ===========================================  ===========================  ======================
schedule       bubble (step = work + bubble)                 peak activations, stage s    source
=============  ===========================================  ===========================  ======================
gpipe          (p-1)(F+B+W)                                  m                            Huang et al. 2019, sec. 2.3
1f1b           (p-1)(F+B+W); fraction (p-1)/m                min(p-s, m)                  Narayanan et al. 2021, sec. 2.2.1
interleaved    (p-1)(F+B+W)/v; fraction (p-1)/(v m)          min(2(p-s-1)+(v-1)p+1, vm)/v  Narayanan 2.2.2; Megatron-LM
zb-h1          (p-1)(F+B-W) when W <= min(F, B)              min(p, m)                    Qi et al. 2023, sec. 3.1, Table 2
dualpipe       (p/2-1)(F&B+B_full-3W), B_full = B+W          p+1 (middle ranks), else p   DeepSeek-V3 report, sec. 3.2.1, Table 2
=============  ===========================================  ===========================  ======================

What the simulation adds to the papers (tests/test_schedules.py checks every row on the grid
p <= 16, m <= 64, v <= 4): ZB-H1's bubble is (p-1) max(F+B-W, F, B) for any F, B, W (the paper's form
is the case W <= min(F, B)); DualPipe's table is the bubble of its middle ranks (the most idle) when
F = B and W <= F with max(F, B+W) <= F&B <= F+B+W, and outside that domain ``pipeline_cost`` reports
the simulation. Activations are counted in micro-batches of one stage, from a micro-batch's forward
to the end of its weight gradient. Requirements: interleaved needs v >= 2 and m a multiple of p
(Megatron-LM's ``forward_backward_pipelining_with_interleaving``); zb-h1 needs m >= p; dualpipe
needs p even and m even with m >= 2p (deepseek-ai/DualPipe ``DualPipe.step``).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from math import lcm

from ...errors import WorkloadError
from ..workload import positive

SCHEDULES = ("gpipe", "1f1b", "interleaved", "zb-h1", "dualpipe")
SOURCES = {
    "gpipe": "Huang et al. 2019, GPipe, sec. 2.3: bubble O((K-1)/(M+K-1))",
    "1f1b": "Narayanan et al. 2021, Efficient Large-Scale LM Training on GPU Clusters, sec. 2.2.1: bubble (p-1)/m",
    "interleaved": "Narayanan et al. 2021 sec. 2.2.2: bubble (p-1)/(v m); memory p(1+(p-1)/(pv)): "
                   "Korthikanti et al. 2022 sec. 4.2.3",
    "zb-h1": "Qi et al. 2023, Zero Bubble Pipeline Parallelism, sec. 3.1 and Table 2: (p-1)(T_F+T_B-T_W), memory p M_B",
    "dualpipe": "DeepSeek-V3 Technical Report, sec. 3.2.1, Table 2: (PP/2-1)(F&B+B-3W), activations PP+1",
}


@dataclass(frozen=True)
class StageTimes:
    """One micro-batch through one stage (all its layers): exact seconds (or any unit)."""

    f: Fraction
    b: Fraction  # backward, input-gradient part
    w: Fraction = Fraction(0)  # backward, weight-gradient part (full backward = b + w)
    fb: Fraction | None = None  # DualPipe: a forward and a full backward chunk overlapped

    def __post_init__(self) -> None:
        for k in ("f", "b", "w", "fb"):
            x = getattr(self, k)
            if x is None:
                continue
            if isinstance(x, bool) or not isinstance(x, (int, Fraction)) or x < 0:
                raise WorkloadError(f"stage time {k} must be a non-negative int or Fraction, got {x!r}")
            object.__setattr__(self, k, Fraction(x))
        if self.f + self.b + self.w == 0:
            raise WorkloadError("stage times: F + B + W must be positive")

    @property
    def overlapped(self) -> Fraction:
        """F&B; without a figure, no overlap: F + B + W."""
        return self.f + self.b + self.w if self.fb is None else self.fb


@dataclass(frozen=True)
class PipelineCost:
    schedule: str
    p: int
    m: int
    v: int
    step: Fraction  # the makespan: first forward starts at 0, last op ends
    work: Fraction  # busy time of the most idle stage
    peak_activations: tuple[Fraction, ...]  # per stage, in micro-batches of one stage's activations
    method: str  # "closed form" | "simulation"
    source: str

    @property
    def bubble(self) -> Fraction:
        """Idle time of the most idle stage: step - its work."""
        return self.step - self.work

    @property
    def bubble_fraction(self) -> Fraction:
        """Bubble over the ideal (bubble-free) time, as Narayanan et al. 2021 state it: (p-1)/m for 1F1B."""
        return self.bubble / self.work

    @property
    def peak(self) -> Fraction:
        return max(self.peak_activations)


# --- requirements --------------------------------------------------------------------------------


def check(schedule: str, p: int, m: int, v: int = 1) -> None:
    """The (p, m, v) a schedule runs with, or a WorkloadError saying what it needs."""
    if schedule not in SCHEDULES:
        raise WorkloadError(f"unknown pipeline schedule {schedule!r}; use one of {', '.join(SCHEDULES)}")
    positive("pipeline stages p", p), positive("micro-batches m", m), positive("virtual stages v", v)
    if schedule != "interleaved" and v != 1:
        raise WorkloadError(f"{schedule}: virtual stages (v = {v}) apply to the interleaved schedule only")
    if schedule == "interleaved" and (v < 2 or m % p):
        raise WorkloadError(f"interleaved 1F1B needs v >= 2 and m a multiple of p (Megatron-LM), got p={p} m={m} v={v}")
    if schedule == "zb-h1" and m < p:
        raise WorkloadError(f"zb-h1 needs at least as many micro-batches as stages, got p={p} m={m}")
    if schedule == "dualpipe" and (p % 2 or m % 2 or m < 2 * p):
        raise WorkloadError(f"dualpipe needs p even and m even with m >= 2p (DualPipe.step), got p={p} m={m}")


# --- closed forms --------------------------------------------------------------------------------


def closed_form(schedule: str, p: int, m: int, t: StageTimes, v: int = 1) -> PipelineCost:
    """The published closed form (module table), exact; a WorkloadError outside its domain."""
    check(schedule, p, m, v)
    f, b, w = t.f, t.b, t.w
    full = f + b + w
    work = m * full
    if schedule in ("gpipe", "1f1b"):
        step = work + (p - 1) * full
        peaks = [Fraction(m)] * p if schedule == "gpipe" else [Fraction(min(p - s, m)) for s in range(p)]
    elif schedule == "interleaved":
        step = work + (p - 1) * full / v
        peaks = [Fraction(m * v if m == p else min(2 * (p - s - 1) + (v - 1) * p + 1, m * v), v) for s in range(p)]
    elif schedule == "zb-h1":
        if w > min(f, b):
            raise WorkloadError("zb-h1's closed form (p-1)(F+B-W) holds for W <= min(F, B); simulate otherwise")
        step = work + (p - 1) * (f + b - w)
        peaks = [Fraction(min(p, m))] * p
    else:
        fb = t.overlapped
        if not (f == b and w <= f and max(f, b + w) <= fb <= full):
            raise WorkloadError("dualpipe's closed form holds for F = B, W <= F and max(F, B+W) <= F&B <= F+B+W; "
                                "simulate otherwise")
        # the middle ranks' work: (p+1) forwards and full backwards alone, m - p - 1 overlapped pairs
        work = (p + 1) * full + (m - p - 1) * fb
        step = work + (p // 2 - 1) * (fb + (b + w) - 3 * w)
        peaks = [Fraction(p + 1 if min(r, p - 1 - r) == p // 2 - 1 else p) for r in range(p)]
    return PipelineCost(schedule, p, m, v, step, work, tuple(peaks), "closed form", SOURCES[schedule])


def pipeline_cost(schedule: str, p: int, m: int, t: StageTimes, v: int = 1) -> PipelineCost:
    """The closed form where it holds, else the simulation (``method`` says which)."""
    try:
        return closed_form(schedule, p, m, t, v)
    except WorkloadError:
        check(schedule, p, m, v)
        return simulate(schedule, p, m, t, v)


# --- the schedules, op by op ---------------------------------------------------------------------
# An op is (duration kind, keys it produces, keys it waits for); a key is (pass, direction,
# virtual stage, micro-batch) with pass F, B (input gradient) or W. Kinds: F, B, W, BW (a full
# backward: B and W in one op), FB (DualPipe: F of one micro-batch overlapped with BW of another).

Op = tuple[str, tuple, tuple]


def _f(d: int, vs: int, j: int) -> Op:
    return ("F", (("F", d, vs, j),), (("F", d, vs - 1, j),) if vs else ())


def _b_deps(d: int, vs: int, j: int, last: int) -> tuple:
    return (("F", d, vs, j),) + ((("B", d, vs + 1, j),) if vs < last else ())


def _bw(d: int, vs: int, j: int, last: int) -> Op:
    return ("BW", (("B", d, vs, j), ("W", d, vs, j)), _b_deps(d, vs, j, last))


def _b(d: int, vs: int, j: int, last: int) -> Op:
    return ("B", (("B", d, vs, j),), _b_deps(d, vs, j, last))


def _w(d: int, vs: int, j: int) -> Op:
    return ("W", (("W", d, vs, j),), (("B", d, vs, j),))


def orders(schedule: str, p: int, m: int, v: int = 1) -> list[list[Op]]:
    """Each stage's ops in the order the schedule runs them."""
    check(schedule, p, m, v)
    return {"gpipe": _gpipe, "1f1b": _one_f_one_b, "zb-h1": _zb_h1, "dualpipe": _dualpipe}[schedule](p, m) \
        if schedule != "interleaved" else _interleaved(p, m, v)


def _gpipe(p: int, m: int) -> list[list[Op]]:
    """GPipe (Huang et al. 2019, Fig. 2c): every forward, then every backward, then the flush."""
    return [[_f(0, s, j) for j in range(m)] + [_bw(0, s, j, p - 1) for j in range(m)] for s in range(p)]


def _one_f_one_b(p: int, m: int) -> list[list[Op]]:
    """1F1B / PipeDream-Flush (Narayanan et al. 2021, Fig. 4 top; Megatron-LM
    ``forward_backward_pipelining_without_interleaving``): p-s-1 warm-up forwards, then one forward
    and one backward in turn, then the remaining backwards."""
    out = []
    for s in range(p):
        warm = min(p - s - 1, m)
        o = [_f(0, s, j) for j in range(warm)]
        for i in range(m - warm):
            o += [_f(0, s, warm + i), _bw(0, s, i, p - 1)]
        out.append(o + [_bw(0, s, m - warm + i, p - 1) for i in range(warm)])
    return out


def _zb_h1(p: int, m: int) -> list[list[Op]]:
    """ZB-H1 (Qi et al. 2023, sec. 3.1, Fig. 3; the authors' zb-h1 patch to Megatron-LM): 1F1B with
    the backward split in B and W, stage s running each W s backwards late (its extra in-flight
    micro-batches stay within 1F1B's peak of p), the delayed W's filling the tail."""
    out = []
    for s in range(p):
        warm = min(p - s - 1, m)
        o = [_f(0, s, j) for j in range(warm)]
        nw = 0
        backs = [(warm + i, i) for i in range(m - warm)] + [(None, m - warm + i) for i in range(warm)]
        for fwd, k in backs:
            if fwd is not None:
                o.append(_f(0, s, fwd))
            o.append(_b(0, s, k, p - 1))
            if k >= s:
                o.append(_w(0, s, nw))
                nw += 1
        out.append(o + [_w(0, s, j) for j in range(nw, m)])
    return out


def _interleaved(p: int, m: int, v: int) -> list[list[Op]]:
    """Interleaved 1F1B (Narayanan et al. 2021 sec. 2.2.2, Fig. 4 bottom), in Megatron-LM's order
    (``forward_backward_pipelining_with_interleaving``): rank s holds virtual stages c p + s; the k-th
    forward runs chunk (k // p) mod v of micro-batch (k // pv) p + k mod p, backwards the chunks in
    reverse; 2(p-s-1) + (v-1)p warm-up forwards (all of them when m = p)."""
    total, last = m * v, p * v - 1
    out = []
    for s in range(p):
        warm = total if m == p else min(2 * (p - s - 1) + (v - 1) * p, total)

        def mb(k: int) -> int:
            return (k // (p * v)) * p + k % p

        def fwd(k: int) -> Op:
            return _f(0, (k // p) % v * p + s, mb(k))

        def bwd(k: int) -> Op:
            return _bw(0, (v - 1 - (k // p) % v) * p + s, mb(k), last)

        o = [fwd(k) for k in range(warm)]
        for k in range(total - warm):
            o += [fwd(warm + k), bwd(k)]
        out.append(o + [bwd(total - warm + k) for k in range(warm)])
    return out


def _dualpipe(p: int, m: int) -> list[list[Op]]:
    """DualPipe (DeepSeek-V3 report sec. 3.2.1, Fig. 5), in the order of deepseek-ai/DualPipe
    ``DualPipe.step``: m/2 micro-batches enter at each end; rank r holds stage r of the forward
    direction and stage p-1-r of the reverse one. Its eight steps: nF0, nF0F1, nB1W1F1, nF0B1F1B0
    (overlapped pairs; the middle ranks run their first pair apart), nB1F1B0, nB1B0, nWB0, nW."""
    half = p // 2
    out = []
    for r in range(p):
        hr, second = min(r, p - 1 - r), int(r >= half)
        nf, nb, wq, o = [0, 0], [0, 0], [], []

        def stage(d: int) -> int:
            return r if d == 0 else p - 1 - r

        def fwd(phase: int) -> None:
            d = phase ^ second
            o.append(_f(d, stage(d), nf[d]))
            nf[d] += 1

        def bwd(phase: int, zb: bool = False) -> None:
            d = phase ^ second
            if zb:
                o.append(_b(d, stage(d), nb[d], p - 1))
                wq.append((d, stage(d), nb[d]))
            else:
                o.append(_bw(d, stage(d), nb[d], p - 1))
            nb[d] += 1

        def both(p0: int, p1: int) -> None:
            d0, d1 = p0 ^ second, p1 ^ second
            a, c = _f(d0, stage(d0), nf[d0]), _bw(d1, stage(d1), nb[d1], p - 1)
            o.append(("FB", a[1] + c[1], a[2] + c[2]))
            nf[d0] += 1
            nb[d1] += 1

        def weight() -> None:
            o.append(_w(*wq.pop(0)))

        for _ in range(2 * (half - hr - 1)):
            fwd(0)
        for _ in range(hr + 1):
            fwd(0), fwd(1)
        for _ in range(half - hr - 1):
            bwd(1, True), weight(), fwd(1)
        for i in range(m // 2 - p + hr + 1):
            if i == 0 and hr == half - 1:
                fwd(0), bwd(1)  # "We don't overlap these two chunks to further reduce bubble size"
            else:
                both(0, 1)
            both(1, 0)
        for _ in range(half - hr - 1):
            bwd(1), both(1, 0)
        zb = False
        for i in range(hr + 1):
            zb = zb or (i == (hr + 1) // 2 and hr % 2 == 1)
            bwd(1, zb)
            zb = zb or (i == (hr + 1) // 2 and hr % 2 == 0)
            bwd(0, zb)
        for _ in range(half - hr - 1):
            weight(), bwd(0, True)
        for _ in range(hr + 1):
            weight()
        out.append(o)
    return out


# --- the event simulation ------------------------------------------------------------------------


def run(stage_ops: list[list[Op]], durations: dict[str, Fraction]) -> tuple[Fraction, list[Fraction]]:
    """Each stage runs its ops in order; an op starts when the stage is free and every key it waits
    for is done. Returns (makespan, busy time per stage). A schedule that waits on a key no stage
    produces before it is a deadlock: WorkloadError."""
    # Exact and fast: every duration scaled to an integer by the lcm of the denominators.
    scale = lcm(*(Fraction(x).denominator for x in durations.values()))
    ticks = {k: int(Fraction(x) * scale) for k, x in durations.items()}
    n = len(stage_ops)
    done: dict[tuple, int] = {}
    waiting: dict[tuple, list[int]] = {}
    pos, free = [0] * n, [0] * n
    todo = list(range(n))
    while todo:
        s = todo.pop()
        ops, i, t = stage_ops[s], pos[s], free[s]
        while i < len(ops):
            kind, made, needs = ops[i]
            start, missing = t, None
            for key in needs:
                at = done.get(key)
                if at is None:
                    missing = key
                    break
                if at > start:
                    start = at
            if missing is not None:
                waiting.setdefault(missing, []).append(s)
                break
            t = start + ticks[kind]
            i += 1
            for key in made:
                done[key] = t
                woken = waiting.pop(key, None)
                if woken:
                    todo.extend(woken)
        pos[s], free[s] = i, t
    if any(pos[s] != len(stage_ops[s]) for s in range(n)):
        raise WorkloadError("pipeline schedule deadlocks: an op waits on one no stage runs before it")
    busy = [Fraction(sum(ticks[o[0]] for o in ops), scale) for ops in stage_ops]
    return Fraction(max(free), scale), busy


def in_flight(ops: list[Op]) -> int:
    """Most micro-batch chunks a stage holds activations for: from a forward to its weight gradient."""
    cur = peak = 0
    for _, made, _ in ops:
        for key in made:
            cur += (key[0] == "F") - (key[0] == "W")
        peak = max(peak, cur)
    return peak


def simulate(schedule: str, p: int, m: int, t: StageTimes, v: int = 1) -> PipelineCost:
    """The schedule run op by op (``orders`` then ``run``), exact: the reference the closed forms are
    tested against."""
    ops = orders(schedule, p, m, v)
    d = {"F": t.f / v, "B": t.b / v, "W": t.w / v, "BW": (t.b + t.w) / v, "FB": t.overlapped}
    step, busy = run(ops, d)
    return PipelineCost(schedule, p, m, v, step, min(busy), tuple(Fraction(in_flight(o), v) for o in ops),
                        "simulation", SOURCES[schedule])
