"""The typed result of one command: every figure `count`, `compare`, `check`, `explain` and the JSON
document read, built once from one description (one parameter tree, one forward tree, one decode
tree) and read by attribute.

Figures are exact ints; shares and ratios are exact Fractions (presentation rounds them). The
JSON document is ``present.document.count_document(report)``, a plain walk of these dataclasses,
so its keys are these field names.

Parameter counting conventions, so that any published figure can be matched:
- ``total``: every parameter, tied matrices once (what ``sum(p.numel())`` gives in PyTorch).
- ``non_embedding``: Kaplan et al. 2020 (arXiv:2001.08361) sec. 2.1, N "excluding all vocabulary
  and positional embeddings": total minus token, position and token-type tables and an untied
  unembedding (and its bias).
- ``matrices_only``: the 3Blue1Brown convention: the weight matrices alone (no biases, norms or
  position table), with the unembedding counted as its own matrix even when tied. For GPT-3 this
  is 175,181,291,520.
- ``active``: parameters used per token: a mixture of experts counts top_k of its n_experts
  (Fedus et al. 2021; Mixtral's 12.9B of 46.7B).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from ..spec.arch import Architecture
from .estimates import Estimate, estimates
from .evaluate import count_params, decode, forward, inactive_params, training, weights
from .memory import Memory, memory_of
from .parts.model import describe
from .tree import Node
from .workload import Convention, Workload

MATRICES = ("query", "key", "value_down", "value_up")
HEAD_PARTS = ("query", "key", "value_down", "value_up", "scores", "weighted_values", "softmax")
CONVENTIONS = {
    "total": "all parameters (tied weights once)",
    "non_embedding": "without vocabulary and position embeddings (Kaplan et al. 2020, N)",
    "matrices_only": "weight matrices only, unembedding counted separately (3Blue1Brown)",
    "active": "active per token (mixture of experts: top_k experts)",
}
VOCAB_KINDS = ("embedding", "position", "unembedding", "vocab_bias")
MATRIX_KINDS = ("matrix", "embedding", "unembedding")


def hidden(**kw: Any) -> Any:
    """A field the JSON document leaves out (trees, kept for the views that draw them)."""
    return field(repr=False, compare=False, metadata={"json": False}, **kw)


# --- parameters ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttentionParams:
    per_matrix: dict[str, int]
    shapes: dict[str, tuple[int, int]]
    per_head: int
    heads_per_block: int
    heads_total: int
    biases_per_block: int
    relative_positions_per_block: int
    per_block: int
    total: int


@dataclass(frozen=True)
class MlpParams:
    per_block: int
    active_per_block: int
    per_expert: int
    total: int


@dataclass(frozen=True)
class NormParams:
    per_block: int
    final: int


@dataclass(frozen=True)
class ParamConventions:
    total: int
    non_embedding: int
    matrices_only: int
    active: int


@dataclass(frozen=True)
class Params:
    total: int
    per_block: int
    blocks: int
    n_layers: int
    attention: AttentionParams
    mlp: MlpParams
    norms: NormParams
    embedding: int
    unembedding: int
    pooler: int
    conventions: ParamConventions
    tree: Node = hidden()

    def share(self, part: int) -> Fraction:
        return Fraction(part, self.total)


def head_matrices(attention: Node) -> dict[str, Node]:
    """The four matrices one head uses (key and value-down shared within a GQA group)."""
    return attention.first_leaves(MATRICES)


def params_of(a: Architecture, tree: Node | None = None) -> Params:
    tree = tree or count_params(a)
    model = describe(a)
    blk = tree.get("blocks.block")
    n = blk.count
    att, mlp = blk.child("attention"), blk.child("mlp")
    mats = head_matrices(att)
    biases, rel = att.total_at("biases"), att.total_at("relative")
    heads_per_block = att.each - biases - rel
    expert = mlp.get("expert")
    inactive = inactive_params(model)
    all_weights = list(weights(model))
    vocab_tables = sum(w.rows * w.cols * t for w, t in all_weights if w.kind in VOCAB_KINDS and not w.shared)
    matrices = sum(w.rows * w.cols * t for w, t in all_weights if w.kind in MATRIX_KINDS)
    return Params(
        total=tree.total, per_block=blk.each, blocks=tree.get("blocks").total, n_layers=n,
        attention=AttentionParams(
            per_matrix={m: node.value for m, node in mats.items()},
            shapes={m: node.shape for m, node in mats.items()},
            per_head=sum(node.value for node in mats.values()),
            heads_per_block=heads_per_block, heads_total=n * heads_per_block,
            biases_per_block=biases, relative_positions_per_block=rel, per_block=att.each, total=n * att.each),
        mlp=MlpParams(per_block=mlp.each, active_per_block=mlp.each - inactive // n,
                      per_expert=expert.each if expert else mlp.each, total=n * mlp.each),
        norms=NormParams(per_block=blk.total_at("norms"), final=tree.total_at("final_norm")),
        embedding=tree.total_at("embedding"), unembedding=tree.total_at("unembedding"), pooler=tree.total_at("pooler"),
        conventions=ParamConventions(total=tree.total, non_embedding=tree.total - vocab_tables,
                                     matrices_only=matrices, active=tree.total - inactive),
        tree=tree,
    )


# --- FLOPs --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttentionFlops:
    per_head: int
    per_head_parts: dict[str, int]
    per_head_formulas: dict[str, str]
    core_per_head: int
    per_block: int
    total: int
    share: Fraction


@dataclass(frozen=True)
class MlpFlops:
    per_block: int
    total: int


@dataclass(frozen=True)
class PassFlops:
    total: int
    per_block: int
    blocks: int
    attention: AttentionFlops
    mlp: MlpFlops
    embedding: int
    unembedding: int
    pooler: int
    matmul: int
    elementwise: int
    tree: Node = hidden()


def pass_of(tree: Node) -> PassFlops:
    blk = tree.get("blocks.block")
    n = blk.count
    att, mlp = blk.child("attention"), blk.child("mlp")
    leaves = att.first_leaves(HEAD_PARTS)
    parts = {k: node.value for k, node in leaves.items()}
    core = parts.get("scores", 0) + parts.get("weighted_values", 0) + parts.get("softmax", 0)
    return PassFlops(
        total=tree.total, per_block=blk.each, blocks=tree.get("blocks").total,
        attention=AttentionFlops(per_head=sum(parts.values()), per_head_parts=parts,
                                 per_head_formulas={k: node.formula for k, node in leaves.items()},
                                 core_per_head=core, per_block=att.each, total=n * att.each,
                                 share=Fraction(n * att.each, tree.total) if tree.total else Fraction(0)),
        mlp=MlpFlops(per_block=mlp.each, total=n * mlp.each),
        embedding=tree.total_at("embedding"), unembedding=tree.total_at("unembedding"), pooler=tree.total_at("pooler"),
        matmul=tree.sum_kind("matmul", "attention"), elementwise=tree.sum_kind("elementwise"), tree=tree,
    )


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
class Flops:
    convention: dict[str, Any]
    workload: dict[str, Any]
    forward: PassFlops
    decode: DecodeFlops
    training: Training | None
    estimates: dict[str, Estimate]
    scaling: list[ScalingRow]

    @property
    def tokens(self) -> int:
        """Tokens of the forward pass (batch x seq)."""
        return self.workload["batch"] * self.workload["seq"]

    @property
    def forward_per_token(self) -> Fraction:
        return Fraction(self.forward.total, self.tokens)


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
        out.append(ScalingRow(s, f.total, a.n_layers * a.n_heads * f.attention.core_per_head, f.attention.share))
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
    fwd = pass_of(forward(a, w.batch, w.seq, conv))
    dec = pass_of(decode(a, w.batch, w.context, conv))
    d_tokens = w.tokens if w.tokens is not None else w.batch * w.seq
    train = Training(**training(a, d_tokens, w.seq, conv, w.recompute))
    est = estimates(a, d_tokens, w.seq, p, train.total)
    flops = Flops(
        convention=conv.as_dict(a) | {"text": conv.describe(a)},
        workload={"batch": w.batch, "seq": w.seq, "context": w.context, "tokens": w.tokens, "recompute": w.recompute},
        forward=fwd, decode=DecodeFlops(**{f: getattr(dec, f) for f in dec.__dataclass_fields__}, context=w.context),
        training=train if w.tokens is not None else None, estimates=est, scaling=scaling(a, conv, max(w.seq, 256)),
    )
    memory = memory_of(a, p, dtype=w.dtype, batch=w.batch, context=w.context, kv_dtype=w.kv_dtype)
    return Report(arch=a, params=p, flops=flops, memory=memory)
