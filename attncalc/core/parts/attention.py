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
- Multi-head latent attention (DeepSeek-AI 2024, DeepSeek-V2 sec. 2.1, eqs. 9-19; DeepSeek-V3
  sec. 2.1.1): queries from a low-rank compression (W_DQ, q_lora_rank, with its RMSNorm; or a plain
  projection), keys and values from one shared latent c_KV = W_DKV h (kv_lora_rank, with its
  RMSNorm) and one shared rotary key W_KR h (qk_rope_head_dim); per head W_UQ/W_QR (the query's
  non-rotary and rotary parts), W_UK, W_UV and that head's slice of W_O. The cache keeps the latent
  and the rotary key: kv_lora_rank + qk_rope_head_dim numbers per token per layer (V2 Table 1:
  (d_c + d_h^R) l), whatever the number of heads. FLOPs are counted as the reference
  implementation (``modeling_deepseek_v3.py``) executes them: keys and values decompressed per
  token, the attention core over d_nope + d_rope per score and v_head_dim per value.
- Query/key norms (Qwen3, Gemma 3: one RMSNorm of d_head shared by the heads; OLMo-2: over the full
  n_heads d_head width) and attention sinks (gpt-oss: one learned logit per head).
- Gated attention (Qwen3-Next's full-attention layers, ``modeling_qwen3_next.py``
  ``Qwen3NextAttention``; Qiu et al. 2025, "Gated Attention for Large Language Models", sec. 2):
  ``q_proj`` is 2 n_heads d_head wide, each head's query and an output gate; the attention output
  is multiplied by sigmoid(gate) before ``o_proj``. Per query head one more d_head x d_model matrix.
"""

from __future__ import annotations

from ...spec.arch import Architecture
from .base import Act, Op, Part, Weight, bias, norm, part
from .ends import norm_cost
from .indexer import indexer

HEAD_ORDER = ("query", "key", "value_down", "value_up")


def scores_kept(over: str = "scores") -> tuple[Act, ...]:
    """What one head keeps of its (query, key) scores for the backward pass (Korthikanti et al.
    2022 sec. 4.1): the softmax output, and with dropout its mask and output, all S x S; or, with a
    flash kernel, only the log-sum-exp per query row, fp32 (Dao et al. 2022, Algorithm 2)."""
    return (Act("softmax_output", "2as²b (softmax output)", over, 1, kind="scores", when=("scores",)),
            Act("softmax_dropout_mask", "as²b (1-byte mask)", over, 1, dtype="mask", kind="mask",
                when=("scores", "dropout")),
            Act("attention_dropout_output", "2as²b (dropout output, input of ·V)", over, 1, kind="scores",
                when=("scores", "dropout")),
            Act("softmax_stats", "4sb·a (log-sum-exp, fp32)", "tokens", 1, dtype="fp32", kind="stats", when=("flash",)))


def attention_input(d: int) -> Act:
    return Act("qkv_input", "2sbh (norm output, input of the Q, K, V projections)", "tokens", d, "outer")


def output_mask(d: int) -> Act:
    return Act("attention_out_dropout_mask", "sbh (1-byte mask)", "tokens", d, "outer", "mask", ("dropout",), "mask")


def attention(a: Architecture, kv_shared: bool = False) -> Part:
    """A layer's attention; ``kv_shared``: it reads an earlier layer's keys and values (Gemma 3n's
    KV-sharing layers), so it has no key and value projections (and no key norm) and caches nothing."""
    if a.is_latent:
        return latent_attention(a)
    d, dh = a.d_model, a.head_dim
    q = Weight("query", "query (W_Q)", dh, d, "d_head × d_model", module="q")
    k = Weight("key", "key (W_K)", dh, d, "d_head × d_model", cached=True, module="k")
    vd = Weight("value_down", "value-down (W_V)", dh, d, "d_head × d_model", cached=True, module="v")
    # a KV-sharing layer's K and V are the tensors its source layer made (and keeps for the backward)
    vu = Weight("value_up", "value-up (W_O slice)", d, dh, "d_model × d_head", split="row", module="o")
    gate = (Weight("output_gate", "output gate (W_G)", dh, d, "d_head × d_model", module="q"),
            # out × sigmoid(gate): exp, add, divide, multiply, SiLU's arithmetic
            Op("gate_product", "output × sigmoid(gate) (priced as SiLU)", "tokens", dh, "silu"),
            Act("gate_output", "2sb·a·d_head (the gate, input of its sigmoid)", "tokens", dh)) if a.attention_gate else ()
    core = (Op("scores", "scores (q·k)", "pairs", dh, kind="attention"),
            Op("weighted_values", "weighted sum of values", "pairs", dh, kind="attention"),
            Op("softmax", "softmax", "pairs", 1, "softmax"))
    kept_q = (Act("query", "2sb·a·d_head (Q, input of QKᵀ)", "tokens", dh),
              *scores_kept(),
              Act("out_proj_input", "2sb·a·d_head (input of the output projection)", "tokens", dh))
    kept_kv = (Act("key", "2sb·n_kv·d_head (K, input of QKᵀ)", "tokens", dh),
               Act("value", "2sb·n_kv·d_head (V, input of ·V)", "tokens", dh))
    qkv_rows = (a.n_heads * (2 if a.attention_gate else 1) + (0 if kv_shared else 2 * a.kv_heads)) * dh
    biases = part("biases", "biases",
                  bias("qkv", "query/key/value biases", qkv_rows if a.qkv_bias else 0, "(n_heads + 2 n_kv_heads) × d_head"),
                  bias("out", "output bias", d if a.out_bias else 0, "d_model", split="none"))
    relative = None
    if a.positions == "relative":
        relative = part("relative", "relative positions",
                        Weight("projection", "W_R", a.n_heads * dh, d, "n_heads d_head × d_model", over="positions",
                               flop_label="W_R of the position encodings"),
                        Weight("biases", "u, v", 2 * a.n_heads * dh, 1, "2 n_heads d_head", "bias", over=None),
                        Op("scores", "position scores", "pairs", dh, kind="attention", heads=a.n_heads))
    return part("attention", "attention", attention_input(d),
                heads(a, [q, *gate, vu, *core, *kept_q], [k, vd, *kept_kv] if not kv_shared else []), biases,
                relative, *extras(a, kv_shared), output_mask(d))


def extras(a: Architecture, kv_shared: bool = False) -> list:
    """Query/key norms and attention sinks, where the model has them (a KV-sharing layer has no key norm)."""
    dh, cost = a.head_dim, norm_cost(a)
    per = 2 if (a.norm == "layernorm" and a.norm_bias) else 1  # scale (and bias) per feature
    both = " (scale, bias)" if per == 2 else ""
    out: list = []
    q_in = (Act("query_norm_input", "2sb·a·d_head (query before its norm)", "tokens", a.n_heads * dh),)
    k_in = (Act("key_norm_input", "2sb·n_kv·d_head (key before its norm)", "tokens", a.kv_heads * dh),)
    if a.qk_norm == "head":
        out += [norm("q_norm", "query norm", per * dh, a.n_heads * dh, cost, f"d_head{both}, shared by the heads", q_in),
                norm("k_norm", "key norm", per * dh, a.kv_heads * dh, cost, f"d_head{both}, shared by the heads", k_in)]
    elif a.qk_norm == "full":
        out += [norm("q_norm", "query norm", per * a.n_heads * dh, a.n_heads * dh, cost, f"n_heads × d_head{both}", q_in),
                norm("k_norm", "key norm", per * a.kv_heads * dh, a.kv_heads * dh, cost, f"n_kv_heads × d_head{both}", k_in)]
    if kv_shared:
        out = [w for w in out if w.name != "k_norm"]
    if a.attention_sinks:
        out.append(Weight("sinks", "attention sinks", a.n_heads, 1, "n_heads", "bias", over=None))
    return out


def latent_attention(a: Architecture) -> Part:
    d, nope, rope, v = a.d_model, a.head_dim, a.rope_dim, a.value_dim
    q_rank, kv_rank, cost = a.q_lora_rank, a.kv_lora_rank, norm_cost(a)
    pairs = "selected_pairs" if a.index_heads else "pairs"  # DeepSeek Sparse Attention: the indexer's top-k
    q_in = q_rank or d
    per_head = [
        Weight("query", "query up (W_UQ, W_QR)" if q_rank else "query (W_Q)", nope + rope, q_in,
               "(d_nope + d_rope) × " + ("q_lora_rank" if q_rank else "d_model"), module="q_b" if q_rank else "q"),
        Weight("key", "key up (W_UK)", nope, kv_rank, "d_nope × kv_lora_rank", module="kv_b"),
        Weight("value_down", "value up (W_UV)", v, kv_rank, "v_head_dim × kv_lora_rank", module="kv_b"),
        Weight("value_up", "value-up (W_O slice)", d, v, "d_model × v_head_dim", split="row", module="o"),
        # as the reference implementation runs it: keys and values decompressed per token
        Op("scores", "scores (q·k)", pairs, nope + rope, kind="attention", variant="naive"),
        Op("weighted_values", "weighted sum of values", pairs, v, kind="attention", variant="naive"),
        # absorbed (DeepSeek-V2 sec. 2.1.2: W_UK folded into the query, W_UV into the output): the
        # scores and the weighted sum run over the cached latent (and rotary key) themselves
        Op("scores", "scores (q·latent)", pairs, kv_rank + rope, kind="attention", variant="absorbed"),
        Op("weighted_values", "weighted sum of latents", pairs, kv_rank, kind="attention", variant="absorbed"),
        Op("softmax", "softmax", pairs, 1, "softmax"),
        # kept for the backward pass as the reference implementation runs it (keys and values
        # decompressed per head; the shared rotary key broadcast into every head's key)
        Act("query", "2sb·a·(d_nope + d_rope) (Q, input of QKᵀ)", "tokens", nope + rope),
        Act("key", "2sb·a·(d_nope + d_rope) (K decompressed, input of QKᵀ)", "tokens", nope + rope),
        *scores_kept(),
        Act("value", "2sb·a·v_head_dim (V decompressed, input of ·V)", "tokens", v),
        Act("out_proj_input", "2sb·a·v_head_dim (input of the output projection)", "tokens", v),
    ]
    latent_norm = (Act("kv_latent", "2sb·kv_lora_rank (latent, input of its norm)", "tokens", kv_rank, "outer"),)
    shared = part(
        "latent", "shared projections",
        Weight("query_down", "query down (W_DQ)", q_rank, d, "q_lora_rank × d_model", module="q_a") if q_rank else None,
        norm("query_norm", "query latent norm", q_rank, q_rank, cost, "q_lora_rank",
             (Act("query_latent", "2sb·q_lora_rank (query latent, input of its norm)", "tokens", q_rank, "outer"),
              Act("query_latent_normed", "2sb·q_lora_rank (input of the query up-projection)", "tokens", q_rank,
                  "outer"))) if q_rank else None,
        Weight("kv_down", "key/value down and rotary key (W_DKV, W_KR)", kv_rank + rope, d,
               "(kv_lora_rank + d_rope) × d_model", cached=True, module="kv_a"),
        norm("kv_norm", "key/value latent norm", kv_rank, kv_rank, cost, "kv_lora_rank",
             latent_norm + (Act("kv_latent_normed", "2sb·kv_lora_rank (input of the key/value up-projection)",
                                "tokens", kv_rank, "outer"),)),
    )
    return part("attention", "latent attention" + (" with a sparse-attention indexer" if a.index_heads else ""),
                attention_input(d), part("heads", "heads", part("head", "head", *per_head), count=a.n_heads),
                shared, indexer(a), *extras(a), output_mask(d))


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
