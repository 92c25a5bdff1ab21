"""Training memory per GPU of a layout, as closed forms in the layout variables.

`fit` (``core.memory.training.per_gpu``) walks the model's description for every layout. Here each
piece is evaluated ONCE per distinct value of the variables it depends on, by the same functions,
and scaled:

- parameters one GPU of each pipeline stage holds: ``layout.stage_params`` once per (tp, pp, ep);
  they do not depend on dp, cp, ZeRO, the micro-batch or recomputation;
- model state (weights, gradients, optimizer state): ``training.model_state_bytes`` once per
  (stage parameters, ZeRO stage, data-parallel ways);
- activations: ``activations.kind_tensors`` (and the embedding/output tensors) once per (tp,
  sequence parallelism, recomputation) at one sequence of micro-batch 1 and cp = 1. Every kept
  tensor is a number of elements per token or per score row (``_Units``: s·b/cp tokens, b·s²/cp
  scores), so it scales exactly by b/cp (Korthikanti et al. 2022 Table 2: sbh(...), linear in b;
  context parallelism splits s over cp ranks). A stage keeps ``activations.in_flight``
  micro-batches' worth of its layers (Narayanan et al. 2021 sec. 2.2; Korthikanti sec. 4.3);
- the stages that can be the peak: a stage's memory depends only on the block kinds it holds, on
  whether it is the first (embedding) or last (output layer) stage, and on the micro-batches in
  flight, which never grow with the stage index; so of the stages with the same kinds and role
  the first one is the most loaded, and only those are evaluated.

``TrainingMemoryModel.peak(layout)`` equals ``per_gpu(...).peak.total`` exactly (checked against
`fit`'s plan on several presets in tests/test_sweep.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import NamedTuple

from ...spec.arch import Architecture
from ..memory.activations import (ActivationSettings, embedding_tensors, in_flight, kind_tensors,
                                  output_tensors, total, whole)
from ..memory.layout import Parallelism, stage_params
from ..memory.training import model_state_bytes, optimizer
from ..parts.model import block_kinds, describe


class Layout(NamedTuple):
    """One training layout. ``dp`` data-parallel replicas; ``ep`` expert-parallel ranks carved out
    of dp × cp (Megatron-LM); ``virtual_stages`` model chunks per pipeline stage (1: plain 1F1B)."""

    tp: int
    pp: int
    dp: int
    ep: int
    cp: int
    micro_batch: int
    recompute: str
    sequence_parallel: bool
    virtual_stages: int
    zero: int

    @property
    def gpus(self) -> int:
        return self.tp * self.pp * self.dp * self.cp


@dataclass(frozen=True)
class MemorySetup:
    """What every layout of a sweep shares (`fit`'s options of the same names)."""

    seq: int
    global_batch: int
    optimizer: str = "adam"
    flash: bool = True
    dropout: bool = False
    capacity_factor: Fraction = Fraction(1)
    allowance: int = 0

    def activations(self, lay: Layout) -> ActivationSettings:
        """`fit`'s activation settings for ``lay`` (what the closed form must equal)."""
        return ActivationSettings(seq=self.seq, micro_batch=lay.micro_batch, tp=lay.tp, pp=lay.pp, cp=lay.cp,
                                  sequence_parallel=lay.sequence_parallel, recompute=lay.recompute,
                                  flash=self.flash, dropout=self.dropout, capacity_factor=self.capacity_factor,
                                  virtual_stages=lay.virtual_stages if lay.virtual_stages > 1 else None,
                                  micro_batches=self.micro_batches(lay))

    def micro_batches(self, lay: Layout) -> int:
        return self.global_batch // (lay.dp * lay.micro_batch)


class _Stage(NamedTuple):
    index: int
    first: bool
    last: bool
    kinds: tuple[tuple[str, int], ...]
    dense: int
    expert: int


@dataclass(frozen=True)
class _Acts:
    """One micro-batch of one sequence (b = 1, cp = 1) on one GPU, bytes: per layer of each kind,
    the embedding's and the output layer's tensors, and full recomputation's working set per kind."""

    per_kind: dict[str, Fraction]
    embedding: Fraction
    output: Fraction
    working: dict[str, Fraction]


@lru_cache(maxsize=65536)
def _in_flight(pp: int, v: int, m: int, stage: int) -> tuple[int, int]:
    """``activations.in_flight`` as (numerator, denominator)."""
    st = ActivationSettings(pp=pp, virtual_stages=v if v > 1 else None, micro_batches=m)
    h = in_flight(st, stage)
    return h.numerator, h.denominator


class Terms(NamedTuple):
    """One stage that can be the peak, under one (tp, pp, ep, sequence parallelism, recomputation):
    its activations for one sequence (b = 1, cp = 1) are held · X + Y bytes, X = its layers (and the
    embedding on the first stage), Y = the output layer (last stage) and full recomputation's working
    set; as integer fractions Xn / Xd and Yn / Yd."""

    stage: _Stage
    xn: int
    xd: int
    yn: int
    yd: int


class TrainingMemoryModel:
    """Memory per GPU of any training layout of one model under one ``MemorySetup``."""

    def __init__(self, a: Architecture, setup: MemorySetup):
        self.a, self.setup = a, setup
        self.opt = optimizer(setup.optimizer)
        self.kinds = tuple(k.name for k in block_kinds(describe(a)))
        self._stages: dict[tuple[int, int, int], tuple[_Stage, ...]] = {}
        self._acts: dict[tuple[int, bool, str], _Acts] = {}
        self._state: dict[tuple, int] = {}
        self._terms: dict[tuple, tuple[Terms, ...]] = {}

    # --- pieces, each evaluated once ---------------------------------------------------------------

    def stages(self, tp: int, pp: int, ep: int) -> tuple[_Stage, ...]:
        """The stages that can be the peak (the first of each (kinds, role)), with their parameters."""
        key = (tp, pp, ep)
        got = self._stages.get(key)
        if got is None:
            held = stage_params(self.a, Parallelism(dp=ep, tp=tp, pp=pp, ep=ep))
            seen, out = set(), []
            for s in held:
                kinds = tuple(sorted(s.kinds.items()))
                role = (kinds, s.stage == 0, s.stage == pp - 1)
                if role in seen:
                    continue
                seen.add(role)
                out.append(_Stage(s.stage, s.stage == 0, s.stage == pp - 1, kinds, s.dense, s.expert))
            got = self._stages[key] = tuple(out)
        return got

    def acts(self, tp: int, sp: bool, recompute: str) -> _Acts:
        key = (tp, sp, recompute)
        got = self._acts.get(key)
        if got is None:
            s = self.setup
            st = ActivationSettings(seq=s.seq, micro_batch=1, tp=tp, cp=1, sequence_parallel=sp, recompute=recompute,
                                    flash=s.flash, dropout=s.dropout, capacity_factor=s.capacity_factor)
            kinds = block_kinds(describe(self.a))
            per_kind = {k.name: total(kind_tensors(self.a, k, st)) for k in kinds}
            working = {}
            if recompute == "full":
                none = ActivationSettings(seq=s.seq, micro_batch=1, tp=tp, cp=1, sequence_parallel=sp,
                                          recompute="none", flash=s.flash, dropout=s.dropout,
                                          capacity_factor=s.capacity_factor)
                working = {k.name: total(kind_tensors(self.a, k, none)) for k in kinds}
            got = self._acts[key] = _Acts(per_kind, total(embedding_tensors(self.a, st)),
                                          total(output_tensors(self.a, st)), working)
        return got

    def state(self, stage: _Stage, zero: int, ways: int, ep: int) -> int:
        """Weights + gradients + optimizer state of a stage's GPU, each rounded up as `fit` does."""
        key = (stage.dense, stage.expert, zero, ways, ep)
        got = self._state.get(key)
        if got is None:
            m = model_state_bytes(stage.dense, self.opt, zero, ways) + \
                model_state_bytes(stage.expert, self.opt, zero, ways // ep)
            got = self._state[key] = whole(m.weights) + whole(m.gradients) + whole(m.optimizer)
        return got

    def terms(self, tp: int, pp: int, ep: int, sp: bool, recompute: str) -> tuple[Terms, ...]:
        key = (tp, pp, ep, sp, recompute)
        got = self._terms.get(key)
        if got is None:
            acts = self.acts(tp, sp, recompute)
            out = []
            for s in self.stages(tp, pp, ep):
                x = sum((n * acts.per_kind[k] for k, n in s.kinds), Fraction(0))
                if s.first:
                    x += acts.embedding
                y = acts.output if s.last else Fraction(0)
                if acts.working:
                    y += max(acts.working[k] for k, _ in s.kinds)
                out.append(Terms(s, x.numerator, x.denominator, y.numerator, y.denominator))
            got = self._terms[key] = tuple(out)
        return got

    # --- the closed form ----------------------------------------------------------------------------

    def peak_of(self, terms: tuple[Terms, ...], states: list[int], pp: int, v: int, m: int, b: int, cp: int) -> int:
        """max over the stages of state + ceil((held · X + Y) · b / cp) + allowance, in integers:
        what ``per_gpu`` rounds (``whole``) it rounds the same way."""
        best = 0
        for t, state in zip(terms, states):
            hn, hd = _in_flight(pp, v, m, t.stage.index)
            num = (hn * t.xn * t.yd + t.yn * hd * t.xd) * b
            den = hd * t.xd * t.yd * cp
            total_bytes = state - (-num // den)
            if total_bytes > best:
                best = total_bytes
        return best + self.setup.allowance

    def states(self, tp: int, pp: int, ep: int, zero: int, ways: int) -> list[int]:
        return [self.state(s, zero, ways, ep) for s in self.stages(tp, pp, ep)]

    def peak(self, lay: Layout) -> int:
        """Bytes on the most-loaded GPU: ``per_gpu(...).peak.total`` of `fit`."""
        terms = self.terms(lay.tp, lay.pp, lay.ep, lay.sequence_parallel, lay.recompute)
        states = self.states(lay.tp, lay.pp, lay.ep, lay.zero, lay.dp * lay.cp)
        return self.peak_of(terms, states, lay.pp, lay.virtual_stages, self.setup.micro_batches(lay),
                            lay.micro_batch, lay.cp)
