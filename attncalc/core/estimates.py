"""The published FLOP estimates users know, each cited, for reconciliation with the exact count.

All are evaluated exactly (Fractions, rounded to the nearest integer only at the end) for training
on D tokens in sequences of S. Each entry says what the formula leaves out, so that a difference
from the exact count can be read as a difference of convention, not a mistake.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from ..spec.arch import Architecture
from .figures import Params, params_of


@dataclass(frozen=True)
class Estimate:
    value: int
    formula: str
    source: str
    assumes: str
    tokens: int
    ratio_exact_to_estimate: Fraction | None  # the exact training count ÷ this estimate


def estimates(a: Architecture, tokens: int, seq: int, params: Params | None = None,
              exact: int | None = None) -> dict[str, Estimate]:
    """Each estimate for training on ``tokens`` tokens in sequences of ``seq``; ``exact`` (the exact
    training count) gives each its ratio."""
    params = params or params_of(a)
    inactive = params.total - params.conventions.active  # experts a token does not run
    n_total, n = params.total, params.conventions.non_embedding
    L, d, V, S, D = a.n_layers, a.d_model, a.vocab_size, seq, tokens
    d_attn = a.n_heads * a.head_dim
    out: dict[str, Estimate] = {}

    def add(name: str, value: Fraction | int, formula: str, source: str, assumes: str) -> None:
        v = round(Fraction(value))
        out[name] = Estimate(v, formula, source, assumes, D, Fraction(exact, v) if (exact is not None and v) else None)

    # A mixture of experts is estimated, as the field does, with the parameters a token runs
    # (N_active: DeepSeek-V3 technical report; Megatron-LM's num_floating_point_operations counts
    # top-k experts); each estimate is also given with N_total, labelled, for models with experts.
    variants = [("", inactive, "N_active, the parameters a token runs (top_k experts)")] if inactive else \
        [("", 0, "")]
    if inactive:
        variants.append(("_total", 0, "N_total, every expert as if all ran"))
    for suffix, idle, which in variants:
        all_n = f"N = {which}" if which else "N all parameters"
        non_emb = f"N non-embedding, {which.split(',')[0]}" if which else "N non-embedding"
        add("6ND" + suffix, 6 * (n_total - idle) * D, f"6 × N × D, {all_n}",
            "Brown et al. 2020 (GPT-3) Table D.1; Hoffmann et al. 2022 (Chinchilla)",
            "no attention over the context; embedding lookups priced as matmuls; logits included only via N")
        # Kaplan et al. 2020, Table 1: C_forward = 2N + 2 n_layer n_ctx d_attn per token; training = 3x forward.
        add("kaplan" + suffix, 3 * (2 * (n - idle) + 2 * L * S * d_attn) * D,
            f"3 × (2N + 2 · n_layer · n_ctx · d_attn) × D, {non_emb}",
            "Kaplan et al. 2020, Scaling Laws for Neural Language Models, Table 1 and sec. 2.1",
            "attention ≈ causal (n_ctx/2 keys for q·k and for values); no logits; biases and norms priced as weights")
        # PaLM (Chowdhery et al. 2022) Appendix B: 6N + 12 L H Q T model FLOPs per token, N all the
        # parameters: with PaLM 540B's 540.35B (Table 1), 238.3K tokens/s on 6144 TPU v4 chips (275
        # TFLOP/s bf16 each) gives its 46.2% MFU (45.7% without the attention term).
        add("palm" + suffix, (6 * (n_total - idle) + 12 * L * a.n_heads * a.head_dim * S) * D,
            f"(6N + 12 · L · H · Q · T) × D, {all_n}",
            "Chowdhery et al. 2022, PaLM, Appendix B (model FLOPs utilisation)",
            "full (non-causal) S × S attention; logits priced through the (tied) embedding in N; "
            "biases and norms priced as weights")
    # Chinchilla (Hoffmann et al. 2022) Appendix F, forward FLOPs of one sequence; backward = 2x forward.
    per_seq = (2 * S * V * d  # embeddings (counted as a matmul)
               + L * (2 * 3 * S * d * d_attn  # key, query, value projections
                      + 2 * S * S * d_attn  # key @ query logits
                      + 3 * a.n_heads * S * S  # softmax
                      + 2 * S * S * d_attn  # softmax @ value reductions
                      + 2 * S * d_attn * d  # final linear
                      + 2 * S * (d * a.ff_dim + d * a.ff_dim))  # dense block
               + 2 * S * d * V)  # final logits
    add("chinchilla", Fraction(3 * per_seq * D, S), "3 × forward(App. F) × D / S",
        "Hoffmann et al. 2022, Training Compute-Optimal LLMs, Appendix F",
        "full attention; softmax 3 FLOPs per score; embedding lookup counted as a matmul; "
        "multi-head, two-matrix MLP (a gated MLP's third matrix and GQA's smaller K, V are not in it); "
        "note: the paper's Table A4 ratios reproduce only without the embeddings and logits terms")
    # Megatron-LM (Narayanan et al. 2021) eq. 3: 96 B s l h^2 (1 + s/(6h) + V/(16 l h)) per iteration
    # of B sequences; B s = D tokens. Expanded to integers: 96 D l h^2 + 16 D l h s + 6 D h V.
    add("megatron", 96 * D * L * d * d + 16 * D * L * d * S + 6 * D * d * V,
        "96 · B · s · l · h² · (1 + s/(6h) + V/(16 · l · h)), B · s = D",
        "Narayanan et al. 2021, Efficient Large-Scale LM Training on GPU Clusters, eq. 3",
        "d_ff = 4h, multi-head, full attention, activation recomputation (4 passes; logits 3)")
    return out
