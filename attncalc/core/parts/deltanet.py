"""Linear attention with the delta rule, described once: the gated DeltaNet (Qwen3-Next's linear
layers) and Kimi Delta Attention (Kimi-Linear's KDA layers). A layer keeps a recurrent state per
sequence (d_k x d_v per value head) and a short-convolution window instead of a KV cache.

References:
- Yang, Kautz & Hatamizadeh 2024, "Gated Delta Networks: Improving Mamba2 with Delta Rule"
  (arXiv:2412.06464), sec. 2-3: the gated delta rule S_t = α_t S_{t-1} (I − β_t k_t k_tᵀ) + β_t v_t k_tᵀ,
  o_t = S_t q_t, and its chunked form (sec. 3.2, the UT transform of Yang et al. 2024, "Parallelizing
  Linear Transformers with the Delta Rule over Sequence Length", sec. 3): within a chunk of C tokens
  the updates are gathered by (I + A)⁻¹ with A strictly lower triangular (A_ij = β_i k_iᵀ k_j with its
  decay), so a chunk is a few C x C, C x d_k and d_k x d_v products.
- transformers 5.24 ``modeling_qwen3_next.py`` ``Qwen3NextGatedDeltaNet`` (tests/golden/WAVE_NOTES.md
  2.3): ``in_proj_qkvz`` (2 H_k d_k + 2 H_v d_v) x d_model (queries, keys, values and the output
  gate z), ``in_proj_ba`` 2 H_v x d_model (β and the decay input a), a depthwise causal conv1d over
  q, k and v (2 H_k d_k + H_v d_v channels, no bias) with SiLU, ``dt_bias`` and ``A_log`` (H_v
  each), g = −exp(A_log) softplus(a + dt_bias), q and k l2-normalised and repeated H_v / H_k times,
  a gated RMSNorm over d_v (shared by the heads) with SiLU(z), ``out_proj`` d_model x H_v d_v.
- transformers 5.24 ``modeling_kimi_linear.py`` ``KimiLinearDeltaAttention`` (WAVE_NOTES 2.27; Kimi
  Team 2025, "Kimi Linear", sec. 3): q, k, v projections H d x d_model, a depthwise conv1d over all
  three (3 H d channels), a per-channel forget gate from a low-rank projection (``f_a_proj`` d x
  d_model, ``f_b_proj`` H d x d, ``dt_bias`` H d, ``A_log`` H), β from ``b_proj`` H x d_model, a
  low-rank output gate (``g_a_proj``, ``g_b_proj``), a gated RMSNorm over d (sigmoid gate) and
  ``o_proj`` d_model x H d.

FLOPs are counted as transformers' torch fallback runs them and as PyTorch's FlopCounterMode counts
that (tests/golden/golden_wave.json, qwen3-next-80b-a3b and kimi-linear-48b-a3b, to the FLOP):
- the projections as matmuls; the conv as ``aten.convolution`` with padding d_conv − 1: 2 channels
  d_conv per token plus 2 (d_conv − 1) channels d_conv per sequence (its dropped padded outputs);
- prefill, the chunked form (``torch_chunk_gated_delta_rule``, ``chunk_kimi_delta_attention``):
  each sequence padded up to a multiple of the chunk C = 64 ("chunks" of C: every padded position is
  computed); per chunk and value head the products counted like matmuls are
    gated DeltaNet: k_β·Kᵀ and Q·Kᵀ (C x C, over d_k), k_cumdecay·S and (Q·exp g)·S (C x d_k by
    d_k x d_v), the intra-chunk scores·v_new (C x C by C x d_v) and the state update Kᵀ·v_new;
    its UT transform is a ``torch.linalg.solve_triangular``, which FlopCounterMode does not count:
    it is element-wise work here (``--ops all``);
    KDA: its per-channel decay makes k_β·Kᵀ and Q·Kᵀ broadcasts summed over d_k (element-wise, not
    counted) and its UT transform a forward-substitution loop (element-wise); counted are the UT
    applications attn·v_β and attn·(k_β exp g), the two state reads, scores·v_new and the update;
- decode, the recurrent form (``torch_recurrent_gated_delta_rule``): per token and value head a
  decay, the state's prediction S·k, the update S + k (β (v − S·k))ᵀ and the readout S·q, all
  element-wise on the d_k x d_v state (FlopCounterMode counts none of them: ``--ops all``); the conv
  (``causal_conv1d_update``) convolves the d_conv kept positions and the new token, so it computes
  two outputs and keeps the last: 2 x 2 channels d_conv per token ("conv_update" is the dropped one).

State kept between decode steps, per sequence and layer (transformers' ``LinearAttentionLayer``):
``recurrent_states`` H_v x d_k x d_v and ``conv_states`` channels x d_conv numbers; no KV cache.
"""

from __future__ import annotations

from dataclasses import replace

from ...spec.arch import Architecture
from .base import Act, Op, Part, Weight, bias, norm, part


def _conv(channels: int, k: int, formula: str) -> list:
    """The depthwise causal conv1d (no bias) over ``channels``, its padded outputs and its SiLU."""
    return [Weight("conv", "depthwise causal conv1d", channels, k, f"{formula} × d_conv"),
            Op("conv_padding", "conv1d over the d_conv − 1 padded positions", "sequences", (k - 1) * channels * k,
               kind="product"),
            Op("conv_update", "decode: the conv's second output over the kept window, dropped", "decode_tokens",
               channels * k, kind="product"),
            Op("conv_activation", "SiLU after the conv", "tokens", channels, "silu")]


def _delta_rule(heads: int, dk: int, dv: int, c: int, kda: bool) -> list:
    """The delta rule's core: the chunked form's products per chunk (prefill) and the recurrent
    form's element-wise step (decode), per value head."""
    counted = ([Op("intra_kk", "k_β·Kᵀ within a chunk (C × C over d_k)", "chunks", c * c * dk, kind="product",
                   heads=heads),
                Op("intra_qk", "Q·Kᵀ within a chunk (C × C over d_k)", "chunks", c * c * dk, kind="product",
                   heads=heads)] if not kda else
               [Op("ut_values", "UT transform applied: attn·v_β (C × C by C × d_v)", "chunks", c * c * dv,
                   kind="product", heads=heads),
                Op("ut_keys", "UT transform applied: attn·(k_β exp g) (C × C by C × d_k)", "chunks", c * c * dk,
                   kind="product", heads=heads)])
    counted += [
        Op("state_read_k", "k_cumdecay·S (C × d_k by d_k × d_v)", "chunks", c * dk * dv, kind="product", heads=heads),
        Op("state_read_q", "(Q exp g)·S (C × d_k by d_k × d_v)", "chunks", c * dk * dv, kind="product", heads=heads),
        Op("intra_values", "scores·v_new within a chunk (C × C by C × d_v)", "chunks", c * c * dv, kind="product",
           heads=heads),
        Op("state_write", "state update Kᵀ·v_new (d_k × C by C × d_v)", "chunks", c * dk * dv, kind="product",
           heads=heads),
    ]
    if kda:  # per-channel decays: the intra-chunk products are broadcasts, the UT solve a loop
        elementwise = [
            Op("intra_decays", "per-channel decays exp(g_i − g_j) within a chunk", "chunks", heads * c * c * dk,
               "exp_scale"),
            Op("intra_kk", "k_β·Kᵀ with per-channel decay (element-wise, summed over d_k)", "chunks",
               heads * c * c * dk, "multiply_add"),
            Op("intra_qk", "Q·Kᵀ with per-channel decay (element-wise, summed over d_k)", "chunks",
               heads * c * c * dk, "multiply_add"),
            Op("ut_solve", "UT transform by forward substitution (element-wise loop)", "chunks",
               heads * (c - 1) * c * (2 * c - 1) // 6, "multiply_add"),
        ]
    else:
        elementwise = [
            Op("intra_decays", "decay mask exp(g_i − g_j) within a chunk", "chunks", heads * c * c, "exp_scale"),
            Op("ut_solve", "UT transform: triangular solves for v_β and k_β exp g (solve_triangular, uncounted by "
               "FlopCounterMode)", "chunks", heads * (c * (c - 1) // 2) * (dk + dv), "multiply_add"),
        ]
    state = heads * dk * dv
    step = [Op("step_decay", "decode: state decay S exp(g)", "decode_tokens", state, "multiply"),
            Op("step_predict", "decode: the state's prediction S·k", "decode_tokens", state, "multiply_add"),
            Op("step_update", "decode: state update S + k (β (v − S·k))ᵀ", "decode_tokens", state, "multiply_add"),
            Op("step_readout", "decode: readout S·q", "decode_tokens", state, "multiply_add")]
    chunked = [*counted, *elementwise, Op("chunk_state_decay", "state decay per chunk", "chunks", state, "multiply")]
    return [replace(o, chunk=c) for o in chunked] + step  # "chunks" of c positions (core.parts.base.OVER)


def _kept(d: int, conv: int, qk: int, v: int, heads: int, c: int, gate: int) -> tuple[Act, ...]:
    """Tensors a layer keeps for the backward pass (Korthikanti et al. 2022's keep-the-inputs rule,
    as the torch path runs): the projections' inputs, the conv's input and output, q, k, v after it,
    the intra-chunk C x C matrices of each head, the core output, the gate and the output
    projection's input."""
    return (
        Act("mixer_input", "2sbh (norm output, input of the projections)", "tokens", d, "outer"),
        Act("conv_input", "2sb·conv channels (input of the conv)", "tokens", conv),
        Act("conv_output", "2sb·conv channels (input of the SiLU after the conv)", "tokens", conv),
        Act("qkv", "2sb·conv channels (q, k, v: inputs of the delta rule)", "tokens", qk + v),
        Act("chunk_scores", "2sb·h_v·2C (the two intra-chunk C × C matrices of each head)", "tokens", heads * 2 * c),
        Act("core_output", "2sb·h_v·d_v (delta-rule output, input of the gated norm)", "tokens", v),
        Act("gate_input", "2sb·h_v·d_v (the output gate, input of its activation)", "tokens", gate),
        Act("out_proj_input", "2sb·h_v·d_v (input of the output projection)", "tokens", v),
    )


def gated_deltanet(a: Architecture) -> Part:
    """Qwen3-Next's linear-attention layer (``Qwen3NextGatedDeltaNet``)."""
    d, hk, hv, dk, dv = a.d_model, a.linear_heads, a.linear_v_heads, a.linear_key_dim, a.linear_v_dim
    k, c = a.linear_conv, a.linear_chunk
    key_dim, value_dim = hk * dk, hv * dv
    channels = 2 * key_dim + value_dim
    return part(
        "deltanet", "gated DeltaNet",
        *_kept(d, channels, 2 * key_dim, value_dim, hv, c, value_dim),
        Weight("in_proj_qkvz", "input projection (q, k, v, gate z)", 2 * key_dim + 2 * value_dim, d,
               "(2 h_k d_k + 2 h_v d_v) × d_model", module="in_proj_qkvz"),
        Weight("in_proj_ba", "β and decay projection (b, a)", 2 * hv, d, "2 h_v × d_model", module="in_proj_ba"),
        *_conv(channels, k, "(2 h_k d_k + h_v d_v)"),
        Op("qk_l2norm_sum", "l2 norms of q and k: sums of squares (keys repeated h_v / h_k times)", "tokens",
           2 * hv * dk, "multiply_add"),
        Op("qk_l2norm_scale", "l2 norms of q and k: scale by the inverse norm", "tokens", 2 * hv * dk, "multiply"),
        Op("beta", "β = sigmoid(b) (exp, add, divide: priced as softplus's three)", "tokens", hv, "softplus"),
        bias("dt_bias", "decay bias (dt_bias)", hv, "h_v"),
        Op("softplus", "softplus(a + dt_bias)", "tokens", hv, "softplus"),
        Weight("A_log", "decay rate A (stored as log)", hv, 1, "h_v", "ssm", over=None,
               work=Op("decay", "g = −exp(A_log) softplus(…)", "tokens", hv, "multiply")),
        Op("scale", "q d_k^−½, k_β = β k, v_β = β v", "tokens", hv * (2 * dk + dv), "multiply"),
        *_delta_rule(hv, dk, dv, c, kda=False),
        norm("norm", "gated RMSNorm (d_v, shared by the heads)", dv, value_dim, "rmsnorm", "d_v"),
        Op("gate_activation", "SiLU(z)", "tokens", value_dim, "silu"),
        Op("gate_product", "norm(o) × SiLU(z)", "tokens", value_dim, "gate"),
        Weight("out_proj", "output projection", d, value_dim, "d_model × h_v d_v", split="row", module="out_proj"),
        Op("state", "recurrent state (h_v × d_k × d_v) and conv window (channels × d_conv)", "sequences",
           hv * dk * dv + channels * k, kind="state"),
    )


def kda(a: Architecture) -> Part:
    """Kimi-Linear's linear-attention layer (``KimiLinearDeltaAttention``): one set of h heads of d."""
    d, h, hd = a.d_model, a.linear_heads, a.linear_key_dim
    k, c = a.linear_conv, a.linear_chunk
    width = h * hd
    return part(
        "kda", "Kimi Delta Attention",
        *_kept(d, 3 * width, 2 * width, width, h, c, width),
        Weight("q_proj", "query (W_Q)", width, d, "h d × d_model", module="q"),
        Weight("k_proj", "key (W_K)", width, d, "h d × d_model", module="k"),
        Weight("v_proj", "value (W_V)", width, d, "h d × d_model", module="v"),
        *_conv(3 * width, k, "3 h d"),
        Op("qk_l2norm_sum", "l2 norms of q and k: sums of squares", "tokens", 2 * width, "multiply_add"),
        Op("qk_l2norm_scale", "l2 norms of q and k: scale by the inverse norm", "tokens", 2 * width, "multiply"),
        Weight("f_a_proj", "forget gate down (f_a)", hd, d, "d × d_model", module="f_a_proj"),
        Weight("f_b_proj", "forget gate up (f_b)", width, hd, "h d × d", module="f_b_proj"),
        bias("dt_bias", "forget gate bias (dt_bias)", width, "h d"),
        Op("softplus", "softplus(f + dt_bias)", "tokens", width, "softplus"),
        Weight("A_log", "decay rate A (stored as log)", h, 1, "h", "ssm", over=None,
               work=Op("decay", "g = −exp(A_log) softplus(…), per channel", "tokens", width, "multiply")),
        Weight("b_proj", "β projection", h, d, "h × d_model", module="b_proj"),
        Op("beta", "β = sigmoid(b) (exp, add, divide: priced as softplus's three)", "tokens", h, "softplus"),
        Op("scale", "q d^−½, k_β = β k, v_β = β v", "tokens", 3 * width, "multiply"),
        *_delta_rule(h, hd, hd, c, kda=True),
        Weight("g_a_proj", "output gate down (g_a)", hd, d, "d × d_model", module="g_a_proj"),
        Weight("g_b_proj", "output gate up (g_b)", width, hd, "h d × d", module="g_b_proj"),
        norm("o_norm", "gated RMSNorm (d, shared by the heads)", hd, width, "rmsnorm", "d"),
        # o × sigmoid(g): exp, add, divide, multiply, SiLU's arithmetic
        Op("gate_product", "norm(o) × sigmoid(g) (priced as SiLU: exp, add, divide, multiply)", "tokens", width,
           "silu"),
        Weight("o_proj", "output projection", d, width, "d_model × h d", split="row", module="o"),
        Op("state", "recurrent state (h × d × d) and conv window (3 h d × d_conv)", "sequences",
           h * hd * hd + 3 * width * k, kind="state"),
    )
