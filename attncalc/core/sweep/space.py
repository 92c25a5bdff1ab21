"""The training layouts of a sweep: the degrees that multiply to the GPUs, and the rules each must
meet before it is weighed (the rules of ``core.memory.layout``: ``check_tp``, ``check_pp``,
``Parallelism.check``; and ``ActivationSettings.check``'s cp | seq).

The space is cut into units of (tp, pp, cp): each unit fixes dp = GPUs / (tp·pp·cp), and inside it
ep, ZeRO, sequence parallelism, recomputation, the micro-batch and virtual stages vary. Units are
what ``--workers`` deals out, in a fixed order, so the result does not depend on the workers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ...errors import WorkloadError
from ...spec.arch import Architecture
from ..memory.activations import RECOMPUTE
from ..memory.layout import check_tp
from ..memory.layout import stage_layers
from ..parts.model import stack_layers


def divisors(n: int) -> list[int]:
    small = [d for d in range(1, int(n ** 0.5) + 1) if n % d == 0]
    return sorted(set(small + [n // d for d in small]))


@dataclass(frozen=True)
class Space:
    """What may vary (each a tuple of the values tried) and the fixed workload."""

    gpus: int
    global_batch: int
    seq: int
    max_tp: int | None = None  # default: the GPUs of one node (tensor parallelism stays on NVLink)
    max_cp: int | None = None
    max_micro_batch: int | None = None
    max_virtual_stages: int = 8
    recompute: tuple[str, ...] = RECOMPUTE
    zero: tuple[int, ...] = (0, 1, 2, 3)
    sequence_parallel: tuple[bool, ...] = (False, True)  # with tp > 1 (tp = 1: off)
    fixed: dict = field(default_factory=dict)  # a degree held to one value: {"tp": 8}

    def check(self) -> "Space":
        for name in ("gpus", "global_batch", "seq"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise WorkloadError(f"--{name.replace('_', '-')} must be an integer >= 1, got {v!r}")
        for r in self.recompute:
            if r not in RECOMPUTE:
                raise WorkloadError(f"--recompute must be among {', '.join(RECOMPUTE)}, got {r!r}")
        for z in self.zero:
            if z not in (0, 1, 2, 3):
                raise WorkloadError(f"--zero must be among 0, 1, 2, 3, got {z!r}")
        return self


@dataclass(frozen=True)
class Unit:
    tp: int
    pp: int
    cp: int

    @property
    def key(self) -> tuple[int, int, int]:
        return (self.tp, self.pp, self.cp)


@dataclass
class Excluded:
    """Degree choices left out by a rule, counted per rule (before any layout is built)."""

    counts: dict[str, int] = field(default_factory=dict)

    def add(self, rule: str, n: int = 1) -> None:
        self.counts[rule] = self.counts.get(rule, 0) + n


def _allowed(values: list[int], name: str, sp: Space) -> list[int]:
    if name in sp.fixed:
        return [v for v in values if v == sp.fixed[name]]
    return values


def units(a: Architecture, sp: Space, max_tp: int) -> tuple[list[Unit], Excluded]:
    """The (tp, pp, cp) units of the space, in a fixed order, and the choices the rules left out."""
    ex = Excluded()
    layers = stack_layers(a)
    out = []
    for tp in _allowed(divisors(sp.gpus), "tp", sp):
        if tp > max_tp:
            ex.add(f"tp > {max_tp} (one node's GPUs; --max-tp)")
            continue
        try:
            check_tp(a, tp)
        except WorkloadError as err:
            ex.add(f"tp: {str(err).removeprefix('--tp ').split(' ', 1)[1]}")
            continue
        for pp in _allowed(divisors(sp.gpus // tp), "pp", sp):
            if pp > layers:
                ex.add(f"pp: more than the {layers} blocks")
                continue
            for cp in _allowed(divisors(sp.gpus // (tp * pp)), "cp", sp):
                if sp.seq % cp:
                    ex.add(f"cp: does not divide the sequence of {sp.seq} tokens")
                    continue
                if sp.max_cp is not None and cp > sp.max_cp:
                    ex.add(f"cp > {sp.max_cp} (--max-cp)")
                    continue
                dp = sp.gpus // (tp * pp * cp)
                if "dp" in sp.fixed and dp != sp.fixed["dp"]:
                    continue
                if sp.global_batch % dp:
                    ex.add(f"dp: does not divide the global batch of {sp.global_batch}")
                    continue
                out.append(Unit(tp, pp, cp))
    return out, ex


def expert_degrees(a: Architecture, dp: int, cp: int, sp: Space) -> list[int]:
    """ep: 1, or a divisor of n_experts that divides dp × cp (Megatron-LM carves EP out of DP × CP)."""
    if not a.n_experts:
        return [1]
    return _allowed([e for e in divisors(a.n_experts) if (dp * cp) % e == 0], "ep", sp)


def micro_batches(sp: Space, dp: int) -> list[int]:
    """Micro-batch sizes b: b divides the sequences of one data-parallel replica (global batch / dp)."""
    per = sp.global_batch // dp
    return [b for b in _allowed(divisors(per), "micro_batch", sp)
            if sp.max_micro_batch is None or b <= sp.max_micro_batch]


def virtual_stages(a: Architecture, sp: Space, pp: int) -> list[int]:
    """1, and with pp > 1 the divisors v >= 2 of the fewest layers a stage holds (each model chunk
    whole layers; ``activations.activation_memory``'s rule), up to --max-virtual-stages."""
    if pp == 1:
        return [1]
    fewest = min(stage_layers(stack_layers(a), pp))
    return _allowed([v for v in divisors(fewest) if v <= sp.max_virtual_stages], "virtual_stages", sp)
