"""The ends of a model, described once: embeddings, norms, the unembedding (logits), the pooler.

References:
- Token embedding W_E (vocab_size x d_model) and unembedding W_U (Vaswani et al. 2017, sec. 3.4;
  tied in GPT-2 and GPT-3). Embedding lookups cost no FLOPs; the logits are a matmul even when
  W_U is tied to W_E.
- LayerNorm (Ba et al. 2016): scale and bias of d_model each; RMSNorm (Zhang & Sennrich 2019): scale.
- BERT (Devlin et al. 2019): token-type embedding, embedding LayerNorm, pooler dense d x d + bias
  and tanh on the first token of each sequence; a loss on the hidden states (BertModel) sends no
  gradient through it, so training counts no backward for it (PyTorch: 2,359,296 fewer FLOPs for
  bert-base at batch 1 x 128 than 3 x forward).
"""

from __future__ import annotations

from ...spec.arch import Architecture
from .base import Op, Part, Weight, bias, norm, part


def norm_cost(a: Architecture) -> str:
    """The element-wise price of this model's kind of norm (workload.ELEMENTWISE)."""
    return a.norm if a.norm == "rmsnorm" or a.norm_bias else "layernorm_nobias"


def norm_of(a: Architecture, name: str, label: str) -> Weight:
    """One norm over d_model, with this model's kind of norm."""
    with_bias = a.norm == "layernorm" and a.norm_bias
    formula = "2 × d_model (scale, bias)" if with_bias else "d_model (scale)"
    return norm(name, label, a.norm_params, a.d_model, norm_cost(a), formula)


def embedding(a: Architecture) -> Part:
    d = a.d_model
    return part(
        "embedding", "embedding",
        Weight("token", "token embedding (W_E)", a.vocab_size, d, "vocab_size × d_model", "embedding", over=None),
        Weight("position", "position embedding", a.position_rows, d, "n_positions × d_model", "position", over=None,
               work=Op("position", "add positions", "tokens", d, "residual")),
        Weight("token_type", "token-type embedding", a.token_types, d, "token_types × d_model", "position", over=None,
               work=Op("token_type", "add token types", "tokens", d, "residual")),
        norm_of(a, "norm", "embedding norm") if a.embedding_norm else None,
    )


def final_norm(a: Architecture) -> Weight | None:
    return norm_of(a, "final_norm", "final norm") if a.final_norm else None


def unembedding(a: Architecture) -> Part | None:
    if a.unembedding == "none":
        return None
    return part(
        "unembedding", "unembedding",
        Weight("matrix", "unembedding (W_U)", a.vocab_size, a.d_model, "vocab_size × d_model", "unembedding",
               shared=a.unembedding == "tied", flop_label="logits (W_U)"),
        bias("bias", "logit bias", a.vocab_size if a.lm_head_bias else 0, "vocab_size", kind="vocab_bias"),
        flop_label="logits",
    )


def pooler(a: Architecture) -> Part | None:
    if not a.pooler:
        return None
    return part(
        "pooler", "pooler",
        Weight("dense", "pooler dense", a.d_model, a.d_model, "d_model × d_model", over="sequences"),
        bias("bias", "pooler bias", a.d_model, "d_model", over="sequences"),
        Op("tanh", "tanh", "sequences", a.d_model, "tanh"),
        trained=False,  # BertModel's loss is on the hidden states: no backward reaches the pooler
    )
