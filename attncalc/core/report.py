"""The typed result of one command: every figure `count`, `compare`, `check`, `explain` and the JSON
document read, built once from one description (one parameter tree, one tree per distinct pass) and
read by attribute.

Figures are exact ints; shares and ratios are exact Fractions (presentation rounds them). The
JSON document is ``present.document.count_document(report)``, a plain walk of these dataclasses,
so its keys are these field names.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from ..errors import WorkloadError
from ..spec.arch import MAX_INT, Architecture
from .estimates import Estimate, estimates
from .evaluate import decode, forward, training
from .figures import Params, PassFlops, hidden, params_of, pass_of
from .memory.cache import Memory, memory_of
from .workload import Convention, Workload


@dataclass(frozen=True)
class DecodeFlops(PassFlops):
    context: int = 0


@dataclass(frozen=True)
class Training:
    tokens: int
    seq: int
    sequences: int
    forward: int
    backward: int
    recompute: int
    total: int


@dataclass(frozen=True)
class ScalingRow:
    seq: int
    forward: int
    attention_core: int
    attention_share: Fraction


@dataclass(frozen=True)
class PassWorkload:
    """The workload the figures were counted at (defaults resolved)."""

    batch: int
    seq: int
    context: int
    tokens: int | None
    recompute: bool
    encoder_seq: int | None


@dataclass(frozen=True)
class Flops:
    convention: dict[str, Any]
    workload: PassWorkload
    forward: PassFlops
    decode: DecodeFlops
    training: Training | None
    estimates: dict[str, Estimate]
    scaling: list[ScalingRow]

    @property
    def tokens(self) -> int:
        """Tokens of the forward pass (batch x seq)."""
        return self.workload.batch * self.workload.seq

    @property
    def forward_per_token(self) -> Fraction:
        return Fraction(self.forward.total, self.tokens)


def attention_core(a: Architecture, f: PassFlops) -> int:
    """The attention core (scores, weighted values, softmax) of a pass: n_layers x n_heads x one
    head's core; for encoder-decoders and hybrids, summed over the block kinds that attend
    (cross-attention included)."""
    if not (a.is_encoder_decoder or a.has_mamba):
        return a.n_layers * a.n_heads * f.attention.core_per_head
    core = 0
    for kind in f.tree.get("blocks").children:
        for name in ("attention", "cross_attention"):
            att = kind.get(name)
            if att is not None:
                core += kind.count * sum(t * n.value for _, n, t in att.walk()
                                         if not n.children and n.name in ("scores", "weighted_values", "softmax"))
    return core


def scaling(a: Architecture, conv: Convention, upto: int) -> list[ScalingRow]:
    """Attention's share of forward FLOPs as the sequence grows (powers of two up to ``upto``)."""
    lengths, s = [], 256
    while s < upto:
        lengths.append(s)
        s *= 2
    lengths.append(upto)
    out = []
    for s in lengths:
        f = pass_of(forward(a, 1, s, conv))
        out.append(ScalingRow(s, f.total, attention_core(a, f), f.attention.share))
    return out


# --- the report -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    arch: Architecture = hidden()
    params: Params
    flops: Flops
    memory: Memory


def build(a: Architecture, work: Workload = Workload(), conv: Convention = Convention()) -> Report:
    """Every figure of a model at a workload: one parameter tree, one forward and one decode tree
    (plus the training passes when --tokens is given, and one forward per scaling row)."""
    w = work.resolved(a)
    p = params_of(a)
    enc = w.encoder_seq if a.is_encoder_decoder else None
    fwd = pass_of(forward(a, w.batch, w.seq, conv, enc))
    dec = pass_of(decode(a, w.batch, w.context, conv, enc))
    d_tokens = w.tokens if w.tokens is not None else w.batch * w.seq
    if w.tokens is None and d_tokens > MAX_INT:  # say which two numbers, not an unnamed "tokens"
        raise WorkloadError(f"batch {w.batch:,} x seq {w.seq:,} = {d_tokens:.3e} tokens is too many: at most 2**63 - 1")
    train = Training(**training(a, d_tokens, w.seq, conv, w.recompute, enc))
    # The published estimates are FLOPs: their ratio is taken against the exact count in FLOPs, also
    # with --macs (a MAC is 2 FLOPs), so ratio_exact_to_estimate means the same in every convention.
    est = estimates(a, d_tokens, w.seq, p, train.total * 2 // conv.per_mac)
    flops = Flops(
        convention=conv.as_dict(a) | {"text": conv.describe(a)},
        workload=PassWorkload(w.batch, w.seq, w.context, w.tokens, w.recompute, enc),
        forward=fwd, decode=DecodeFlops(**{f: getattr(dec, f) for f in dec.__dataclass_fields__}, context=w.context),
        training=train if w.tokens is not None else None, estimates=est, scaling=scaling(a, conv, max(w.seq, 256)),
    )
    memory = memory_of(a, p, dtype=w.dtype, batch=w.batch, context=w.context, kv_dtype=w.kv_dtype, encoder_seq=enc)
    return Report(arch=a, params=p, flops=flops, memory=memory)
