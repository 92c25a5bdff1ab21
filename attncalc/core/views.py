"""Named figures read off the parameter tree: per matrix, per head, per block, totals, conventions.

Nothing here counts anew: every figure is a node of the tree from ``params.count_params`` or a
sum over its leaves, so the views cannot disagree with the tree (or with each other).

Counting conventions, so that any published figure can be matched:
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

from typing import Any

from ..spec.arch import Architecture
from .tree import Node
from .params import count_params

MATRICES = ("query", "key", "value_down", "value_up")
CONVENTIONS = {
    "total": "all parameters (tied weights once)",
    "non_embedding": "without vocabulary and position embeddings (Kaplan et al. 2020, N)",
    "matrices_only": "weight matrices only, unembedding counted separately (3Blue1Brown)",
    "active": "active per token (mixture of experts: top_k experts)",
}


def head_matrices(attention: Node) -> dict[str, Node]:
    """The four matrices one head uses (key and value-down shared within a GQA group)."""
    return attention.first_leaves(MATRICES)


def param_summary(a: Architecture, tree: Node | None = None) -> dict[str, Any]:
    tree = tree or count_params(a)
    blk = tree.get("blocks.block")
    att, mlp = blk.child("attention"), blk.child("mlp")
    mats = head_matrices(att)
    biases, rel = att.total_at("biases"), att.total_at("relative")
    heads_per_block = att.each - biases - rel
    expert = mlp.get("expert")
    inactive = (a.n_experts - a.top_k) * expert.each if a.is_moe else 0
    total = tree.total

    vocab_tables = tree.sum_kind("embedding", "position", "unembedding", "vocab_bias")
    matrices = tree.sum_kind("matrix", "embedding", "unembedding")
    if a.unembedding == "tied":
        matrices += a.vocab_size * a.d_model
    n = a.n_layers
    return {
        "total": total,
        "per_block": blk.each,
        "blocks": tree.get("blocks").total,
        "n_layers": n,
        "attention": {
            "per_matrix": {m: node.value for m, node in mats.items()},
            "shapes": {m: list(node.shape) for m, node in mats.items()},
            "per_head": sum(node.value for node in mats.values()),
            "heads_per_block": heads_per_block,
            "heads_total": n * heads_per_block,
            "biases_per_block": biases,
            "relative_positions_per_block": rel,
            "per_block": att.each,
            "total": n * att.each,
        },
        "mlp": {
            "per_block": mlp.each,
            "active_per_block": mlp.each - inactive,
            "per_expert": expert.each if expert else mlp.each,
            "total": n * mlp.each,
        },
        "norms": {"per_block": blk.total_at("norms"), "final": tree.total_at("final_norm")},
        "embedding": tree.total_at("embedding"),
        "unembedding": tree.total_at("unembedding"),
        "pooler": tree.total_at("pooler"),
        "conventions": {
            "total": total,
            "non_embedding": total - vocab_tables,
            "matrices_only": matrices,
            "active": total - n * inactive,
        },
    }
