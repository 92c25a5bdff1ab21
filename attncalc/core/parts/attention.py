"""Attention, described once: heads and their four matrices, the attention core, biases, relative
positions.

References:
- Vaswani et al. 2017, sec. 3.2.2: W_i^Q, W_i^K, W_i^V in R^{d_model x d_k} per head and
  W^O in R^{h d_v x d_model}. The seed (3Blue1Brown, "Attention in transformers") names them query,
  key, value-down (W_V of a head) and value-up (that head's d_model x d_head slice of W^O).
- Attention over a (query, key) pair costs d_head multiply-accumulates for the score q.k and d_head
  for adding its share of the value (Vaswani et al. 2017 eq. 1); which pairs exist is the mask's
  business (core.workload).
- Grouped-query / multi-query attention: Ainslie et al. 2023 (GQA), Shazeer 2019 (MQA): n_kv_heads
  key and value heads, each shared by n_heads / n_kv_heads query heads; keys and values are what a
  KV cache keeps (Pope et al. 2022, sec. 2).
- Relative positions (Dai et al. 2019, Transformer-XL, sec. 3.3), as Gopher and Chinchilla use them:
  per block a projection W_R of the sinusoidal position encodings (d_model x n_heads d_head), the
  two global biases u and v (n_heads d_head each), and one more score per (query, key) pair.
"""

from __future__ import annotations

from ...spec.arch import Architecture
from .base import Op, Part, Weight, bias, part

HEAD_ORDER = ("query", "key", "value_down", "value_up")


def attention(a: Architecture) -> Part:
    d, dh = a.d_model, a.head_dim
    q = Weight("query", "query (W_Q)", dh, d, "d_head × d_model")
    k = Weight("key", "key (W_K)", dh, d, "d_head × d_model", cached=True)
    vd = Weight("value_down", "value-down (W_V)", dh, d, "d_head × d_model", cached=True)
    vu = Weight("value_up", "value-up (W_O slice)", d, dh, "d_model × d_head")
    core = (Op("scores", "scores (q·k)", "pairs", dh, kind="attention"),
            Op("weighted_values", "weighted sum of values", "pairs", dh, kind="attention"),
            Op("softmax", "softmax", "pairs", 1, "softmax"))
    qkv_rows = (a.n_heads + 2 * a.kv_heads) * dh
    biases = part("biases", "biases",
                  bias("qkv", "query/key/value biases", qkv_rows if a.qkv_bias else 0, "(n_heads + 2 n_kv_heads) × d_head"),
                  bias("out", "output bias", d if a.out_bias else 0, "d_model"))
    relative = None
    if a.positions == "relative":
        relative = part("relative", "relative positions",
                        Weight("projection", "W_R", a.n_heads * dh, d, "n_heads d_head × d_model", over="positions",
                               flop_label="W_R of the position encodings"),
                        Weight("biases", "u, v", 2 * a.n_heads * dh, 1, "2 n_heads d_head", "bias", over=None),
                        Op("scores", "position scores", "pairs", dh, kind="attention", heads=a.n_heads))
    return part("attention", "attention", heads(a, [q, vu, *core], [k, vd]), biases, relative)


def heads(a: Architecture, per_query_head: list, per_kv_head: list) -> Part:
    """Multi-head: ``heads`` x head (query, key, value-down, value-up, its core). Grouped-query:
    ``kv_groups`` x group, each holding its query heads (query, value-up, core) and the key and
    value-down they share."""
    if a.group_size == 1:
        rank = {n: i for i, n in enumerate(HEAD_ORDER)}
        both = sorted(per_query_head + per_kv_head, key=lambda n: rank.get(n.name, len(rank)))
        return part("heads", "heads", part("head", "head", *both), count=a.n_heads)
    query_heads = part("heads", "query heads", part("head", "query head", *per_query_head), count=a.group_size)
    return part("kv_groups", "key/value groups", part("group", "group", query_heads, *per_kv_head), count=a.kv_heads)
