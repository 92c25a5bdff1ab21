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
from .base import Act, Op, Part, Weight, bias, norm, part


def norm_cost(a: Architecture) -> str:
    """The element-wise price of this model's kind of norm (workload.ELEMENTWISE)."""
    return a.norm if a.norm == "rmsnorm" or a.norm_bias else "layernorm_nobias"


def norm_of(a: Architecture, name: str, label: str, saves: tuple[Act, ...] = ()) -> Weight:
    """One norm over d_model, with this model's kind of norm."""
    with_bias = a.norm == "layernorm" and a.norm_bias
    formula = "2 × d_model (scale, bias)" if with_bias else "d_model (scale)"
    return norm(name, label, a.norm_params, a.d_model, norm_cost(a), formula, saves)


def block_norms(a: Architecture, count: int) -> Part:
    """A block's norms; each keeps its input for the backward pass (Korthikanti et al. 2022: 2sbh)."""
    kept = (Act("norm_{}_input", "2sbh (norm input)", "tokens", a.d_model, "outer", numbered=True),)
    return part("norms", "norms", norm_of(a, "norm", "norm", kept), count=count)


def embedding(a: Architecture) -> Part:
    d = a.d_model
    return part(
        "embedding", "embedding",
        Weight("token", "token embedding (W_E)", a.vocab_size, d, "vocab_size × d_model", "embedding", over=None,
               split="vocab"),
        Weight("position", "position embedding", a.position_rows, d, "n_positions × d_model", "position", over=None,
               work=Op("position", "add positions", "tokens", d, "residual"), split="none"),
        Weight("token_type", "token-type embedding", a.token_types, d, "token_types × d_model", "position", over=None,
               work=Op("token_type", "add token types", "tokens", d, "residual"), split="none"),
        norm_of(a, "norm", "embedding norm") if a.embedding_norm else None,
        # Korthikanti et al. 2022 sec. 4.3: the embedding's dropout mask
        Act("embedding_dropout_mask", "sbh (1-byte mask)", "tokens", d, "outer", "mask", ("dropout",), "mask"),
    )


def final_norm(a: Architecture) -> Weight | None:
    kept = (Act("final_norm_input", "2sbh (final norm input)", "tokens", a.d_model, "outer"),)
    return norm_of(a, "final_norm", "final norm", kept) if a.final_norm else None


def unembedding(a: Architecture) -> Part | None:
    if a.unembedding == "none":
        return None
    return part(
        "unembedding", "unembedding",
        Weight("matrix", "unembedding (W_U)", a.vocab_size, a.d_model, "vocab_size × d_model", "unembedding",
               shared=a.unembedding == "tied", flop_label="logits (W_U)", split="vocab"),
        bias("bias", "logit bias", a.vocab_size if a.lm_head_bias else 0, "vocab_size", kind="vocab_bias"),
        # Korthikanti et al. 2022 sec. 4.3: the output projection's input and the fp32 logits the
        # cross-entropy reads (vocab-parallel: split by t)
        Act("logits_input", "2sbh (input of the output projection)", "tokens", a.d_model, "outer"),
        Act("logits", "4sbv (fp32 logits for the cross-entropy)", "tokens", a.vocab_size, dtype="logits"),
        flop_label="logits",
    )


def pooler(a: Architecture) -> Part | None:
    if not a.pooler:
        return None
    return part(
        "pooler", "pooler",
        Weight("dense", "pooler dense", a.d_model, a.d_model, "d_model × d_model", over="sequences"),
        bias("bias", "pooler bias", a.d_model, "d_model", over="sequences", split="none"),
        Op("tanh", "tanh", "sequences", a.d_model, "tanh"),
        trained=False,  # BertModel's loss is on the hidden states: no backward reaches the pooler
    )
