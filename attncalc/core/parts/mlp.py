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
  checkpoint but not among the model's parameters, and attncalc does not count it
  (``router_correction = "buffer"``: GLM-4.5's, dots.llm1's and MiniMax-M2's are buffers too, in
  ``modeling_glm4_moe.py`` ``Glm4MoeTopkRouter``, ``modeling_dots1.py``, ``modeling_minimax_m2.py``);
  ERNIE 4.5's is a Parameter (``modeling_ernie4_5_moe.py`` ``Ernie4_5_MoeStatics``, shape
  [1, n_experts]) and is counted (``router_correction = "parameter"``). It is added to the scores
  to choose the experts, one add per expert and token.
- xIELU (Huang et al. 2025, arXiv:2411.13010; Apertus): two learned scalars per MLP, alpha_p and
  alpha_n (``transformers.activations.XIELUActivation``; its beta and eps are buffers).
- Zero-computation experts and the shortcut-connected MoE (Meituan LongCat Team 2025, "LongCat-Flash
  Technical Report", sec. 2.1 and 2.2; transformers' ``modeling_longcat_flash.py``): the router
  scores n_experts + zero_experts candidates (``router.classifier``: (E + Z) x d_model, softmax) and
  picks top_k; a pick that lands on a zero expert returns its input times the routing weight (an
  identity: no parameters, no matmul). How many picks are real is data dependent, so ``active``
  counts all top_k as real experts, an upper bound (LongCat's 18.6B-31.3B "activated" range runs
  from all picks zero to all real); the experts Part says so. ScMoE: each MoE layer keeps its dense
  MLP (d_ff) as well, the experts reading that layer's attention output and their sum joining the
  residual one layer later; parameters and FLOPs are the dense MLP's plus the MoE's, which is how it
  is written here (``dense`` beside the routed experts).
"""

from __future__ import annotations

from ...spec.arch import Architecture
from .base import Act, Op, Part, Weight, bias, part


def expert(a: Architecture, width: int, prefix: str = "") -> list:
    """One MLP's matrices, biases, element-wise work and the tensors it keeps for the backward pass
    (Korthikanti et al. 2022 sec. 4.1: a standard MLP keeps the activation's input and the second
    matrix's input, 8sbh at d_ff = 4h; a gated one, by the same keep-the-inputs rule, the gate and
    up outputs, the activation's output and the product), of hidden width ``width``. ``{where}`` in
    a formula reads "× top_k × capacity" inside routed experts."""
    d, f = a.d_model, width
    gated = a.mlp == "gated"
    n_in = 2 if gated else 1
    if gated:
        kept = [Act(prefix + "gate_output", "2sb·d_ff{where} (activation input)", "tokens", f),
                Act(prefix + "up_output", "2sb·d_ff{where} (product input)", "tokens", f),
                Act(prefix + "activation_output", "2sb·d_ff{where} (product input)", "tokens", f),
                Act(prefix + "down_input", "2sb·d_ff{where} (input of the down matrix)", "tokens", f)]
    else:
        kept = [Act(prefix + "activation_input", "2sb·d_ff{where} (GeLU input; 8sbh at d_ff = 4h)", "tokens", f),
                Act(prefix + "down_input", "2sb·d_ff{where} (input of the second matrix; 8sbh at d_ff = 4h)", "tokens", f)]
    return [
        Weight("gate", "gate (W_gate)", f, d, "d_ff × d_model", module="gate") if gated else None,
        Weight("up", "up (W_up)", f, d, "d_ff × d_model", module="up"),
        Weight("down", "down (W_down)", d, f, "d_model × d_ff", split="row", module="down"),
        # the input biases split with their column-parallel matrices; the output bias, added after
        # the row-parallel matrix's all-reduce, is whole on every rank
        bias("bias", "biases", (n_in * f + d) if a.mlp_bias else 0, f"{n_in} d_ff + d_model" if gated else "d_ff + d_model",
             whole=d),
        Weight(prefix + "activation_params", "xIELU α_p, α_n", 2, 1, "2 (α_p, α_n)", "bias", over=None, split="none")
        if a.activation == "xielu" else None,
        Op("activation", a.activation, "tokens", f, a.activation),
        Op("gate_product", "gate product", "tokens", f, "gate") if gated else None,
        *kept,
    ]


def mlp(a: Architecture, moe: bool | None = None) -> Part:
    d = a.d_model
    kept_in = None if a.parallel_block else \
        Act("mlp_input", "2sbh (norm output, input of the first MLP matrix)", "tokens", d, "outer")
    mask = Act("mlp_dropout_mask", "sbh (1-byte mask)", "tokens", d, "outer", "mask", ("dropout",), "mask")
    if not (a.is_moe if moe is None else moe):
        return part("mlp", "MLP", kept_in, *expert(a, a.ff_dim), mask)
    shared = None
    if a.n_shared_experts:
        shared = part("shared", "shared experts", *expert(a, a.shared_ff_dim, "shared_"), count=a.n_shared_experts)
    if a.shortcut_moe:  # LongCat-Flash: the layer's own dense MLP beside the shortcut-connected experts
        shared = part("dense", "dense MLP (the layer's own)", *expert(a, a.ff_dim, "dense_"))
    candidates = a.n_experts + a.zero_experts
    zero = None
    if a.zero_experts:  # LongCat-Flash: routed like experts, return their input (upper bound: no pick lands here)
        zero = part("zero_experts", "zero-computation experts (identity)",
                    Op("identity", "input × routing weight", "tokens", d, "combine"),
                    count=a.zero_experts, active=0, flop_label="zero-computation experts (counted as unpicked)")
    return part("mlp", "MoE MLP" + (" (shortcut-connected, beside the dense MLP)" if a.shortcut_moe else ""), kept_in,
                # the router's softmax output, fp32, one value per token and expert
                Act("router_probs", "4sb·E (router probabilities, fp32)", "tokens", candidates, "outer", "fp32"),
                part("expert", "experts",
                     Act("expert_input", "2sbh{where} (tokens dispatched to experts)", "tokens", d),
                     *expert(a, a.expert_ff_dim), count=a.n_experts, active=a.top_k,
                     flop_label=f"top-{a.top_k} experts per token"),
                zero,
                shared,
                Weight("shared_gate", "shared-expert gate", 1, a.d_model, "1 × d_model") if a.shared_expert_gate else None,
                Weight("router", "router", candidates, a.d_model,
                       "(n_experts + zero_experts) × d_model" if a.zero_experts else "n_experts × d_model", split="none"),
                bias("router_bias", "router bias", candidates if a.router_bias else 0, "n_experts", split="none"),
                # counted only where it is a Parameter (ERNIE 4.5); a buffer is not a parameter
                bias("router_correction", "routing correction bias",
                     a.n_experts if a.router_correction == "parameter" else 0, "n_experts", split="none"),
                Op("router_softmax", "router softmax", "tokens", candidates, "softmax"),
                Op("combine", "combine experts", "tokens", a.top_k * a.d_model, "combine"),
                mask)


def unused_rows(a: Architecture) -> int:
    """Parameters transformers allocates in one MoE layer that the model does not have:
    ``LongcatFlashExperts.gate_up_proj`` is [n_experts + zero_experts, 2 d_ff_expert, d_model] while
    only the real experts' rows are used or stored (``down_proj`` has n_experts); the ``as_built``
    convention adds them (tests/golden/WAVE_NOTES.md 2.25)."""
    return a.zero_experts * 2 * a.expert_ff_dim * a.d_model if a.zero_experts and a.mlp == "gated" else 0
