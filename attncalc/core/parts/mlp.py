"""The MLP, described once: dense, gated, or a mixture of experts with routed and shared experts.

References:
- MLP: two matrices d_model x d_ff (Vaswani et al. 2017 eq. 2); gated (GLU) variants three: gate,
  up and down (Shazeer 2020, "GLU Variants Improve Transformer").
- Mixture of experts: Fedus et al. 2021 (Switch) / Jiang et al. 2024 (Mixtral): n_experts MLPs
  and a router matrix n_experts x d_model; each token runs the router and top_k experts, whose
  outputs are weighted and added. gpt-oss's router has a bias (its model card, and
  ``modeling_gpt_oss.py``).
- Shared experts every token runs (Dai et al. 2024, DeepSeekMoE; DeepSeek-V2/V3 fuse theirs into
  one MLP of n_shared x moe_intermediate_size; Qwen2-MoE has one of shared_expert_intermediate_size
  behind a sigmoid gate d_model -> 1; Llama 4 one of intermediate_size). DeepSeek-V3's routing
  score-correction bias is a buffer in transformers (``e_score_correction_bias``): it is in the
  checkpoint but not among the model's parameters, and attncalc does not count it.
"""

from __future__ import annotations

from ...spec.arch import Architecture
from .base import Op, Part, Weight, bias, part


def expert(a: Architecture, width: int) -> list:
    """One MLP's matrices, biases and element-wise work, of hidden width ``width``."""
    d, f = a.d_model, width
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


def mlp(a: Architecture, moe: bool | None = None) -> Part:
    if not (a.is_moe if moe is None else moe):
        return part("mlp", "MLP", *expert(a, a.ff_dim))
    shared = None
    if a.n_shared_experts:
        shared = part("shared", "shared experts", *expert(a, a.shared_ff_dim), count=a.n_shared_experts)
    return part("mlp", "MoE MLP",
                part("expert", "experts", *expert(a, a.expert_ff_dim), count=a.n_experts, active=a.top_k,
                     flop_label=f"top-{a.top_k} experts per token"),
                shared,
                Weight("shared_gate", "shared-expert gate", 1, a.d_model, "1 × d_model") if a.shared_expert_gate else None,
                Weight("router", "router", a.n_experts, a.d_model, "n_experts × d_model"),
                bias("router_bias", "router bias", a.n_experts if a.router_bias else 0, "n_experts"),
                Op("router_softmax", "router softmax", "tokens", a.n_experts, "softmax"),
                Op("combine", "combine experts", "tokens", a.top_k * a.d_model, "combine"))
