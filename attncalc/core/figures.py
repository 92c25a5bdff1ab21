"""Figures read off the trees: parameters per matrix / head / block / total with the counting
conventions, and one pass's FLOPs per head / block / total. Nothing here counts anew: every figure is
a node of a tree from core.evaluate, or a sum over its leaves, so views cannot disagree.

Parameter counting conventions, so that any published figure can be matched:
- ``total``: every parameter, tied matrices once (what ``sum(p.numel())`` gives in PyTorch).
- ``non_embedding``: Kaplan et al. 2020 (arXiv:2001.08361) sec. 2.1, N "excluding all vocabulary
  and positional embeddings": total minus token, position and token-type tables and an untied
  unembedding (and its bias).
- ``matrices_only``: the 3Blue1Brown convention: the weight matrices alone (no biases, norms or
  position table), with the unembedding counted as its own matrix even when tied. For GPT-3 this
  is 175,181,291,520.
- ``active``: parameters used per token: a mixture of experts counts top_k of its n_experts
  (Fedus et al. 2021; Mixtral's 12.9B of 46.7B); with zero-computation experts (LongCat-Flash) every
  pick is counted as a real expert, an upper bound (core.parts.mlp).
- ``as_built``: what transformers' ``sum(p.numel())`` gives where it allocates more than the model
  holds: ``LongcatFlashExperts.gate_up_proj`` has n_experts + zero_experts rows of 2 d_ff_expert x
  d_model, ``down_proj`` n_experts (tests/golden/WAVE_NOTES.md 2.25: 741B built, the published and
  checkpointed 560B is ``total``). Equal to ``total`` for every other model.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any

from ..spec.arch import Architecture
from .evaluate import count_params, inactive_params, params, weights
from .parts.mlp import unused_rows
from .parts.model import block_kinds, describe, describe_mtp
from .tree import Node
from .workload import Pattern

MATRICES = ("query", "key", "value_down", "value_up")
HEAD_PARTS = ("query", "key", "value_down", "value_up", "scores", "weighted_values", "softmax")
CONVENTIONS = {
    "total": "all parameters (tied weights once)",
    "non_embedding": "without vocabulary and position embeddings (Kaplan et al. 2020, N)",
    "matrices_only": "weight matrices only, unembedding counted separately (3Blue1Brown)",
    "active": "active per token (mixture of experts: top_k experts)",
    "with_mtp": "with the multi-token prediction modules as the checkpoint stores them (DeepSeek-V3 sec. 2.2)",
    "as_built": "as transformers builds it: LongCat-Flash's experts also allocate gate/up rows for its zero experts, "
                "which no checkpoint holds (total is the model and its checkpoint)",
}
VOCAB_KINDS = ("embedding", "position", "unembedding", "vocab_bias")
MATRIX_KINDS = ("matrix", "embedding", "unembedding")


def hidden(**kw: Any) -> Any:
    """A field the JSON document leaves out (trees, kept for the views that draw them)."""
    return field(repr=False, compare=False, metadata={"json": False}, **kw)


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
    shared_per_block: int = 0  # what every head shares: latent projections, query/key norms, sinks


@dataclass(frozen=True)
class KindParams:
    """One block kind: how many layers have it, how far their attention reaches, their figures."""

    name: str
    label: str
    count: int
    attention_reach: str  # full | sliding window N | chunks of N
    per_block: int
    attention_per_block: int
    mlp_per_block: int
    mlp_active_per_block: int
    norms_per_block: int
    total: int
    mixer: str = "attention"  # attention | mamba (a hybrid's state-space layers)
    cross_attention_per_block: int = 0  # an encoder-decoder's decoder blocks
    mamba_per_block: int = 0


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
    with_mtp: int  # DeepSeek-V3's 685B: the main model and its multi-token prediction modules
    as_built: int = 0  # transformers' allocation (LongCat-Flash: zero experts' unused gate/up rows)


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
    kinds: list[KindParams]
    cross_attention: int  # cross-attention in all decoder blocks (encoder-decoder)
    mamba: int  # Mamba mixers in all blocks (hybrids)
    tree: Node = hidden()

    def share(self, part: int) -> Fraction:
        return Fraction(part, self.total)


def head_matrices(attention: Node) -> dict[str, Node]:
    """The four matrices one head uses (key and value-down shared within a GQA group)."""
    return attention.first_leaves(MATRICES)


def reach(pattern: Pattern | None) -> str:
    if pattern and pattern.window:
        return f"sliding window {pattern.window:,}"
    if pattern and pattern.chunk:
        return f"chunks of {pattern.chunk:,}"
    return "full"


def main_kind(kinds: tuple[Node, ...]) -> Node:
    """The block kind most layers have (the first of equals): what per-block figures describe."""
    return max(kinds, key=lambda k: k.count)


def attention_kind(kinds: tuple[Node, ...]) -> Node:
    """The block kind most attention layers have: what per-head and per-block attention figures
    describe (a hybrid's Mamba layers have no heads)."""
    return main_kind(tuple(k for k in kinds if k.get("attention") is not None) or kinds)


def kind_attention(k: Node) -> Node:
    """A block kind's attention, or an empty node (a Mamba layer)."""
    return k.get("attention") or Node("attention", "attention")


def kind_mlp(k: Node) -> Node:
    """A block kind's feed-forward, or an empty node (a block without one: Nemotron-H's mixer blocks)."""
    return k.get("mlp") or Node("mlp", "MLP")


def main_block(tree: Node) -> Node:
    """That kind's node in a parameter or FLOP tree."""
    return main_kind(tree.get("blocks").children)


def heads_of(attention: Node) -> int:
    return attention.total_at("heads") + attention.total_at("kv_groups")


def params_of(a: Architecture, tree: Node | None = None) -> Params:
    tree = tree or count_params(a)
    model = describe(a)
    kinds = tree.get("blocks").children
    described = {k.name: k for k in block_kinds(model)}
    blk = main_kind(kinds)
    n = sum(k.count for k in kinds)
    att, mlp = kind_attention(attention_kind(kinds)), kind_mlp(blk)
    mats = head_matrices(att)
    biases, rel = att.total_at("biases"), att.total_at("relative")
    heads_per_block = heads_of(att)
    expert = mlp.get("expert")
    inactive = inactive_params(model)
    all_weights = list(weights(model))
    vocab_tables = sum(w.rows * w.cols * t for w, t in all_weights if w.kind in VOCAB_KINDS and not w.shared)
    matrices = sum(w.rows * w.cols * t for w, t in all_weights if w.kind in MATRIX_KINDS)

    def kind(k: Node) -> KindParams:
        d = described[k.name]
        mlp_k = kind_mlp(k)
        idle = inactive_params(replace(d, count=1))
        return KindParams(k.name, k.label, k.count, reach(d.pattern), k.each, kind_attention(k).each, mlp_k.each,
                          mlp_k.each - idle, k.total_at("norms"), k.total,
                          "mamba" if k.get("mamba") else "attention", k.get("cross_attention").each if k.get("cross_attention") else 0,
                          k.get("mamba").each if k.get("mamba") else 0)

    mtp = describe_mtp(a)
    return Params(
        total=tree.total, per_block=blk.each, blocks=tree.get("blocks").total, n_layers=n,
        attention=AttentionParams(
            per_matrix={m: node.value for m, node in mats.items()},
            shapes={m: node.shape for m, node in mats.items()},
            per_head=sum(node.value for node in mats.values()),
            heads_per_block=heads_per_block, heads_total=sum(k.count * heads_of(kind_attention(k)) for k in kinds),
            biases_per_block=biases, relative_positions_per_block=rel, per_block=att.each,
            total=sum(k.count * kind_attention(k).each for k in kinds),
            shared_per_block=att.each - heads_per_block - biases - rel),
        mlp=MlpParams(per_block=mlp.each, active_per_block=mlp.each - inactive_params(replace(described[blk.name], count=1)),
                      per_expert=expert.each if expert else mlp.each,
                      total=sum(k.count * kind_mlp(k).each for k in kinds)),
        norms=NormParams(per_block=blk.total_at("norms"), final=tree.total_at("final_norm")),
        embedding=tree.total_at("embedding"), unembedding=tree.total_at("unembedding"), pooler=tree.total_at("pooler"),
        conventions=ParamConventions(total=tree.total, non_embedding=tree.total - vocab_tables,
                                     matrices_only=matrices, active=tree.total - inactive,
                                     with_mtp=tree.total + (params(mtp).total if mtp else 0),
                                     as_built=tree.total + sum(k.count * unused_rows(a) for k in kinds
                                                               if kind_mlp(k).get("expert") is not None)),
        kinds=[kind(k) for k in kinds],
        cross_attention=sum(k.count * k.total_at("cross_attention") for k in kinds),
        mamba=sum(k.count * k.total_at("mamba") for k in kinds),
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
    kinds: list["KindFlops"]
    cross_attention: int  # cross-attention in all decoder blocks (encoder-decoder)
    mamba: int  # Mamba mixers in all blocks (hybrids)
    tree: Node = hidden()


@dataclass(frozen=True)
class KindFlops:
    name: str
    count: int
    per_block: int
    attention_per_block: int
    mlp_per_block: int
    total: int
    cross_attention_per_block: int = 0
    mamba_per_block: int = 0


def pass_of(tree: Node) -> PassFlops:
    kinds = tree.get("blocks").children
    blk = main_kind(kinds)
    att, mlp = kind_attention(attention_kind(kinds)), kind_mlp(blk)
    leaves = att.first_leaves(HEAD_PARTS)
    parts = {k: node.value for k, node in leaves.items()}
    core = parts.get("scores", 0) + parts.get("weighted_values", 0) + parts.get("softmax", 0)
    att_total = sum(k.count * kind_attention(k).each for k in kinds)
    return PassFlops(
        total=tree.total, per_block=blk.each, blocks=tree.get("blocks").total,
        attention=AttentionFlops(per_head=sum(parts.values()), per_head_parts=parts,
                                 per_head_formulas={k: node.formula for k, node in leaves.items()},
                                 core_per_head=core, per_block=att.each, total=att_total,
                                 share=Fraction(att_total, tree.total) if tree.total else Fraction(0)),
        mlp=MlpFlops(per_block=mlp.each, total=sum(k.count * kind_mlp(k).each for k in kinds)),
        embedding=tree.total_at("embedding"), unembedding=tree.total_at("unembedding"), pooler=tree.total_at("pooler"),
        matmul=tree.sum_kind("matmul", "attention"), elementwise=tree.sum_kind("elementwise"),
        kinds=[KindFlops(k.name, k.count, k.each, kind_attention(k).each, kind_mlp(k).each, k.total,
                         (k.get("cross_attention") or Node("")).each, (k.get("mamba") or Node("")).each) for k in kinds],
        cross_attention=sum(k.count * k.total_at("cross_attention") for k in kinds),
        mamba=sum(k.count * k.total_at("mamba") for k in kinds),
        tree=tree,
    )
