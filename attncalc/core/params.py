"""Exact parameter counts of an Architecture, as one Node tree.

References for each formula:
- Attention: Vaswani et al. 2017, sec. 3.2.2: W_i^Q, W_i^K, W_i^V in R^{d_model x d_k} per head and
  W^O in R^{h d_v x d_model}. The seed (3Blue1Brown, "Attention in transformers") names them query,
  key, value-down (W_V of a head) and value-up (that head's d_model x d_head slice of W^O).
- Grouped-query / multi-query attention: Ainslie et al. 2023 (GQA), Shazeer 2019 (MQA): n_kv_heads
  key and value heads, each shared by n_heads / n_kv_heads query heads.
- MLP: two matrices d_model x d_ff (Vaswani eq. 2); gated (GLU) variants three (Shazeer 2020).
- Mixture of experts: Fedus et al. 2021 / Jiang et al. 2024 (Mixtral): n_experts MLPs and a router
  matrix n_experts x d_model (no bias); top_k experts are active per token.
- LayerNorm (Ba et al. 2016): scale and bias of d_model each; RMSNorm (Zhang & Sennrich 2019): scale.
- Relative positions (Dai et al. 2019, Transformer-XL, sec. 3.3), as Gopher and Chinchilla use them:
  per block a projection W_R of the sinusoidal position encodings (d_model x n_heads d_head) and the
  two global biases u and v (n_heads d_head each).
- BERT (Devlin et al. 2019): token-type embedding, embedding LayerNorm, pooler dense d x d + bias.
"""

from __future__ import annotations

from dataclasses import replace

from ..spec.arch import Architecture
from .tree import Node, group, leaf


def count_params(a: Architecture) -> Node:
    """The whole model's parameter tree (tied weights counted once)."""
    return group(
        "model",
        a.name,
        embedding(a),
        group("blocks", "blocks", block(a), count=a.n_layers),
        _norm("final_norm", "final norm", a) if a.final_norm else None,
        unembedding(a),
        pooler(a),
    )


def embedding(a: Architecture) -> Node:
    return group(
        "embedding",
        "embedding",
        leaf("token", "token embedding (W_E)", a.vocab_size, a.d_model, "vocab_size × d_model", "embedding"),
        leaf("position", "position embedding", a.position_rows, a.d_model, "n_positions × d_model", "position"),
        leaf("token_type", "token-type embedding", a.token_types, a.d_model, "token_types × d_model", "position"),
        _norm("norm", "embedding norm", a) if a.embedding_norm else None,
    )


def block(a: Architecture) -> Node:
    return group(
        "block",
        "block",
        attention(a),
        mlp(a),
        group("norms", "norms", _norm("norm", "norm", a), count=a.norms_per_block),
    )


def attention(a: Architecture) -> Node:
    """Heads grouped by the key/value head they share; for multi-head attention a group is a head."""
    d, dh = a.d_model, a.head_dim
    q = leaf("query", "query (W_Q)", dh, d, "d_head × d_model")
    k = leaf("key", "key (W_K)", dh, d, "d_head × d_model")
    vd = leaf("value_down", "value-down (W_V)", dh, d, "d_head × d_model")
    vu = leaf("value_up", "value-up (W_O slice)", d, dh, "d_model × d_head")
    heads = head_structure(a, [q, vu], [k, vd])
    qkv_rows = (a.n_heads + 2 * a.kv_heads) * dh
    biases = group(
        "biases",
        "biases",
        leaf("qkv", "query/key/value biases", qkv_rows if a.qkv_bias else 0, 1,
             "(n_heads + 2 n_kv_heads) × d_head", "bias"),
        leaf("out", "output bias", d if a.out_bias else 0, 1, "d_model", "bias"),
    )
    rel = None
    if a.positions == "relative":
        rel = group("relative", "relative positions",
                    leaf("projection", "W_R", a.n_heads * dh, d, "n_heads d_head × d_model"),
                    leaf("biases", "u, v", 2 * a.n_heads * dh, 1, "2 n_heads d_head", "bias"))
    return group("attention", "attention", heads, biases, rel)


HEAD_ORDER = ("query", "key", "value_down", "value_up")


def head_structure(a: Architecture, per_query_head: list[Node], per_kv_head: list[Node]) -> Node:
    """Multi-head: ``heads`` x head (query, key, value-down, value-up, …). Grouped-query: ``kv_groups``
    x group, each holding its query heads (query, value-up, …) and the key and value-down they share.
    Used for the parameter tree and the FLOP tree alike, so both have the same shape."""
    if a.group_size == 1:
        rank = {n: i for i, n in enumerate(HEAD_ORDER)}
        both = sorted(per_query_head + per_kv_head, key=lambda n: rank.get(n.name, len(rank)))
        return group("heads", "heads", group("head", "head", *both), count=a.n_heads)
    query_heads = group("heads", "query heads", group("head", "query head", *per_query_head), count=a.group_size)
    return group("kv_groups", "key/value groups", group("group", "group", query_heads, *per_kv_head), count=a.kv_heads)


def mlp(a: Architecture) -> Node:
    expert = _ffn(a)
    if not a.is_moe:
        return group("mlp", "MLP", *expert.children)
    router = leaf("router", "router", a.n_experts, a.d_model, "n_experts × d_model")
    return group("mlp", "MoE MLP", replace(expert, label="experts", count=a.n_experts), router)


def _ffn(a: Architecture) -> Node:
    d, f = a.d_model, a.ff_dim
    gated = a.mlp == "gated"
    n_in = 2 if gated else 1
    return group(
        "expert",
        "expert",
        leaf("gate", "gate (W_gate)", f, d, "d_ff × d_model") if gated else None,
        leaf("up", "up (W_up)", f, d, "d_ff × d_model"),
        leaf("down", "down (W_down)", d, f, "d_model × d_ff"),
        leaf("bias", "biases", (n_in * f + d) if a.mlp_bias else 0, 1,
             f"{n_in} d_ff + d_model" if gated else "d_ff + d_model", "bias"),
    )


def unembedding(a: Architecture) -> Node | None:
    if a.unembedding == "none":
        return None
    rows = a.vocab_size if a.unembedding == "untied" else 0
    return group(
        "unembedding",
        "unembedding",
        leaf("matrix", "unembedding (W_U)", rows, a.d_model, "vocab_size × d_model", "unembedding"),
        leaf("bias", "logit bias", a.vocab_size if a.lm_head_bias else 0, 1, "vocab_size", "vocab_bias"),
    )


def pooler(a: Architecture) -> Node | None:
    if not a.pooler:
        return None
    return group(
        "pooler",
        "pooler",
        leaf("dense", "pooler dense", a.d_model, a.d_model, "d_model × d_model"),
        leaf("bias", "pooler bias", a.d_model, 1, "d_model", "bias"),
    )


def _norm(name: str, label: str, a: Architecture) -> Node:
    formula = "2 × d_model (scale, bias)" if a.norm_params == 2 * a.d_model else "d_model (scale)"
    return leaf(name, label, a.norm_params, 1, formula, "norm")
