"""Named figures read off the FLOP trees (forward, decode) plus training, estimates and scaling."""

from __future__ import annotations

from typing import Any

from ..spec.arch import Architecture
from .tree import Node
from .estimates import estimates
from .flops import Convention, decode, forward, training

HEAD_PARTS = ("query", "key", "value_down", "value_up", "scores", "weighted_values", "softmax")


def head_parts(attention: Node) -> dict[str, int]:
    """FLOPs of one head: its projections and its attention core."""
    return {k: n.value for k, n in attention.first_leaves(HEAD_PARTS).items()}


def pass_summary(tree: Node) -> dict[str, Any]:
    blk = tree.get("blocks.block")
    att, mlp = blk.child("attention"), blk.child("mlp")
    parts = head_parts(att)
    core = parts.get("scores", 0) + parts.get("weighted_values", 0) + parts.get("softmax", 0)
    n = tree.get("blocks").count

    return {
        "total": tree.total,
        "per_block": blk.each,
        "blocks": tree.get("blocks").total,
        "attention": {
            "per_head": sum(parts.values()),
            "per_head_parts": parts,
            "per_head_formulas": {k: n.formula for k, n in att.first_leaves(HEAD_PARTS).items()},
            "core_per_head": core,
            "per_block": att.each,
            "total": n * att.each,
            "share": n * att.each / tree.total if tree.total else 0.0,
        },
        "mlp": {"per_block": mlp.each, "total": n * mlp.each},
        "embedding": tree.total_at("embedding"),
        "unembedding": tree.total_at("unembedding"),
        "pooler": tree.total_at("pooler"),
        "matmul": tree.sum_kind("matmul", "attention"),
        "elementwise": tree.sum_kind("elementwise"),
    }


def scaling(a: Architecture, conv: Convention, upto: int) -> list[dict[str, Any]]:
    """Attention's share of forward FLOPs as the sequence grows (powers of two up to ``upto``)."""
    rows, s = [], 256
    while s < upto:
        rows.append(s)
        s *= 2
    rows.append(upto)
    out = []
    for s in rows:
        f = pass_summary(forward(a, 1, s, conv))
        out.append({"seq": s, "forward": f["total"], "attention_core": a.n_layers * a.n_heads * f["attention"]["core_per_head"],
                    "attention_share": f["attention"]["share"]})
    return out


def flop_summary(a: Architecture, conv: Convention, *, batch: int, seq: int, context: int,
                 tokens: int | None, recompute: bool = False) -> dict[str, Any]:
    fwd_tree = forward(a, batch, seq, conv)
    out: dict[str, Any] = {
        "convention": conv.as_dict(a) | {"text": conv.describe(a)},
        "workload": {"batch": batch, "seq": seq, "context": context, "tokens": tokens, "recompute": recompute},
        "forward": pass_summary(fwd_tree),
        "decode": pass_summary(decode(a, batch, context, conv)) | {"context": context},
    }
    d_tokens = tokens if tokens is not None else batch * seq
    train = training(a, d_tokens, seq, conv, recompute)
    if tokens is not None:
        out["training"] = train
    est = estimates(a, d_tokens, seq)
    for e in est.values():
        e["tokens"] = d_tokens
        e["ratio_exact_to_estimate"] = train["total"] / e["value"] if e["value"] else None
    out["estimates"] = est
    out["scaling"] = scaling(a, conv, max(seq, 256))
    return out
