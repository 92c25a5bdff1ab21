"""Exact FLOP counts of a workload, as a Node tree shaped like the parameter tree.

Conventions (each a named option, shown in every output header):
- A multiply-accumulate is 2 FLOPs (``macs=True`` reports multiply-accumulates instead). A matmul
  of a (tokens x cols) input by a (cols -> rows) matrix is 2 x tokens x rows x cols FLOPs, as in
  Kaplan et al. 2020 Table 1 and PyTorch's ``torch.utils.flop_counter`` (``mm``: 2 m n k).
- Attention over a (query, key) pair costs 2 d_head for the score q.k and 2 d_head for adding its
  share of the value (Vaswani et al. 2017 eq. 1). ``causal`` keeps the triangle a causal mask keeps,
  diagonal included: S (S + 1) / 2 pairs; ``full`` counts all S^2 (PyTorch's flop counter, PaLM
  Appendix B). A sliding window (Beltagy et al. 2020; Mistral) keeps min(i + 1, W) keys for query i.
- ``ops="matmul"`` counts matrix products only; ``ops="all"`` adds the element-wise work with the
  per-element costs of ``ELEMENTWISE`` below (softmax, norms, activations, biases, residual adds).
- Embedding lookups cost nothing; the logits (unembedding) are a matmul even when tied.
- Mixture of experts: each token runs top_k experts and the router (Fedus et al. 2021).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..spec.arch import MAX_INT, Architecture
from .tree import Node, group
from ..errors import WorkloadError
from ..errors import shown
from .params import head_structure

# FLOPs per element for ops="all". Comparisons (the softmax max) are not counted as FLOPs.
ELEMENTWISE = {
    "softmax": 5,  # scale by 1/sqrt(d_head), subtract the row max, exp, add to the row sum, divide
    "layernorm": 7,  # mean (add), subtract, square, variance (add), multiply by rsqrt, scale, bias
    "layernorm_nobias": 6,
    "rmsnorm": 4,  # square, add, multiply by rsqrt, scale
    "gelu": 8,  # tanh form: x^3, 2 multiply-adds, tanh, add, 2 multiplies
    "silu": 4,  # exp, add, divide, multiply
    "relu": 1,
    "gate": 1,  # the gated MLP's product of the activated gate and the up projection
    "bias": 1,
    "residual": 1,
    "tanh": 1,  # the BERT pooler's tanh
    "combine": 2,  # a mixture of experts weighting and adding an expert's output
}


@dataclass(frozen=True)
class Convention:
    attention: str = "auto"  # auto (the model's own: causal for decoders) | causal | full
    ops: str = "matmul"  # matmul | all
    macs: bool = False

    def __post_init__(self) -> None:
        if self.attention not in ("auto", "causal", "full"):
            raise WorkloadError(f"--attention must be auto, causal or full, not {self.attention!r}")
        if self.ops not in ("matmul", "all"):
            raise WorkloadError(f"--ops must be matmul or all, not {self.ops!r}")

    def causal(self, a: Architecture) -> bool:
        return a.causal if self.attention == "auto" else self.attention == "causal"

    def describe(self, a: Architecture) -> str:
        mask = "causal (triangle, diagonal included)" if self.causal(a) else "full (S × S)"
        if a.sliding_window and self.causal(a):
            mask += f", sliding window {a.sliding_window:,}"
        unit = "1 per multiply-accumulate (MACs)" if self.macs else "2 FLOPs per multiply-accumulate"
        ops = "matmuls only" if self.ops == "matmul" else "matmuls + element-wise (softmax, norms, activations, adds)"
        return f"attention {mask}; {unit}; {ops}"

    def as_dict(self, a: Architecture) -> dict:
        return {"attention": "causal" if self.causal(a) else "full", "sliding_window": a.sliding_window if self.causal(a) else None,
                "ops": self.ops, "unit": "mac" if self.macs else "flop", "flops_per_mac": 1 if self.macs else 2,
                "backward_factor": 2, "elementwise_costs": dict(ELEMENTWISE) if self.ops == "all" else {}}


def positive(name: str, value: int, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise WorkloadError(f"{name} must be an integer >= {low}, got {shown(value)}")
    if value > MAX_INT:  # like the model's fields: a signed 64-bit int, so every product prints
        raise WorkloadError(f"{name} is too large: at most 2**63 - 1 = {MAX_INT:,}")
    return value


def attention_pairs(seq: int, causal: bool, window: int | None = None) -> int:
    """(query, key) pairs attended in one sequence of ``seq`` tokens (exact for every length)."""
    if not causal:
        return seq * seq
    if window is None or window >= seq:
        return seq * (seq + 1) // 2
    return window * (window + 1) // 2 + (seq - window) * window


def decode_pairs(context: int, causal: bool, window: int | None = None) -> int:
    """Keys one new token attends to with ``context`` tokens already cached (itself included)."""
    keys = context + 1
    return min(keys, window) if (causal and window) else keys


@dataclass(frozen=True)
class _Work:
    tokens: int  # tokens through the projections and MLP
    pairs: int  # (query, key) pairs per head, all sequences together
    pooled: int  # rows through the pooler (sequences), 0 if none
    positions: int = 0  # relative position encodings projected by W_R (shared by the batch)


def forward(a: Architecture, batch: int, seq: int, conv: Convention = Convention()) -> Node:
    """A forward pass over ``batch`` sequences of ``seq`` tokens (prefill)."""
    positive("batch", batch), positive("seq", seq)
    window = a.sliding_window if conv.causal(a) else None
    pairs = batch * attention_pairs(seq, conv.causal(a), window)
    return _model(a, _Work(batch * seq, pairs, batch, seq), conv, "forward")


def decode(a: Architecture, batch: int, context: int, conv: Convention = Convention()) -> Node:
    """One decode step: one new token per sequence, attending over a cache of ``context`` tokens."""
    positive("batch", batch), positive("context", context, 0)
    keys = decode_pairs(context, conv.causal(a), a.sliding_window)
    return _model(a, _Work(batch, batch * keys, 0, keys), conv, "decode")


def _model(a: Architecture, w: _Work, conv: Convention, name: str) -> Node:
    k = 1 if conv.macs else 2
    t, d, ew = w.tokens, a.d_model, conv.ops == "all"

    def mm(key: str, label: str, rows: int, cols: int, tokens: int = t) -> Node:
        return Node(key, label, k * tokens * rows * cols, shape=(rows, cols),
                    formula=f"{k} × {tokens:,} tokens × {rows:,} × {cols:,}", kind="matmul")

    def el(key: str, label: str, elements: int, cost: str) -> Node | None:
        if not ew or not elements:
            return None
        return Node(key, label, elements * ELEMENTWISE[cost], formula=f"{elements:,} × {ELEMENTWISE[cost]} ({cost})",
                    kind="elementwise")

    norm_cost = a.norm if a.norm == "rmsnorm" or a.norm_bias else "layernorm_nobias"
    embedding = group("embedding", "embedding",
                      el("position", "add positions", t * d if a.positions == "learned" else 0, "residual"),
                      el("token_type", "add token types", t * d if a.token_types else 0, "residual"),
                      el("norm", "embedding norm", t * d if a.embedding_norm else 0, norm_cost))
    return group(name, a.name, embedding,
                 group("blocks", "blocks", _block(a, w, conv, mm, el, norm_cost), count=a.n_layers),
                 el("final_norm", "final norm", t * d if a.final_norm else 0, norm_cost),
                 _logits(a, w, mm, el), _pooler(a, w, mm, el))


def _block(a, w, conv, mm, el, norm_cost) -> Node:
    t, d, dh, f = w.tokens, a.d_model, a.head_dim, a.ff_dim
    k = 1 if conv.macs else 2
    core = [Node("scores", "scores (q·k)", k * w.pairs * dh, formula=f"{k} × {w.pairs:,} pairs × {dh}", kind="attention"),
            Node("weighted_values", "weighted sum of values", k * w.pairs * dh,
                 formula=f"{k} × {w.pairs:,} pairs × {dh}", kind="attention")]
    soft = el("softmax", "softmax", w.pairs, "softmax")
    per_q = [mm("query", "query (W_Q)", dh, d), mm("value_up", "value-up (W_O slice)", d, dh), *core]
    heads = head_structure(a, per_q + ([soft] if soft else []),
                           [mm("key", "key (W_K)", dh, d), mm("value_down", "value-down (W_V)", dh, d)])
    qkv_bias = (a.n_heads + 2 * a.kv_heads) * dh if a.qkv_bias else 0
    rel = None
    if a.positions == "relative":  # Transformer-XL: R W_R once per pass, then (q + v)·(W_R r) per pair
        rel = group("relative", "relative positions",
                    mm("projection", "W_R of the position encodings", a.n_heads * dh, d, w.positions),
                    Node("scores", "position scores", k * a.n_heads * w.pairs * dh,
                         formula=f"{k} × {a.n_heads} heads × {w.pairs:,} pairs × {dh}", kind="attention"))
    attention = group("attention", "attention", heads,
                      el("biases", "biases", t * (qkv_bias + (d if a.out_bias else 0)), "bias"), rel)
    n_in = 2 if a.mlp == "gated" else 1
    expert_tokens = t * a.top_k if a.is_moe else t
    expert = group("expert", "expert",
                   mm("gate", "gate (W_gate)", f, d, expert_tokens) if n_in == 2 else None,
                   mm("up", "up (W_up)", f, d, expert_tokens), mm("down", "down (W_down)", d, f, expert_tokens),
                   el("activation", a.activation, expert_tokens * f, a.activation),
                   el("gate_product", "gate product", expert_tokens * f if n_in == 2 else 0, "gate"),
                   el("bias", "biases", expert_tokens * (n_in * f + d) if a.mlp_bias else 0, "bias"))
    if a.is_moe:
        mlp = group("mlp", "MoE MLP", mm("router", "router", a.n_experts, d),
                    el("router_softmax", "router softmax", t * a.n_experts, "softmax"),
                    replace(expert, label=f"top-{a.top_k} experts per token"),
                    el("combine", "combine experts", t * a.top_k * d, "combine"))
    else:
        mlp = group("mlp", "MLP", *expert.children)
    return group("block", "block", attention, mlp,
                 el("norms", "norms", t * d * a.norms_per_block, norm_cost),
                 el("residual", "residual adds", 2 * t * d, "residual"))


def _logits(a, w, mm, el) -> Node | None:
    if a.unembedding == "none":
        return None
    return group("unembedding", "logits", mm("matrix", "logits (W_U)", a.vocab_size, a.d_model),
                 el("bias", "logit bias", w.tokens * a.vocab_size if a.lm_head_bias else 0, "bias"))


def _pooler(a, w, mm, el) -> Node | None:
    if not a.pooler or not w.pooled:
        return None
    return group("pooler", "pooler", mm("dense", "pooler dense", a.d_model, a.d_model, w.pooled),
                 el("bias", "pooler bias", w.pooled * a.d_model, "bias"),
                 el("tanh", "tanh", w.pooled * a.d_model, "tanh"))


def training(a: Architecture, tokens: int, seq: int, conv: Convention = Convention(),
             recompute: bool = False) -> dict[str, int]:
    """Training on ``tokens`` tokens cut into sequences of ``seq``: forward + backward (2 x forward,
    Kaplan et al. 2020 sec. 2.1), plus one more forward with full activation recomputation
    (Korthikanti et al. 2022). A last partial sequence is counted at its own length."""
    positive("tokens", tokens), positive("seq", seq)
    full, rest = divmod(tokens, seq)
    fwd = (forward(a, full, seq, conv).total if full else 0) + (forward(a, 1, rest, conv).total if rest else 0)
    out = {"tokens": tokens, "seq": seq, "sequences": full + (1 if rest else 0), "forward": fwd,
           "backward": 2 * fwd, "recompute": fwd if recompute else 0}
    out["total"] = out["forward"] + out["backward"] + out["recompute"]
    return out
