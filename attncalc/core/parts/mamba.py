"""A Mamba (selective state-space) mixer as Jamba uses it in place of attention, described once.

References:
- Gu & Dao 2023, "Mamba: Linear-Time Sequence Modeling with Selective State Spaces", Algorithm 2
  and sec. 3.4 (the block): an input projection to 2 d_inner (the SSM branch x and the gate z), a
  depthwise causal conv1d of width d_conv with SiLU, the selective projections
  x_proj: d_inner -> dt_rank + 2 d_state (time step Delta, B, C) and dt_proj: dt_rank -> d_inner,
  A (d_inner x d_state, stored as A_log) and D (d_inner), the discretization
  A_bar = exp(Delta A), B_bar x = Delta B x (eq. 4, zero-order hold as the reference code applies it),
  the scan h_t = A_bar h_{t-1} + B_bar x_t, y_t = C_t . h_t + D x_t, the gate y * SiLU(z) and the
  output projection d_inner -> d_model; d_inner = expand x d_model.
- Lieber et al. 2024, "Jamba" (AI21), sec. 2: Mamba layers interleaved with attention layers (one in
  attn_layer_period) and MoE every expert_layer_period layers; ``modeling_jamba.py``'s
  JambaMambaMixer adds RMSNorms on Delta (dt_rank), B and C (d_state each), a conv bias
  (mamba_conv_bias) and projection biases (mamba_proj_bias); dt_proj always has a bias.

FLOPs are counted as transformers' reference (slow, kernel-free) path executes them, and as
PyTorch's FlopCounterMode counts that path (tests/golden/golden_2026.json, jamba-v0.1):
- the four projections as matmuls (``mm``): 2 per weight per token;
- conv1d (``aten.convolution``, padding d_conv - 1): 2 d_inner d_conv per output position, and the
  convolution computes seq + d_conv - 1 positions per sequence, of which the last d_conv - 1 are
  dropped: so 2 d_inner d_conv per token plus 2 (d_conv - 1) d_inner d_conv per sequence;
- the scan's readout C . h per token (a ``matmul`` of (d_inner x d_state) by (d_state x 1)):
  2 d_inner d_state per token, counted like a matmul;
- element-wise (``--ops all``): SiLU after the conv and on the gate, softplus(Delta) (3: exp, add,
  log), A_bar = exp(Delta A) (2 per state element), B_bar x = Delta B x (2 multiplies per state
  element), the state update (a multiply-add per state element), D x + y (2 per channel), the gate
  product, the three small RMSNorms and the biases. A = -exp(A_log) is computed once per pass
  (d_inner d_state exps, not per token) and is not counted.
- Decode (one token): the same per-token work; the conv is the product of the kept window with the
  kernel (d_inner d_conv multiply-accumulates, as counted above) and the padding term is gone.

Tensors kept for the backward pass: the inputs of each operation (Korthikanti et al. 2022's rule),
as the selective-scan kernel runs it: it keeps the scan's inputs (x, Δ, B, C, z) and recomputes the
states in the backward pass instead of storing them (Gu & Dao 2023, sec. 3.3.2); tensors over
d_inner are split by tensor parallelism (Megatron-LM's Mamba layer splits d_inner), the
d_model-wide input and the small (Δ, B, C) projections are not.

State kept between decode steps, per sequence and Mamba layer (transformers' HybridMambaAttentionDynamicCache):
the SSM state d_inner x d_state and the conv window d_inner x d_conv numbers; no KV cache.
"""

from __future__ import annotations

from ...spec.arch import Architecture
from .base import Act, Op, Part, Weight, bias, norm, part


def mamba(a: Architecture) -> Part:
    d, di, n, k, r = a.d_model, a.mamba_inner, a.mamba_d_state, a.mamba_d_conv, a.dt_rank
    kept = (
        Act("mixer_input", "2sbh (norm output, input of the input projection)", "tokens", d, "outer"),
        Act("conv_input", "2sb·d_inner (x, input of the conv)", "tokens", di),
        Act("gate_input", "2sb·d_inner (z, input of SiLU(z))", "tokens", di),
        Act("conv_output", "2sb·d_inner (input of the SiLU after the conv)", "tokens", di),
        Act("ssm_input", "2sb·d_inner (input of x_proj and of the scan)", "tokens", di),
        Act("x_proj_output", "2sb·(dt_rank + 2 d_state) (Δ, B, C: inputs of their norms)", "tokens", r + 2 * n, "outer"),
        Act("dt_proj_input", "2sb·dt_rank (normed Δ, input of dt_proj)", "tokens", r, "outer"),
        Act("scan_bc", "2sb·2 d_state (normed B and C, inputs of the scan)", "tokens", 2 * n, "outer"),
        Act("dt_proj_output", "2sb·d_inner (input of softplus)", "tokens", di),
        Act("delta", "2sb·d_inner (softplus(Δ), input of the scan)", "tokens", di),
        Act("ssm_output", "2sb·d_inner (y, input of the gate product)", "tokens", di),
        Act("out_proj_input", "2sb·d_inner (input of the output projection)", "tokens", di),
    )
    return part(
        "mamba", "Mamba mixer", *kept,
        Weight("in_proj", "input projection (x, gate z)", 2 * di, d, "2 d_inner × d_model", module="in_proj"),
        bias("in_bias", "input projection bias", 2 * di if a.mamba_proj_bias else 0, "2 d_inner"),
        Weight("conv", "depthwise causal conv1d", di, k, "d_inner × d_conv"),
        bias("conv_bias", "conv1d bias", di if a.mamba_conv_bias else 0, "d_inner"),
        Op("conv_padding", "conv1d over the d_conv − 1 padded positions", "sequences", (k - 1) * di * k,
           kind="product"),
        Op("conv_activation", "SiLU after the conv", "tokens", di, "silu"),
        Weight("x_proj", "selective projection (Δ, B, C)", r + 2 * n, di, "(dt_rank + 2 d_state) × d_inner",
               module="x_proj"),
        norm("dt_norm", "Δ norm", r, r, "rmsnorm", "dt_rank"),
        norm("b_norm", "B norm", n, n, "rmsnorm", "d_state"),
        norm("c_norm", "C norm", n, n, "rmsnorm", "d_state"),
        Weight("dt_proj", "time-step projection (Δ)", di, r, "d_inner × dt_rank", module="dt_proj"),
        bias("dt_bias", "time-step bias", di, "d_inner"),
        Op("softplus", "softplus(Δ)", "tokens", di, "softplus"),
        Weight("A_log", "A (stored as log)", di, n, "d_inner × d_state", "ssm", over=None),
        Op("discretize_a", "Ā = exp(Δ A)", "tokens", di * n, "exp_scale"),
        Op("discretize_b", "B̄ x = Δ B x", "tokens", 2 * di * n, "multiply"),
        Op("scan", "state update h = Ā h + B̄ x", "tokens", di * n, "multiply_add"),
        Op("readout", "readout C · h", "tokens", di * n, kind="product"),
        Weight("D", "skip D", di, 1, "d_inner", "ssm", over=None,
               work=Op("skip", "y + D x", "tokens", di, "multiply_add")),
        Op("gate_activation", "SiLU(z)", "tokens", di, "silu"),
        Op("gate_product", "y × SiLU(z)", "tokens", di, "gate"),
        Weight("out_proj", "output projection", d, di, "d_model × d_inner", split="row", module="out_proj"),
        bias("out_bias", "output projection bias", d if a.mamba_proj_bias else 0, "d_model", split="none"),
        Op("state", "recurrent state (SSM state and conv window)", "sequences", di * (n + k), kind="state"),
    )
