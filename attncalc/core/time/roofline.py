"""From FLOPs to time: roofline lower bounds per matrix, per head, per block and in total.

The roofline model (Williams, Waterman & Patterson 2009, "Roofline: an insightful visual performance
model for multicore architectures", CACM 52(4), sec. 2): a kernel doing F FLOPs over B bytes of
memory traffic takes at least max(F / peak, B / bandwidth); its arithmetic intensity I = F / B
against the hardware's ridge point peak / bandwidth says which term binds (I below the ridge:
memory-bound). Applied to each part of a transformer pass:

- a matmul of T tokens by an r x c matrix: F = 2 T r c (the FLOP tree's leaf value), B = the
  weights r c (read once per pass, whatever T) + the input T c + the output T r activations;
  a d_model-wide activation is the block's residual stream, shared by the heads whose slices of
  one projection read it (or accumulate into it), so it is counted once per block, not per head;
- the attention core per head: F = the tree's (query, key) pair FLOPs, B = the minimum I/O of an
  exact attention kernel that never writes the score matrix (Dao et al. 2022, "FlashAttention",
  sec. 3.2, Theorem 2's lower end): Q and O once, K and V once per key/value head; in a decode
  step K and V are the KV cache read for the context (bytes from ``core.memory``);
- prefill and decode are the two regimes of Pope et al. 2022 ("Efficiently Scaling Transformer
  Inference", sec. 2-3): prefill processes batch x seq tokens at once (matmuls compute-bound), a
  decode step one token per sequence (weights and KV cache read for a handful of tokens:
  memory-bound below a batch near the ridge point).

A pass takes at least the sum over its parts of each part's bound: the parts run one after the
other, each at best at peak compute overlapped with peak bandwidth. That is a LOWER BOUND, never a
prediction; ``estimate`` divides the peaks by efficiencies (calibration), and stays an estimate.
Exact rationals (Fraction) throughout; floats only where a figure is shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from ...errors import WorkloadError
from ...spec.arch import Architecture
from ..evaluate import decode, forward
from ..memory.cache import kv_cache
from ..memory.layout import row_parallel_outputs
from ..workload import Convention
from .parts import Part, ceil, parts
from .setup import Setup


@dataclass(frozen=True)
class PartTime:
    part: Part
    compute_s: Fraction  # flops / (gpus x peak)
    memory_s: Fraction  # bytes / (gpus x bandwidth)
    estimate_s: Fraction

    @property
    def bound_s(self) -> Fraction:
        return max(self.compute_s, self.memory_s)

    @property
    def bound_by(self) -> str:
        return "compute" if self.compute_s >= self.memory_s else "memory"


@dataclass(frozen=True)
class PassTime:
    name: str  # prefill | decode | training
    times: list[PartTime]
    comm_bytes: int  # per GPU, all-reduce traffic of tensor parallelism
    comm_s: Fraction
    comm_estimate_s: Fraction
    tokens: int  # tokens this pass processes (decode: batch)
    flops: int
    bytes: int
    notes: list[str] = field(default_factory=list)

    @property
    def bound_s(self) -> Fraction:
        return sum((t.bound_s for t in self.times), Fraction(0)) + self.comm_s

    @property
    def estimate_s(self) -> Fraction:
        return sum((t.estimate_s for t in self.times), Fraction(0)) + self.comm_estimate_s

    def time_by(self, kind: str) -> Fraction:
        return sum((t.bound_s for t in self.times if t.bound_by == kind), Fraction(0))

    @property
    def bound_by(self) -> str:
        shares = {"compute": self.time_by("compute"), "memory": self.time_by("memory"), "network": self.comm_s}
        return max(shares, key=lambda k: shares[k])


def _time_parts(ps: list[Part], setup: Setup, factor: int = 1) -> list[PartTime]:
    n, e = setup.gpus, setup.efficiency
    peak, bw = setup.peak, setup.hw.memory_bytes_per_s
    out = []
    for p in ps:
        c = Fraction(factor * p.flops, n * peak)
        m = Fraction(factor * p.bytes, n * bw)
        out.append(PartTime(p, c, m, max(c / e.compute, m / e.memory)))
    return out


def _comm(a: Architecture, tokens: int, setup: Setup, passes: int = 1,
          encoder: bool = True) -> tuple[int, Fraction, Fraction]:
    """Tensor parallelism (Shoeybi et al. 2019, Megatron-LM, sec. 3 and Fig. 3): an all-reduce of
    the tokens x d_model activations after each row-parallel output of a layer, per forward pass
    (two per block: after attention, after the MLP; ``layout.row_parallel_outputs``).
    A ring all-reduce sends and receives 2 (N - 1) / N of the buffer per GPU (Patarasuk & Yuan 2009,
    "Bandwidth optimal all-reduce algorithms", sec. 3), limited by one direction of the link."""
    n = setup.gpus
    if n == 1:
        return 0, Fraction(0), Fraction(0)
    link = setup.hw.link_bytes_per_s()
    if not link:
        raise WorkloadError(f"--gpus {n}: {setup.hw.name} states no interconnect_bytes_per_s")
    buffer = Fraction(tokens * a.d_model) * setup.act_bytes
    traffic = ceil(passes * row_parallel_outputs(a, encoder) * Fraction(2 * (n - 1), n) * buffer)
    t = Fraction(traffic, link)
    return traffic, t, t / setup.efficiency.network


def prefill_time(a: Architecture, setup: Setup, batch: int, seq: int, conv: Convention = Convention()) -> PassTime:
    """Time to first token: one forward pass over batch x seq tokens (Pope et al. 2022, sec. 2)."""
    tree = forward(a, batch, seq, conv)
    tokens = batch * seq
    ps = parts(a, tree, setup, tokens, tokens)
    traffic, c, ce = _comm(a, tokens, setup)
    return _finish("prefill", ps, _time_parts(ps, setup), traffic, c, ce, tokens, a, setup)


def decode_time(a: Architecture, setup: Setup, batch: int, context: int, conv: Convention = Convention()) -> PassTime:
    """One decode step: batch new tokens, each attending over ``context`` cached tokens (Pope et al.
    2022, sec. 2: every step re-reads all weights and the KV cache, hence memory-bound)."""
    tree = decode(a, batch, context, conv)
    ps = parts(a, tree, setup, batch)
    traffic, c, ce = _comm(a, batch, setup, encoder=False)
    return _finish("decode", ps, _time_parts(ps, setup), traffic, c, ce, batch, a, setup, context=context)


def training_time(a: Architecture, setup: Setup, batch: int, seq: int, conv: Convention = Convention(),
                  recompute: bool = False) -> PassTime:
    """One training step on batch x seq tokens: backward = 2 x forward FLOPs (Kaplan et al. 2020,
    sec. 2.1), + 1 forward with full recomputation (Korthikanti et al. 2022); bytes taken as the same
    multiple of the forward's (the backward reads weights and output gradients to make input
    gradients, and inputs and output gradients to make weight gradients). Optimizer step excluded."""
    factor = 4 if recompute else 3
    tree = forward(a, batch, seq, conv)
    tokens = batch * seq
    ps = parts(a, tree, setup, tokens, tokens)
    traffic, c, ce = _comm(a, tokens, setup, passes=factor - 1)
    return _finish("training", ps, _time_parts(ps, setup, factor), traffic, c, ce, tokens, a, setup, factor=factor)


def _finish(name, ps, times, traffic, c, ce, tokens, a, setup, factor=1, context=None) -> PassTime:
    notes = []
    if setup.hw.memory_bytes:
        weights = sum(p.weight_bytes for p in ps if p.kind == "matmul")
        need = Fraction(weights, setup.gpus)
        if context is not None:
            need += Fraction(kv_cache(a, dtype=setup.kv, batch=tokens, context=context).total, setup.gpus)
        if need > setup.hw.memory_bytes:
            notes.append(f"does not fit: weights{' + KV cache' if context is not None else ''} need "
                         f"{ceil(need):,} bytes per GPU, {setup.hw.name} has {setup.hw.memory_bytes:,}")
    return PassTime(name, times, traffic, c, ce, tokens, factor * sum(p.flops for p in ps),
                    factor * sum(p.bytes for p in ps), notes)


def attention_block_bound(a: Architecture, setup: Setup, batch: int, seq: int,
                          conv: Convention = Convention()) -> Fraction:
    """The roofline lower bound of one attention block (projections and core, no biases) over
    batch x seq tokens: what `attncalc run` executes (``run.plan.Plan.arch`` for a head subset), so
    `run` can print its measured time beside it on `this`."""
    bare = a.replace(qkv_bias=False, out_bias=False, n_layers=1)
    tokens = batch * seq
    ps = [p for p in parts(bare, forward(bare, batch, seq, Convention(conv.attention, "matmul")), setup, tokens, tokens)
          if ".attention." in f".{p.name}."]
    return sum((t.bound_s for t in _time_parts(ps, setup)), Fraction(0))
