"""Which checkpoint tensors hold which weights of attncalc's description, per model family: the
module names of transformers' modeling files (as the published safetensors checkpoints name their
tensors) and of llama.cpp's GGUF conversion (``gguf-py/gguf/tensor_mapping.py``, ``blk.N.attn_q``
...). Data only; core.checkpoint_match walks a model's description and these tables.

A table is a list of entries (our weights, alternatives). "Our weights" are paths in the description
(``attention.query``, ``mlp.expert.gate``, ``norms.norm``: the parts a weight sits in, below its block
or the model, head groupings left out); their parameters together are one group. Each alternative
is a tuple of tensor name templates that together hold that group; the first alternative any of
whose tensors the checkpoint has is the one expected (so a fused ``gate_up_proj`` or per-expert
``experts.{e}.gate_proj`` both reconcile). Templates: ``{p}`` the checkpoint's prefix (tried in the
order of ``prefixes``), ``{i}`` the layer, ``{e}`` the copy (expert, AltUp stream) of the weight,
``{L}``/``{j}`` a LongCat layer and sublayer (attncalc counts sublayers: i = 2 L + j).
"""

from __future__ import annotations

from dataclasses import dataclass, field

Entry = tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]


@dataclass(frozen=True)
class NameTable:
    prefixes: tuple[str, ...]
    layer: tuple[Entry, ...]
    model: tuple[Entry, ...]
    reasons: tuple[tuple[str, str], ...] = field(default=())  # (regex, why) for tensors no entry claims


def _e(ours: str | tuple[str, ...], *alternatives: str | tuple[str, ...]) -> Entry:
    ours_t = (ours,) if isinstance(ours, str) else ours
    return ours_t, tuple((alt,) if isinstance(alt, str) else alt for alt in alternatives)


def _attention(base: str = "{p}layers.{i}.self_attn.") -> list[Entry]:
    return [
        _e("attention.query", base + "q_proj.weight"),
        _e("attention.key", base + "k_proj.weight"),
        _e("attention.value_down", base + "v_proj.weight"),
        _e("attention.value_up", base + "o_proj.weight"),
        _e("attention.biases.qkv", (base + "q_proj.bias", base + "k_proj.bias", base + "v_proj.bias")),
        _e("attention.biases.out", base + "o_proj.bias"),
        _e("attention.q_norm", base + "q_norm.weight"),
        _e("attention.k_norm", base + "k_norm.weight"),
        _e("attention.sinks", base + "sinks"),
    ]


def _mlp(base: str = "{p}layers.{i}.mlp.", where: str = "mlp") -> list[Entry]:
    return [
        _e(f"{where}.gate", base + "gate_proj.weight"),
        _e(f"{where}.up", base + "up_proj.weight"),
        _e(f"{where}.down", base + "down_proj.weight"),
        _e(f"{where}.bias", (base + "gate_proj.bias", base + "up_proj.bias", base + "down_proj.bias"),
           (base + "up_proj.bias", base + "down_proj.bias")),
    ]


def _experts(base: str = "{p}layers.{i}.mlp.") -> list[Entry]:
    """Routed experts per expert (the published checkpoints) or fused (transformers 5 saves them so);
    the router and shared experts."""
    return [
        _e(("mlp.expert.gate", "mlp.expert.up"),
           (base + "experts.{e}.gate_proj.weight", base + "experts.{e}.up_proj.weight"), base + "experts.gate_up_proj"),
        _e("mlp.expert.down", base + "experts.{e}.down_proj.weight", base + "experts.down_proj"),
        _e("mlp.router", base + "gate.weight"),
        # shared experts: DeepSeek's shared_experts, Qwen2-MoE's single shared_expert
        *[(ours, one + other) for (ours, one), (_, other) in zip(_mlp(base + "shared_experts.", "mlp.shared"),
                                                                 _mlp(base + "shared_expert.", "mlp.shared"))],
        _e("mlp.shared_gate", base + "shared_expert_gate.weight"),
    ]


NORMS_2 = _e("norms.norm", ("{p}layers.{i}.input_layernorm.weight", "{p}layers.{i}.post_attention_layernorm.weight"))
NORMS_4 = _e("norms.norm", ("{p}layers.{i}.input_layernorm.weight", "{p}layers.{i}.post_attention_layernorm.weight",
                            "{p}layers.{i}.pre_feedforward_layernorm.weight",
                            "{p}layers.{i}.post_feedforward_layernorm.weight"))
ENDS = (_e("embedding.token", "{p}embed_tokens.weight"), _e("final_norm", "{p}norm.weight"),
        _e("unembedding.matrix", "lm_head.weight", "{p}lm_head.weight", "language_model.lm_head.weight"))
LLAMA_PREFIXES = ("model.", "model.language_model.", "language_model.model.", "")

# Why a tensor no entry claims is there, for every family (checked in order).
COMMON_REASONS = (
    (r"(_scale_inv|_scales?|\.weight_scale|\.input_scale|\.qzeros|\.g_idx|\.scales)$", "quantization scales"),
    (r"(e_score_correction_bias|rotary_emb\.inv_freq|\.attn\.bias|\.attn\.masked_bias|^rope_freqs\.weight)$",
     "a buffer, not a parameter"),
    (r"(^|\.)(mtp|nextn)[._]|(^|\.)layers\.(?P<layer>\d+)\.", "layers beyond the model's (multi-token prediction)"),
    (r"(vision|visual|image|audio|multi_modal_projector|mm_projector|embed_vision|embed_audio|patch_embed)",
     "a vision or audio tower"),
)


def _llama_like(norms: Entry = NORMS_2, moe: bool = False) -> NameTable:
    return NameTable(LLAMA_PREFIXES, tuple(_attention() + _mlp() + (_experts() if moe else []) + [norms]), ENDS)


def _mixtral() -> NameTable:
    base = "{p}layers.{i}.block_sparse_moe."
    moe = [_e(("mlp.expert.gate", "mlp.expert.up"), (base + "experts.{e}.w1.weight", base + "experts.{e}.w3.weight")),
           _e("mlp.expert.down", base + "experts.{e}.w2.weight"), _e("mlp.router", base + "gate.weight")]
    return NameTable(LLAMA_PREFIXES, tuple(_attention() + moe + [NORMS_2]), ENDS)


def _latent(base: str = "{p}layers.{i}.self_attn.") -> list[Entry]:
    return [
        _e("attention.query", base + "q_b_proj.weight", base + "q_proj.weight"),
        _e(("attention.key", "attention.value_down"), base + "kv_b_proj.weight"),
        _e("attention.value_up", base + "o_proj.weight"),
        _e("attention.latent.query_down", base + "q_a_proj.weight"),
        _e("attention.latent.query_norm", base + "q_a_layernorm.weight"),
        _e("attention.latent.kv_down", base + "kv_a_proj_with_mqa.weight"),
        _e("attention.latent.kv_norm", base + "kv_a_layernorm.weight"),
        _e("attention.indexer.query", base + "indexer.wq_b.weight"),
        _e("attention.indexer.key", base + "indexer.wk.weight"),
        _e("attention.indexer.key_norm", (base + "indexer.k_norm.weight", base + "indexer.k_norm.bias")),
        _e("attention.indexer.head_weights", base + "indexer.weights_proj.weight"),
    ]


def _deepseek() -> NameTable:
    return NameTable(("model.",), tuple(_latent() + _mlp() + _experts() + [NORMS_2]), ENDS)


def _longcat() -> NameTable:
    attention = [(ours, tuple(tuple(t.replace("layers.{i}.self_attn.", "layers.{L}.self_attn.{j}.") for t in alt)
                              for alt in alts)) for ours, alts in _latent()]
    dense = _mlp("{p}layers.{L}.mlps.{j}.", "mlp") + _mlp("{p}layers.{L}.mlps.{j}.", "mlp.dense")
    moe = [(ours, tuple(tuple(t.replace("layers.{i}.", "layers.{L}.") for t in alt) for alt in alts))
           for ours, alts in _experts()[:2]]
    router = _e("mlp.router", "{p}layers.{L}.mlp.router.classifier.weight")
    norms = _e("norms.norm", ("{p}layers.{L}.input_layernorm.{j}.weight", "{p}layers.{L}.post_attention_layernorm.{j}.weight"))
    return NameTable(("model.",), tuple(attention + dense + moe + [router, norms]), ENDS)


def _gpt_oss() -> NameTable:
    base = "{p}layers.{i}.mlp."
    moe = [_e(("mlp.expert.gate", "mlp.expert.up"), base + "experts.gate_up_proj_blocks", base + "experts.gate_up_proj"),
           _e("mlp.expert.down", base + "experts.down_proj_blocks", base + "experts.down_proj"),
           _e("mlp.expert.bias", (base + "experts.gate_up_proj_bias", base + "experts.down_proj_bias")),
           _e("mlp.router", base + "router.weight"), _e("mlp.router_bias", base + "router.bias")]
    return NameTable(("model.",), tuple(_attention() + moe + [NORMS_2]), ENDS)


def _gpt2() -> NameTable:
    b = "{p}h.{i}."
    layer = (
        _e(("attention.query", "attention.key", "attention.value_down"), b + "attn.c_attn.weight"),
        _e("attention.biases.qkv", b + "attn.c_attn.bias"),
        _e("attention.value_up", b + "attn.c_proj.weight"),
        _e("attention.biases.out", b + "attn.c_proj.bias"),
        _e("mlp.up", b + "mlp.c_fc.weight"), _e("mlp.down", b + "mlp.c_proj.weight"),
        _e("mlp.bias", (b + "mlp.c_fc.bias", b + "mlp.c_proj.bias")),
        _e("norms.norm", (b + "ln_1.weight", b + "ln_1.bias", b + "ln_2.weight", b + "ln_2.bias")),
    )
    model = (_e("embedding.token", "{p}wte.weight"), _e("embedding.position", "{p}wpe.weight"),
             _e("final_norm", ("{p}ln_f.weight", "{p}ln_f.bias")), _e("unembedding.matrix", "lm_head.weight"))
    return NameTable(("", "transformer."), layer, model)


def _gemma3n() -> NameTable:
    b = "{p}layers.{i}."
    layer = _attention() + _mlp() + [NORMS_4] + [
        _e("altup.router_norm", b + "altup.router_norm.weight"),
        _e("altup.modality_router", b + "altup.modality_router.weight"),
        _e("altup.prediction_coefs", b + "altup.prediction_coefs.weight"),
        _e("altup.correction_coefs", b + "altup.correction_coefs.weight"),
        _e("altup.correct_output_scale", b + "altup.correct_output_scale"),
        _e("laurel.left", b + "laurel.linear_left.weight"), _e("laurel.right", b + "laurel.linear_right.weight"),
        _e("laurel.norm", b + "laurel.post_laurel_norm.weight"),
        _e("per_layer_input.gate", b + "per_layer_input_gate.weight"),
        _e("per_layer_input.projection", b + "per_layer_projection.weight"),
        _e("per_layer_input.norm", b + "post_per_layer_input_norm.weight"),
    ]
    model = ENDS + (
        _e("embedding.per_layer", "{p}embed_tokens_per_layer.weight"),
        _e("embedding.per_layer_projection", "{p}per_layer_model_projection.weight"),
        _e("embedding.per_layer_norm", "{p}per_layer_projection_norm.weight"),
        _e("embedding.altup_in.projection", "{p}altup_projections.{e}.weight"),
        _e("altup_out.unprojection.projection", "{p}altup_unembed_projections.{e}.weight"),
    )
    reasons = ((r"layers\.\d+\.self_attn\.(k_proj|v_proj|k_norm|v_norm)\.",
                "a KV-sharing layer's key/value weights: in the checkpoint, unused (transformers ignores them on load)"),)
    return NameTable(LLAMA_PREFIXES, tuple(layer), model, reasons)


def _qwen3_next() -> NameTable:
    """Qwen3-Next (modeling_qwen3_next.py): gated attention (q_proj holds each head's query and output
    gate), gated DeltaNet layers (linear_attn), MoE with a gated shared expert."""
    b, lin = "{p}layers.{i}.self_attn.", "{p}layers.{i}.linear_attn."
    attention = [_e(("attention.query", "attention.output_gate"), b + "q_proj.weight")] + _attention()[1:]
    deltanet = [_e(f"deltanet.{w}", lin + t) for w, t in (
        ("in_proj_qkvz", "in_proj_qkvz.weight"), ("in_proj_ba", "in_proj_ba.weight"), ("conv", "conv1d.weight"),
        ("dt_bias", "dt_bias"), ("A_log", "A_log"), ("norm", "norm.weight"), ("out_proj", "out_proj.weight"))]
    return NameTable(LLAMA_PREFIXES, tuple(attention + deltanet + _mlp() + _experts() + [NORMS_2]), ENDS)


def _kimi_linear() -> NameTable:
    """Kimi-Linear (modeling_kimi_linear.py): NoPE latent attention and KDA layers, both self_attn."""
    b = "{p}layers.{i}.self_attn."
    kda = [_e(f"kda.{w}", b + t) for w, t in (
        ("q_proj", "q_proj.weight"), ("k_proj", "k_proj.weight"), ("v_proj", "v_proj.weight"),
        ("conv", "conv1d.weight"), ("f_a_proj", "forget_gate.f_a_proj.weight"),
        ("f_b_proj", "forget_gate.f_b_proj.weight"), ("dt_bias", "forget_gate.dt_bias"),
        ("A_log", "forget_gate.A_log"), ("b_proj", "b_proj.weight"), ("g_a_proj", "g_a_proj.weight"),
        ("g_b_proj", "g_b_proj.weight"), ("o_norm", "o_norm.weight"), ("o_proj", "o_proj.weight"))]
    return NameTable(("model.",), tuple(_latent() + kda + _mlp() + _experts() + [NORMS_2]), ENDS)


def _lfm2() -> NameTable:
    """LFM2 (modeling_lfm2.py): conv blocks and attention (out_proj, q/k_layernorm), w1/w3/w2 MLPs,
    operator_norm and ffn_norm; the model's embedding_norm is its final norm (applied last)."""
    b = "{p}layers.{i}."
    layer = [
        _e("attention.query", b + "self_attn.q_proj.weight"), _e("attention.key", b + "self_attn.k_proj.weight"),
        _e("attention.value_down", b + "self_attn.v_proj.weight"),
        _e("attention.value_up", b + "self_attn.out_proj.weight"),
        _e("attention.q_norm", b + "self_attn.q_layernorm.weight"), _e("attention.k_norm", b + "self_attn.k_layernorm.weight"),
        _e("short_conv.in_proj", b + "conv.in_proj.weight"), _e("short_conv.in_bias", b + "conv.in_proj.bias"),
        _e("short_conv.conv", b + "conv.conv.weight"), _e("short_conv.conv_bias", b + "conv.conv.bias"),
        _e("short_conv.out_proj", b + "conv.out_proj.weight"), _e("short_conv.out_bias", b + "conv.out_proj.bias"),
        _e("mlp.gate", b + "feed_forward.w1.weight"), _e("mlp.up", b + "feed_forward.w3.weight"),
        _e("mlp.down", b + "feed_forward.w2.weight"),
        _e("norms.norm", (b + "operator_norm.weight", b + "ffn_norm.weight")),
    ]
    model = (ENDS[0], _e("final_norm", "{p}embedding_norm.weight"), ENDS[2])
    return NameTable(("model.",), tuple(layer), model)


def _gguf() -> NameTable:
    """llama.cpp's names (gguf-py tensor_mapping.py: MODEL_TENSOR.ATTN_Q -> "blk.{bid}.attn_q" ...)."""
    b = "blk.{i}."
    layer = (
        _e("attention.query", b + "attn_q.weight"), _e("attention.key", b + "attn_k.weight"),
        _e("attention.value_down", b + "attn_v.weight"), _e("attention.value_up", b + "attn_output.weight"),
        _e("attention.biases.qkv", (b + "attn_q.bias", b + "attn_k.bias", b + "attn_v.bias")),
        _e("attention.biases.out", b + "attn_output.bias"),
        _e("attention.q_norm", b + "attn_q_norm.weight"), _e("attention.k_norm", b + "attn_k_norm.weight"),
        _e("mlp.gate", b + "ffn_gate.weight"), _e("mlp.up", b + "ffn_up.weight"), _e("mlp.down", b + "ffn_down.weight"),
        _e(("mlp.expert.gate", "mlp.expert.up"), (b + "ffn_gate_exps.weight", b + "ffn_up_exps.weight")),
        _e("mlp.expert.down", b + "ffn_down_exps.weight"), _e("mlp.router", b + "ffn_gate_inp.weight"),
        _e("mlp.shared.gate", b + "ffn_gate_shexp.weight"), _e("mlp.shared.up", b + "ffn_up_shexp.weight"),
        _e("mlp.shared.down", b + "ffn_down_shexp.weight"),
        _e("norms.norm", (b + "attn_norm.weight", b + "post_attention_norm.weight", b + "ffn_norm.weight",
                          b + "post_ffw_norm.weight"), (b + "attn_norm.weight", b + "ffn_norm.weight")),
    )
    model = (_e("embedding.token", "token_embd.weight"), _e("final_norm", "output_norm.weight"),
             _e("unembedding.matrix", "output.weight"))
    return NameTable(("",), layer, model)


NAME_TABLES: dict[str, NameTable] = {
    **{t: _llama_like() for t in ("llama", "mistral", "mistral3", "qwen2", "qwen3", "gemma")},
    **{t: _llama_like(moe=True) for t in ("qwen3_moe", "qwen2_moe")},
    "mixtral": _mixtral(),
    "gemma2": _llama_like(NORMS_4), "gemma3_text": _llama_like(NORMS_4), "gemma3": _llama_like(NORMS_4),
    "deepseek_v3": _deepseek(), "kimi_k2": _deepseek(), "deepseek_v32": _deepseek(),
    "gpt_oss": _gpt_oss(), "gpt2": _gpt2(),
    "longcat_flash": _longcat(), "gemma3n_text": _gemma3n(), "gemma3n": _gemma3n(),
    "qwen3_next": _qwen3_next(), "kimi_linear": _kimi_linear(), "lfm2": _lfm2(),
    "gguf": _gguf(),
}
