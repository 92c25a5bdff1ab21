"""The MLP, described once: dense, gated, or a mixture of experts.

References:
- MLP: two matrices d_model x d_ff (Vaswani et al. 2017 eq. 2); gated (GLU) variants three: gate,
  up and down (Shazeer 2020, "GLU Variants Improve Transformer").
- Mixture of experts: Fedus et al. 2021 (Switch) / Jiang et al. 2024 (Mixtral): n_experts MLPs
  and a router matrix n_experts x d_model (no bias); each token runs the router and top_k experts,
  whose outputs are weighted and added.
"""

from __future__ import annotations

from ...spec.arch import Architecture
from .base import Op, Part, Weight, bias, part


def expert(a: Architecture) -> list:
    """One MLP's matrices, biases and element-wise work."""
    d, f = a.d_model, a.ff_dim
    gated = a.mlp == "gated"
    n_in = 2 if gated else 1
    return [
        Weight("gate", "gate (W_gate)", f, d, "d_ff × d_model") if gated else None,
        Weight("up", "up (W_up)", f, d, "d_ff × d_model"),
        Weight("down", "down (W_down)", d, f, "d_model × d_ff"),
        bias("bias", "biases", (n_in * f + d) if a.mlp_bias else 0, f"{n_in} d_ff + d_model" if gated else "d_ff + d_model"),
        Op("activation", a.activation, "tokens", f, a.activation),
        Op("gate_product", "gate product", "tokens", f, "gate") if gated else None,
    ]


def mlp(a: Architecture) -> Part:
    if not a.is_moe:
        return part("mlp", "MLP", *expert(a))
    return part("mlp", "MoE MLP",
                part("expert", "experts", *expert(a), count=a.n_experts, active=a.top_k,
                     flop_label=f"top-{a.top_k} experts per token"),
                Weight("router", "router", a.n_experts, a.d_model, "n_experts × d_model"),
                Op("router_softmax", "router softmax", "tokens", a.n_experts, "softmax"),
                Op("combine", "combine experts", "tokens", a.top_k * a.d_model, "combine"))
