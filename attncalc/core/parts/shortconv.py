"""A gated short-convolution block (LFM2's conv layers), described once.

Reference: transformers 5.24 ``modeling_lfm2.py`` ``Lfm2ShortConv`` (tests/golden/WAVE_NOTES.md
2.19; Liquid AI, "LFM2" model card): ``in_proj`` 3 d_model x d_model splits into B, C and x;
y = C ⊙ conv(B ⊙ x) with a depthwise causal conv1d of width ``conv_L_cache`` over d_model channels;
``out_proj`` d_model x d_model. ``conv_bias`` puts a bias on all three (``bias=config.conv_bias``).

FLOPs as transformers' torch path runs them and FlopCounterMode counts them (golden_wave.json,
lfm2-1.2b, to the FLOP): the projections as matmuls; the conv as ``aten.convolution`` with padding
d_conv − 1 (2 d_model d_conv per token, plus 2 (d_conv − 1) d_model d_conv per sequence for its
dropped padded outputs; a decode step convolves the d_conv kept positions and the new token: two
outputs, the first dropped, 2 x 2 d_model d_conv); the two gates
element-wise. State kept between decode steps, per sequence and layer (``LinearAttentionLayer``
``conv_states``): d_model x d_conv numbers; no KV cache, no recurrent state.
"""

from __future__ import annotations

from ...spec.arch import Architecture
from .base import Act, Op, Part, Weight, bias, part


def short_conv(a: Architecture) -> Part:
    d, k = a.d_model, a.linear_conv
    b = a.short_conv_bias
    return part(
        "short_conv", "short convolution",
        Act("mixer_input", "2sbh (norm output, input of the input projection)", "tokens", d, "outer"),
        Act("bcx", "2sb·3h (B, C, x: inputs of the gates)", "tokens", 3 * d),
        Act("conv_input", "2sbh (B ⊙ x, input of the conv)", "tokens", d),
        Act("conv_output", "2sbh (input of the output gate)", "tokens", d),
        Act("out_proj_input", "2sbh (C ⊙ conv, input of the output projection)", "tokens", d),
        Weight("in_proj", "input projection (B, C, x)", 3 * d, d, "3 d_model × d_model", module="in_proj"),
        bias("in_bias", "input projection bias", 3 * d if b else 0, "3 d_model"),
        Op("input_gate", "B ⊙ x", "tokens", d, "gate"),
        Weight("conv", "depthwise causal conv1d", d, k, "d_model × d_conv"),
        bias("conv_bias", "conv1d bias", d if b else 0, "d_model"),
        Op("conv_padding", "conv1d over the d_conv − 1 padded positions", "sequences", (k - 1) * d * k, kind="product"),
        Op("conv_update", "decode: the conv's second output over the kept window, dropped", "decode_tokens", d * k,
           kind="product"),
        Op("output_gate", "C ⊙ conv", "tokens", d, "gate"),
        Weight("out_proj", "output projection", d, d, "d_model × d_model", split="row", module="out_proj"),
        bias("out_bias", "output projection bias", d if b else 0, "d_model", split="none"),
        Op("state", "conv window (d_model × d_conv)", "sequences", d * k, kind="state"),
    )
