"""The Mamba-2 mixer (state-space duality, SSD), described once: Bamba, Granite-4.0-H, Nemotron-H,
and Falcon-H1's beside its attention.

References:
- Dao & Gu 2024, "Transformers are SSMs: Generalized Models and Efficient Algorithms Through
  Structured State Space Duality" (arXiv:2405.21060): sec. 7 (the Mamba-2 block: one input
  projection to the gate z, x, B, C and the time step dt in parallel; a depthwise causal conv over
  x, B and C; a scalar A per head; B and C shared by the heads of a group, like grouped-query
  attention; a gated RMSNorm before the output projection) and sec. 6 / Listing 1 (the chunked SSD
  algorithm: intra-chunk "attention" C.B^T masked by the decays, applied to x; each chunk's final
  state B^T.x; the state passed chunk to chunk; the output's inter-chunk part C.state).
- transformers 5.24 ``modeling_bamba.py`` ``BambaMixer`` (and its copies ``GraniteMoeHybridMambaLayer``,
  ``NemotronHMamba2Mixer``, ``FalconH1Mixer``), whose shapes tests/golden/WAVE_NOTES.md 1.5 writes
  out: with d_ssm the inner width, nh heads of hd channels (d_ssm = nh hd), G groups, N the state
  size and kc the conv kernel, conv_dim = d_ssm + 2 G N;
  ``in_proj``: (d_ssm + conv_dim + nh) x d_model (z, xBC, dt), bias ``mamba_proj_bias``;
  ``conv1d``: conv_dim x kc depthwise (+ conv_dim bias); ``dt_bias``, ``A_log``, ``D``: nh each;
  ``norm``: d_ssm (gated RMSNorm, Falcon-H1 only with ``mamba_rms_norm``);
  ``out_proj``: d_model x d_ssm (bias ``mamba_out_bias``: the config's ``mamba_proj_bias``, Falcon-H1's
  ``projectors_bias``, Nemotron-H's ``use_bias``).

FLOPs as the torch path (no ``mamba_ssm`` kernels installed) runs them and PyTorch's FlopCounterMode
counts them (tests/golden/golden_wave.json: every Mamba-2 config, two shapes, and a decode step):
- ``in_proj`` and ``out_proj`` as matmuls, 2 per weight per token;
- the conv as ``aten.convolution`` with padding kc - 1: 2 conv_dim kc per output position over
  seq + kc - 1 positions per sequence (as Jamba's Mamba: per token, plus (kc - 1) positions per sequence);
- ``mamba2_chunk_scan`` pads each sequence up to a multiple of the chunk length l
  (``mamba_chunk_size`` / ``chunk_size``) and runs five einsums FlopCounterMode counts as ``bmm``, per
  head: C.B^T (l x l scores of each chunk, contraction N: nh l N per padded position), the masked
  scores applied to x (contraction l: nh l hd per padded position), each chunk's state B^T.x
  (nh hd N per padded position), the chunk-to-chunk state pass (nh hd N per pair of the (chunks + 1)
  x (chunks + 1) decay matrix, the initial state counted as a chunk) and the state read out C.state
  (nh hd N per padded position). At seq 128 with chunk 256 the intra-chunk terms run over 256
  positions: the padding is counted, as the reference runs it (``over = padded_positions``,
  ``chunk_pairs``). B and C are expanded from G groups to nh heads first, so every term is per head.
- A decode step (``mamba2_selective_state_update``) is element-wise but for one product per head,
  the state read out C.h (hd x N by N x 1: nh hd N per token); its conv runs over the kept window
  and the new token without padding, two output positions, of which one is used (2 x 2 conv_dim kc
  per token, FlopCounterMode's ``aten.convolution`` in ``cache.decode_step``).
- Element-wise (``--ops all``): SiLU after the conv and on the gate, softplus of dt, the decays
  exp(dt A) per head, the gated RMSNorm (or the gate product without it), D x, the state update of
  the decode step; the chunked scan's decay masks (exp of the segment sums, nh l per padded
  position). FlopCounterMode counts none of them (WAVE_NOTES 1.8).

Tensors kept for the backward pass (Korthikanti et al. 2022's rule, as the fused
``mamba_chunk_scan_combined`` kernel keeps them: its inputs, the states recomputed): the mixer's
input, the conv's input and output (xBC), the gate z, dt, the scan's output y and the output
projection's input; tensors over d_ssm and conv_dim are split by tensor parallelism, the d_model
input and the per-head dt are not.

State kept between decode steps, per sequence and layer (transformers' ``LinearAttentionLayer``:
``conv_states[B, conv_dim, kc]`` and ``recurrent_states[B, nh, hd, N]``): conv_dim kc + nh hd N
numbers, whatever the context.
"""

from __future__ import annotations

from ...spec.arch import Architecture
from .base import Act, Op, Part, Weight, bias, norm, part


def mamba2(a: Architecture, beside_attention: bool = False) -> Part:
    """One Mamba-2 mixer; ``beside_attention``: Falcon-H1's, reading the same normed input as the
    layer's attention (that input is kept once, by the attention) and summed with its output."""
    d, di, n, k = a.d_model, a.mamba2_inner, a.mamba_d_state, a.mamba_d_conv
    nh, hd, g, l = a.mamba2_heads, a.mamba2_hd, a.mamba2_groups, a.mamba_chunk
    conv = a.mamba2_conv_dim
    proj = di + conv + nh
    out_bias = a.mamba_out_bias
    kept = (
        None if beside_attention else
        Act("mixer_input", "2sbh (norm output, input of the input projection)", "tokens", d, "outer"),
        Act("gate_input", "2sb·d_ssm (z, input of the gate)", "tokens", di),
        Act("conv_input", "2sb·conv_dim (x, B, C: input of the conv)", "tokens", conv),
        Act("conv_output", "2sb·conv_dim (input of the SiLU after the conv)", "tokens", conv),
        Act("ssm_input", "2sb·conv_dim (x, B, C: inputs of the scan)", "tokens", conv),
        Act("dt", "2sb·nh (dt, input of softplus and of the scan)", "tokens", nh, "outer"),
        Act("ssm_output", "2sb·d_ssm (y, input of the gated norm)", "tokens", di),
        Act("out_proj_input", "2sb·d_ssm (input of the output projection)", "tokens", di),
    )
    return part(
        "mamba2", "Mamba-2 mixer", *kept,
        Weight("in_proj", "input projection (z, x, B, C, dt)", proj, d, "(2 d_ssm + 2 G d_state + nh) × d_model",
               module="in_proj"),
        bias("in_bias", "input projection bias", proj if a.mamba_proj_bias else 0, "2 d_ssm + 2 G d_state + nh"),
        Weight("conv", "depthwise causal conv1d (x, B, C)", conv, k, "(d_ssm + 2 G d_state) × d_conv"),
        bias("conv_bias", "conv1d bias", conv if a.mamba_conv_bias else 0, "d_ssm + 2 G d_state"),
        Op("conv_padding", "conv1d over the d_conv − 1 padded positions", "sequences", (k - 1) * conv * k,
           kind="product"),
        Op("conv_step", "decode: conv1d's second output position (window + new token, no padding)",
           "decode_tokens", conv * k, kind="product"),
        Op("conv_activation", "SiLU after the conv", "tokens", conv, "silu"),
        bias("dt_bias", "time-step bias", nh, "nh", split="none"),
        Op("softplus", "softplus(dt)", "tokens", nh, "softplus"),
        Weight("A_log", "A (one per head, stored as log)", nh, 1, "nh", "ssm", over=None, split="none"),
        Op("decay", "exp(dt A) per head", "tokens", nh, "exp_scale"),
        Op("scores", "chunk scores C·Bᵀ (l × l per chunk, per head)", "padded_positions", nh * l * n,
           kind="product", chunk=l),
        Op("decay_mask", "decay mask exp(segment sums) per chunk", "padded_positions", nh * l, "exp_scale", chunk=l),
        Op("intra_chunk", "masked scores applied to x (within each chunk)", "padded_positions", nh * l * hd,
           kind="product", chunk=l),
        Op("chunk_states", "each chunk's state Bᵀ·x", "padded_positions", nh * hd * n, kind="product", chunk=l),
        Op("state_passing", "state passed chunk to chunk ((chunks + 1)² decays)", "chunk_pairs", nh * hd * n,
           kind="product", chunk=l),
        Op("state_readout", "inter-chunk output C·state", "padded_positions", nh * hd * n, kind="product", chunk=l),
        Op("step_update", "decode: state update h = exp(dt A) h + dt B x", "decode_tokens", nh * hd * n,
           "multiply_add"),
        Op("step_readout", "decode: readout C·h (hd × N by N × 1 per head)", "decode_tokens", nh * hd * n,
           kind="product"),
        Weight("D", "skip D (one per head)", nh, 1, "nh", "ssm", over=None, split="none",
               work=Op("skip", "y + D x", "tokens", di, "multiply_add")),
        Op("gate_activation", "SiLU(z)", "tokens", di, "silu"),
        norm("norm", "gated RMSNorm", di, di, "rmsnorm", "d_ssm") if a.mamba2_norm else None,
        Op("gate_product", "y × SiLU(z)", "tokens", di, "gate"),
        Weight("out_proj", "output projection", d, di, "d_model × d_ssm", split="row", module="out_proj"),
        bias("out_bias", "output projection bias", d if out_bias else 0, "d_model", split="none"),
        Op("beside_sum", "attention + Mamba-2 outputs", "tokens", d, "residual") if beside_attention else None,
        Op("state", "recurrent state (SSM state nh × hd × d_state and conv window conv_dim × d_conv)", "sequences",
           nh * hd * n + conv * k, kind="state"),
    )
