"""Where the parts of a model's description sit on a cluster: the parallel layout, the layers each
pipeline stage holds, and the parameters one GPU of each stage holds.

A walk over the one description (core.parts), never over raw dimensions:
- Pipeline parallelism: the stack's layers (an encoder-decoder's encoder layers first) are dealt
  to stages as evenly as possible, the first stages taking the remainder; a stage holds the block
  kinds of its layers (``parts.model.kinds_in``: Gemma 3's local and global layers, DeepSeek's dense
  and MoE layers, Jamba's attention and Mamba layers fall where the pattern puts them). Stage 0
  holds the embedding, the last stage the final norm, the unembedding and the pooler; with tied
  embeddings and p > 1 the last stage also keeps a copy of the token embedding (Megatron-LM
  ``shared_embedding``; Narayanan et al. 2021).
- Tensor parallelism (Shoeybi et al. 2019, Megatron-LM sec. 3): each weight says how it splits
  (``Weight.split``, ``Weight.tp_elements``): column- and row-parallel matrices and vocabulary
  tables t ways (rank 0 the larger share when t does not divide), norms, routers, position tables
  and row-parallel biases whole on every rank.
- Expert parallelism: a routed part of E experts (``Part.active``) puts E / ep of them on a rank.
- ZeRO sharding group: dp x cp ranks hold replicas of a dense parameter (Megatron-LM reduces
  gradients over data- and context-parallel ranks); expert parameters are replicated on dp x cp / ep.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from fractions import Fraction
from functools import lru_cache
from typing import Callable, Iterator

from ...errors import WorkloadError
from ...spec.arch import Architecture
from ..parts.base import Part, Weight
from ..parts.model import describe, kinds_in, stack_layers

# Parts of the model outside its blocks, and the stage that holds each.
FIRST_STAGE = ("embedding",)


def check_tp(a: Architecture, tp: int, flag: str = "--tp") -> None:
    """Megatron-style tensor parallelism gives each rank whole heads: t divides n_heads, and the
    KV heads either split evenly (t divides n_kv_heads) or are replicated (n_kv_heads divides t).
    ``flag``: the option that set t (`time` calls it --gpus)."""
    if a.n_heads % tp:
        raise WorkloadError(f"{flag} {tp} does not divide n_heads = {a.n_heads}")
    if a.kv_heads % tp and tp % a.kv_heads:
        raise WorkloadError(f"{flag} {tp} neither divides nor is a multiple of n_kv_heads = {a.kv_heads}")


def check_pp(a: Architecture, pp: int) -> None:
    if pp > stack_layers(a):
        raise WorkloadError(f"--pp {pp} is more than the {stack_layers(a)} blocks")


@dataclass(frozen=True)
class Parallelism:
    dp: int = 1
    tp: int = 1
    pp: int = 1
    ep: int = 1
    cp: int = 1
    zero: int = 0

    def check(self, a: Architecture | None = None) -> "Parallelism":
        for name in ("dp", "tp", "pp", "ep", "cp"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise WorkloadError(f"--{name} must be an integer >= 1, got {v!r}")
        if self.zero not in (0, 1, 2, 3):
            raise WorkloadError(f"--zero must be 0, 1, 2 or 3, got {self.zero!r}")
        if (self.dp * self.cp) % self.ep:
            raise WorkloadError(f"--ep {self.ep} must divide dp × cp = {self.dp * self.cp}")
        if a is not None:
            if self.ep > 1 and a.n_experts % self.ep:
                raise WorkloadError(f"--ep {self.ep} does not divide n_experts = {a.n_experts}")
            check_pp(a, self.pp)
            check_tp(a, self.tp)
        return self

    @property
    def world(self) -> int:
        return self.dp * self.tp * self.pp * self.cp

    def as_dict(self) -> dict:
        return {"dp": self.dp, "tp": self.tp, "pp": self.pp, "ep": self.ep, "cp": self.cp, "zero": self.zero,
                "gpus": self.world}


def shard(n: int, ways: int, rank: int = 0) -> int:
    """Elements rank ``rank`` holds when ``n`` is split ``ways`` ways: the first n % ways ranks
    take one more, so the shares sum to n exactly and rank 0 is the most loaded."""
    q, r = divmod(n, ways)
    return q + (1 if rank < r else 0)


def stage_layers(n_layers: int, pp: int) -> list[int]:
    """Layers per pipeline stage: as even as possible, the first stages taking one more."""
    if pp > n_layers:
        raise WorkloadError(f"--pp {pp} is more than the {n_layers} blocks")
    q, r = divmod(n_layers, pp)
    return [q + (1 if i < r else 0) for i in range(pp)]


def stage_kinds(a: Architecture, pp: int) -> list[dict[str, int]]:
    """The block kinds each pipeline stage holds, with their counts (by the kinds' names)."""
    return [dict(k) for k in _stage_kinds(a, pp)]


@lru_cache(maxsize=1024)
def _stage_kinds(a: Architecture, pp: int) -> tuple[tuple[tuple[str, int], ...], ...]:
    """``stage_kinds`` once per (model, pp): a sweep or a step-time model asks for it per layout."""
    out, lo = [], 0
    for n in stage_layers(stack_layers(a), pp):
        out.append(tuple(kinds_in(a, lo, lo + n).items()))
        lo += n
    return tuple(out)


def placed(node: Part | Weight, times: int = 1, experts: int | None = None) -> Iterator[tuple[Weight, int, int | None]]:
    """Every weight below ``node`` with its copies in ONE instance of ``node``, and the size of the
    routed part (experts) it sits in, if any."""
    if isinstance(node, Weight):
        yield node, times, experts
    elif isinstance(node, Part):
        routed = node.count if node.active is not None else experts
        for c in node.children:
            yield from placed(c, times * node.count, routed)


@dataclass
class StageParams:
    stage: int
    dense: int = 0  # parameters replicated over dp × cp
    expert: int = 0  # expert parameters replicated over dp × cp / ep
    parts: dict = field(default_factory=dict)
    measured: Fraction = Fraction(0)  # sum of ``measure`` over the rank's weights (e.g. bits)
    kinds: dict = field(default_factory=dict)  # block kind -> layers on this stage

    @property
    def total(self) -> int:
        return self.dense + self.expert

    def add(self, part: str, n: int, expert: bool, measured: Fraction) -> None:
        self.measured += measured
        if expert:
            self.expert += n
        else:
            self.dense += n
        self.parts[part] = self.parts.get(part, 0) + n


Measure = Callable[[Weight, int, bool], "Fraction | int"]


def stage_params(a: Architecture, par: Parallelism, measure: Measure | None = None) -> list[StageParams]:
    """Parameters one (TP rank 0, EP rank 0) GPU of each pipeline stage holds. ``measure(weight,
    elements, expert)`` (optional) weighs one weight instance's share on the rank, e.g. in bits
    (``expert``: the weight sits inside a routed part, so a checkpoint may store it in its own format).
    Without ``measure`` the walk is done once per (model, layout) and each call gets its own copy."""
    par.check(a)
    if measure is None:
        return [StageParams(s.stage, s.dense, s.expert, dict(s.parts), s.measured, dict(s.kinds))
                for s in _stage_params(a, par)]
    return _walk_stages(a, par, measure)


@lru_cache(maxsize=1024)
def _stage_params(a: Architecture, par: Parallelism) -> tuple[StageParams, ...]:
    return tuple(_walk_stages(a, par, None))


def _walk_stages(a: Architecture, par: Parallelism, measure: Measure | None) -> list[StageParams]:
    model = describe(a)
    stages = [StageParams(i, kinds=k) for i, k in enumerate(stage_kinds(a, par.pp))]
    last = stages[-1]

    def put(stage: StageParams, part: str, node: Part | Weight, layers: int = 1, copy: bool = False) -> None:
        for w, times, experts in placed(node):
            if w.shared or not w.rows * w.cols:
                continue
            if experts is not None:  # E experts held by E / ep ranks' worth
                times = times // experts * (experts // par.ep)
            n = w.tp_elements(par.tp)
            m = Fraction(measure(w, n, experts is not None)) if measure else Fraction(0)
            k = times * layers
            stage.add(part if not copy else "embedding copy (tied, last stage)", k * n, experts is not None, k * m)

    for child in model.children:
        if child.name == "blocks":
            for kind in child.children:
                one = replace(kind, count=1)
                for s in stages:
                    if s.kinds.get(kind.name):
                        for sub in one.children:
                            put(s, sub.name, sub, s.kinds[kind.name])
        elif child.name in FIRST_STAGE:
            put(stages[0], child.name, child)
            if a.unembedding == "tied" and par.pp > 1:
                tied = [w for w, _, _ in placed(child) if w.kind == "embedding" and w.name == "token"]
                for w in tied:
                    put(last, child.name, w, copy=True)
        else:
            put(last, child.name, child)
    return stages


def row_parallel_outputs(a: Architecture, encoder: bool = True) -> int:
    """All-reduces of a forward pass under tensor parallelism: one after each part of a layer whose
    output comes from a row-parallel weight (Shoeybi et al. 2019, Megatron-LM sec. 3 and Fig. 3:
    after attention, after the MLP; a Mamba mixer's output projection; a decoder's cross-attention),
    summed over the layers of every block kind (``encoder=False``: a decode step, where an
    encoder-decoder's encoder does not run). A parallel block (GPT-J) adds its attention and MLP
    outputs before one all-reduce."""
    total = 0
    for kind in describe(a).children[1].children:
        if not encoder and kind.pattern is not None and kind.pattern.encoder:
            continue
        rows = [c.name for c in kind.children
                if isinstance(c, Part) and any(w.split == "row" for w, _, _ in placed(c))]
        n = len(rows) - (1 if a.parallel_block and {"attention", "mlp"} <= set(rows) else 0)
        total += kind.count * n
    return total
