"""config.json readers of the families attncalc read before the 2026 wave (GPT-2 … Jamba): each maps
its keys to ours with the defaults of the reference implementation (the ``__init__`` defaults of
``transformers.<Family>Config``) and the module structure of ``modeling_<family>.py``. Registered in
``hf.READERS``."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from .hf_read import Reader, _activation, _Cfg, _every_kth_full


def _gpt2(c: _Cfg) -> dict[str, Any]:  # GPT2Config, modeling_gpt2.py (Conv1D layers all have biases)
    d = c.int("n_embd", 768)
    return dict(vocab_size=c.int("vocab_size", 50257), d_model=d, n_layers=c.int("n_layer", 12),
                n_heads=c.int("n_head", 12), d_ff=c.int("n_inner", None) or 4 * d,
                activation=c.activation("activation_function", "gelu_new"),
                qkv_bias=True, out_bias=True, mlp_bias=True, n_ctx=c.int("n_positions", 1024),
                unembedding=c.tied(True))


def _llama_like(vocab: int, hidden: int, inter: int, layers: int, heads: int, kv: int | None,
                ctx: int, tied: bool, act: str = "silu") -> Reader:
    """Llama, Mistral, Mixtral, Qwen2, Gemma: RMSNorm, rotary, gated MLP, no biases by default."""

    def read(c: _Cfg) -> dict[str, Any]:
        h = c.int("num_attention_heads", heads)
        return dict(vocab_size=c.int("vocab_size", vocab), d_model=c.int("hidden_size", hidden),
                    n_layers=c.int("num_hidden_layers", layers), n_heads=h,
                    n_kv_heads=c.int("num_key_value_heads", kv or h), d_head=c.int("head_dim", None),
                    d_ff=c.int("intermediate_size", inter), mlp="gated",
                    activation=c.activation("hidden_act", act, "hidden_activation"),
                    qkv_bias=c.bool("attention_bias", False), out_bias=c.bool("attention_bias", False),
                    mlp_bias=c.bool("mlp_bias", False), norm="rmsnorm", positions="rotary",
                    n_ctx=c.int("max_position_embeddings", ctx), unembedding=c.tied(tied))

    return read


def _mistral(c: _Cfg) -> dict[str, Any]:
    out = _llama_like(32000, 4096, 14336, 32, 32, 8, 4096 * 32, False)(c)
    return out | {"sliding_window": c.opt_int("sliding_window", 4096)}


def _mixtral(c: _Cfg) -> dict[str, Any]:
    out = _llama_like(32000, 4096, 14336, 32, 32, 8, 4096 * 32, False)(c)
    return out | {"sliding_window": c.int("sliding_window", None),
                  "n_experts": c.int("num_local_experts", 8), "top_k": c.int("num_experts_per_tok", 2)}


def _qwen2(c: _Cfg) -> dict[str, Any]:  # modeling_qwen2.py: q/k/v projections have biases, o_proj none
    out = _llama_like(151936, 4096, 22016, 32, 32, 32, 32768, False)(c)
    window = c.int("sliding_window", 4096) if c.bool("use_sliding_window", False) else None
    return out | {"qkv_bias": True, "out_bias": False, "sliding_window": window}


def _gemma(c: _Cfg) -> dict[str, Any]:  # GemmaConfig: head_dim 256, tied, GeGLU
    return _llama_like(256000, 3072, 24576, 28, 16, 16, 8192, True, "gelu_pytorch_tanh")(c) | {
        "d_head": c.int("head_dim", 256)}


def _phi(c: _Cfg) -> dict[str, Any]:  # modeling_phi.py: parallel block, one LayerNorm, all biases
    return dict(vocab_size=c.int("vocab_size", 51200), d_model=c.int("hidden_size", 2048),
                n_layers=c.int("num_hidden_layers", 24), n_heads=c.int("num_attention_heads", 32),
                n_kv_heads=c.int("num_key_value_heads", None), d_ff=c.int("intermediate_size", 8192),
                activation=c.activation("hidden_act", "gelu_new"), qkv_bias=True, out_bias=True,
                mlp_bias=True, lm_head_bias=True, parallel_block=True, block_norms=1,
                positions="rotary", n_ctx=c.int("max_position_embeddings", 2048), unembedding=c.tied(False),
                qk_norm="head" if c.bool("qk_layernorm", False) else "none")  # LayerNorm(d_head) on q and k


def _phi3(c: _Cfg) -> dict[str, Any]:  # modeling_phi3.py: fused qkv and gate_up, no biases
    return _llama_like(32064, 3072, 8192, 32, 32, None, 4096, False)(c) | {"qkv_bias": False, "out_bias": False}


def _falcon(c: _Cfg) -> dict[str, Any]:  # FalconConfig / modeling_falcon.py
    heads = c.int("num_attention_heads", 71, "n_head")
    new_arch = c.bool("new_decoder_architecture", False)
    parallel = c.bool("parallel_attn", True)
    if new_arch:
        kv = c.int("num_kv_heads", heads, "n_head_kv")
        norms = 1 if c.int("num_ln_in_parallel_attn", 2) == 1 else 2
    else:
        kv = 1 if c.bool("multi_query", True) else heads
        norms = 1 if parallel else 2
    d = c.int("hidden_size", 4544)
    bias = c.bool("bias", False)
    return dict(vocab_size=c.int("vocab_size", 65024), d_model=d, n_layers=c.int("num_hidden_layers", 32, "n_layer"),
                n_heads=heads, n_kv_heads=kv, d_ff=c.int("ffn_hidden_size", 4 * d),
                qkv_bias=bias, out_bias=bias, mlp_bias=bias, parallel_block=parallel or new_arch,
                block_norms=norms, positions="alibi" if c.bool("alibi", False) else "rotary",
                n_ctx=c.int("max_position_embeddings", 2048), unembedding=c.tied(True))


def _gpt_neox(c: _Cfg) -> dict[str, Any]:  # modeling_gpt_neox.py: two LayerNorms, biased linears
    bias = c.bool("attention_bias", True)
    return dict(vocab_size=c.int("vocab_size", 50432), d_model=c.int("hidden_size", 6144),
                n_layers=c.int("num_hidden_layers", 44), n_heads=c.int("num_attention_heads", 64),
                d_ff=c.int("intermediate_size", 24576), activation=c.activation("hidden_act", "gelu"),
                qkv_bias=bias, out_bias=bias, mlp_bias=True, parallel_block=c.bool("use_parallel_residual", True),
                block_norms=2, positions="rotary", n_ctx=c.int("max_position_embeddings", 2048),
                unembedding=c.tied(False))


def _opt(c: _Cfg) -> dict[str, Any]:  # modeling_opt.py: learned positions with an offset of 2 rows
    d = c.int("hidden_size", 768)
    if c.int("word_embed_proj_dim", d) != d:
        raise ConfigError("word_embed_proj_dim different from hidden_size (project_in/out) is not supported",
                          source=c.source, field="word_embed_proj_dim")
    ctx = c.int("max_position_embeddings", 2048)
    bias = c.bool("enable_bias", True)
    final = c.bool("do_layer_norm_before", True) and not c.bool("_remove_final_layer_norm", False)
    return dict(vocab_size=c.int("vocab_size", 50272), d_model=d, n_layers=c.int("num_hidden_layers", 12),
                n_heads=c.int("num_attention_heads", 12), d_ff=c.int("ffn_dim", 3072),
                activation=c.activation("activation_function", "relu"), qkv_bias=bias, out_bias=bias,
                mlp_bias=bias, norm_bias=bias, final_norm=final, n_ctx=ctx, n_positions=ctx + 2,
                unembedding=c.tied(True))


def _bert(c: _Cfg) -> dict[str, Any]:  # BertModel (with pooler, no MLM head)
    return dict(vocab_size=c.int("vocab_size", 30522), d_model=c.int("hidden_size", 768),
                n_layers=c.int("num_hidden_layers", 12), n_heads=c.int("num_attention_heads", 12),
                d_ff=c.int("intermediate_size", 3072), activation=c.activation("hidden_act", "gelu"),
                qkv_bias=True, out_bias=True, mlp_bias=True, final_norm=False, embedding_norm=True,
                n_ctx=c.int("max_position_embeddings", 512), token_types=c.int("type_vocab_size", 2),
                pooler=True, unembedding="none", causal=False)


def _local_pattern(c: _Cfg, out: dict[str, Any], key: str = "layer_types", local: str = "sliding_attention",
                   period: int | None = None, shown_as: str | None = None) -> dict[str, Any]:
    k = _every_kth_full(c, key, local, out["n_layers"], shown_as)
    if k is None:
        k = period
    if k == 0 or k == 1 and local != "full_attention":
        return out | {"sliding_window_pattern": None}
    return out | {"sliding_window_pattern": k if k and k > 1 else None}


def _moe_layers(c: _Cfg, n_layers: int, step_key: str, offset_from_step: bool) -> dict[str, Any]:
    """Which layers are MoE: every step-th (transformers: (i + 1) % step == 0, or i % step == 0)."""
    step = c.step(step_key)
    out = {"moe_every": step, "moe_offset": step - 1 if offset_from_step else 0}
    only = c.list("mlp_only_layers", of=int) or []
    if only:
        if sorted(only) != list(range(len(only))):
            raise c.fail("mlp_only_layers", "dense layers other than the first ones are not modelled")
        out["first_dense_layers"] = len(only)
    return out


def _deepseek(c: _Cfg, v3: bool) -> dict[str, Any]:  # DeepseekV2Config / DeepseekV3Config, modeling_deepseek_v*.py
    d = dict(vocab=129280, hidden=7168, inter=18432, moe_inter=2048, layers=61, heads=128, shared=1, experts=256,
             top_k=8, dense=3, ctx=4096) if v3 else dict(vocab=102400, hidden=4096, inter=11008, moe_inter=1407,
                                                          layers=32, heads=32, shared=2, experts=64, top_k=None,
                                                          dense=0, ctx=2048)
    top_k = c.int("num_experts_per_tok", d["top_k"])
    if top_k is None:
        raise c.fail("num_experts_per_tok", "required: DeepseekV2Config has no default for it")
    experts = c.int("n_routed_experts", d["experts"])
    heads = c.int("num_attention_heads", d["heads"])
    if c.bool("attention_bias", False):
        c.refuse("attention_bias", why="biases on latent-attention projections")
    return dict(vocab_size=c.int("vocab_size", d["vocab"]), d_model=c.int("hidden_size", d["hidden"]),
                n_layers=c.int("num_hidden_layers", d["layers"]), n_heads=heads,
                d_head=c.int("qk_nope_head_dim", 128), d_ff=c.int("intermediate_size", d["inter"]), mlp="gated",
                activation=c.activation("hidden_act", "silu"), norm="rmsnorm", positions="rotary",
                n_ctx=c.int("max_position_embeddings", d["ctx"]), unembedding=c.tied(False),
                q_lora_rank=c.opt_int("q_lora_rank", 1536),
                kv_lora_rank=c.int("kv_lora_rank", 512),
                qk_rope_head_dim=c.int("qk_rope_head_dim", 64), v_head_dim=c.int("v_head_dim", 128),
                n_experts=experts if experts else 1, top_k=top_k if experts else 1,
                d_ff_expert=c.int("moe_intermediate_size", d["moe_inter"]),
                first_dense_layers=c.int("first_k_dense_replace", d["dense"]), moe_every=c.step("moe_layer_freq"),
                n_shared_experts=1 if (experts and c.int("n_shared_experts", d["shared"])) else 0,
                d_ff_shared=(c.int("n_shared_experts", d["shared"]) or 1) * c.int("moe_intermediate_size", d["moe_inter"]),
                mtp_layers=c.int("num_nextn_predict_layers", 0))


def _qwen3(c: _Cfg) -> dict[str, Any]:  # Qwen3Config, modeling_qwen3.py: q/k RMSNorm over head_dim
    out = _llama_like(151936, 4096, 22016, 32, 32, 32, 32768, False)(c) | {"d_head": c.int("head_dim", 128),
                                                                          "qk_norm": "head"}
    if c.bool("use_sliding_window", False):
        c.refuse("use_sliding_window", why="sliding windows on layers from max_window_layers on")
    return out


def _qwen3_moe(c: _Cfg) -> dict[str, Any]:  # Qwen3MoeConfig, modeling_qwen3_moe.py
    out = _llama_like(151936, 2048, 6144, 24, 32, 4, 32768, False)(c) | {"d_head": c.int("head_dim", None),
                                                                        "qk_norm": "head"}
    if c.bool("use_sliding_window", False):
        c.refuse("use_sliding_window", why="sliding windows on layers from max_window_layers on")
    experts = c.int("num_experts", 128)
    return out | {"n_experts": experts, "top_k": c.int("num_experts_per_tok", 8),
                  "d_ff_expert": c.int("moe_intermediate_size", 768)} | _moe_layers(c, out["n_layers"], "decoder_sparse_step", True)


def _qwen2_moe(c: _Cfg) -> dict[str, Any]:  # Qwen2MoeConfig, modeling_qwen2_moe.py: q/k/v biases, gated shared expert
    out = _llama_like(151936, 2048, 5632, 24, 16, 16, 32768, False)(c) | {"qkv_bias": c.bool("qkv_bias", True),
                                                                         "out_bias": False}
    if c.bool("use_sliding_window", False):
        c.refuse("use_sliding_window", why="sliding windows on layers from max_window_layers on")
    shared = c.int("shared_expert_intermediate_size", 5632)
    return out | {"n_experts": c.int("num_experts", 60), "top_k": c.int("num_experts_per_tok", 4),
                  "d_ff_expert": c.int("moe_intermediate_size", 1408), "n_shared_experts": 1 if shared else 0,
                  "d_ff_shared": shared or None, "shared_expert_gate": bool(shared)} | _moe_layers(
                      c, out["n_layers"], "decoder_sparse_step", True)


def _gemma2(c: _Cfg) -> dict[str, Any]:  # Gemma2Config, modeling_gemma2.py: four norms a block, local/global
    out = _llama_like(256000, 2304, 9216, 26, 8, 4, 8192, True, "gelu_pytorch_tanh")(c) | {
        "d_head": c.int("head_dim", 256), "block_norms": 4, "sliding_window": c.int("sliding_window", 4096)}
    return _local_pattern(c, out, period=2)


def _gemma3(c: _Cfg) -> dict[str, Any]:  # Gemma3TextConfig, modeling_gemma3.py: four norms, q/k norms, 5:1 local
    out = _llama_like(262208, 2304, 9216, 26, 8, 4, 131072, True, "gelu_pytorch_tanh")(c) | {
        "d_head": c.int("head_dim", 256), "block_norms": 4, "qk_norm": "head",
        "sliding_window": c.int("sliding_window", 4096)}
    return _local_pattern(c, out, period=c.int("sliding_window_pattern", 6, "_sliding_window_pattern"))


def _llama4(c: _Cfg) -> dict[str, Any]:  # Llama4TextConfig, modeling_llama4.py
    out = _llama_like(202048, 5120, 16384, 48, 40, 8, 131072, False)(c)
    step = c.step("interleave_moe_layer_step")
    if c.list("moe_layers") not in (None, list(range(step - 1, out["n_layers"], step))):
        raise c.fail("moe_layers", "a MoE layer list other than every interleave_moe_layer_step-th is not modelled")
    chunk = c.int("attention_chunk_size", 8192)
    out |= {"d_head": c.int("head_dim", 128), "d_ff": c.int("intermediate_size_mlp", 16384),
            "d_ff_expert": c.int("intermediate_size", 8192), "n_experts": c.int("num_local_experts", 16),
            "top_k": c.int("num_experts_per_tok", 1), "n_shared_experts": 1, "moe_every": step,
            "moe_offset": step - 1, "attention_chunk": chunk}
    interval = c.int("no_rope_layer_interval", 4)
    nope = c.list("no_rope_layers", of=int)
    if nope:  # 1: rotary (chunked) layer, 0: NoPE (full attention) layer
        if any(x not in (0, 1) for x in nope):
            raise c.fail("no_rope_layers", "entries are 1 (a rotary, chunked layer) or 0 (a NoPE layer)")
        types = ["chunked_attention" if x else "full_attention" for x in nope]
        c = c.derive(c.data | {"_layer_types": types})
        return _local_pattern(c, out, key="_layer_types", local="chunked_attention", shown_as="no_rope_layers")
    return _local_pattern(c, out, local="chunked_attention", period=interval)


def _gpt_oss(c: _Cfg) -> dict[str, Any]:  # GptOssConfig, modeling_gpt_oss.py: sinks, biased experts and router
    out = _llama_like(201088, 2880, 2880, 36, 64, 8, 131072, False)(c)
    bias = c.bool("attention_bias", True)
    out |= {"d_head": c.int("head_dim", 64), "qkv_bias": bias, "out_bias": bias, "attention_sinks": True,
            "mlp_bias": True, "router_bias": True, "n_experts": c.int("num_local_experts", 128),
            "top_k": c.int("num_experts_per_tok", 4, "experts_per_token"), "sliding_window": c.int("sliding_window", 128)}
    return _local_pattern(c, out, period=2)


def _olmo2(c: _Cfg) -> dict[str, Any]:  # Olmo2Config, modeling_olmo2.py: post-norms, q/k norms over the full width
    return _llama_like(50304, 4096, 11008, 32, 32, None, 2048, False)(c) | {"qk_norm": "full"}


def _starcoder2(c: _Cfg) -> dict[str, Any]:  # Starcoder2Config, modeling_starcoder2.py: biased, LayerNorm, plain MLP
    bias = c.bool("use_bias", True)
    h = c.int("num_attention_heads", 24)
    return dict(vocab_size=c.int("vocab_size", 49152), d_model=c.int("hidden_size", 3072),
                n_layers=c.int("num_hidden_layers", 30), n_heads=h, n_kv_heads=c.int("num_key_value_heads", 2),
                d_ff=c.int("intermediate_size", 12288), activation=c.activation("hidden_act", "gelu_pytorch_tanh"),
                qkv_bias=bias, out_bias=bias, mlp_bias=bias, norm_bias=bias, positions="rotary",
                n_ctx=c.int("max_position_embeddings", 4096), unembedding=c.tied(True),
                sliding_window=c.int("sliding_window", None))


def _gptj(c: _Cfg) -> dict[str, Any]:  # GPTJConfig, modeling_gptj.py: parallel block, one LayerNorm, biased MLP and lm_head
    d = c.int("n_embd", 4096)
    return dict(vocab_size=c.int("vocab_size", 50400), d_model=d, n_layers=c.int("n_layer", 28),
                n_heads=c.int("n_head", 16), d_ff=c.int("n_inner", None) or 4 * d,
                activation=c.activation("activation_function", "gelu_new"), mlp_bias=True, lm_head_bias=True,
                parallel_block=True, block_norms=1, positions="rotary", n_ctx=c.int("n_positions", 2048),
                unembedding=c.tied(False))


def _roberta(c: _Cfg) -> dict[str, Any]:  # RobertaModel: BERT's blocks, positions offset by padding_idx + 1
    return _bert(c) | {"vocab_size": c.int("vocab_size", 50265), "token_types": c.int("type_vocab_size", 2),
                       "n_ctx": c.int("max_position_embeddings", 512)}


def _t5(c: _Cfg) -> dict[str, Any]:  # T5Config, modeling_t5.py (T5ForConditionalGeneration)
    proj = c.str("feed_forward_proj", "relu")  # "{act}" or "gated-{act}" (T5Config.__post_init__)
    parts = proj.split("-")
    if len(parts) > 2 or (len(parts) == 2 and parts[0] != "gated"):
        raise c.fail("feed_forward_proj", f"{proj!r} is not '<activation>' or 'gated-<activation>'")
    layers = c.int("num_layers", 6)
    # tie_word_embeddings: absent or true = the LM head is the shared embedding and the decoder output
    # is scaled by d_model^-1/2 (T5); false (T5 v1.1, its checkpoints store lm_head.weight) = untied.
    return dict(vocab_size=c.int("vocab_size", 32128), d_model=c.int("d_model", 512), n_heads=c.int("num_heads", 8),
                d_head=c.int("d_kv", 64), d_ff=c.int("d_ff", 2048), n_layers=c.int("num_decoder_layers", layers),
                encoder_layers=layers, mlp="gated" if len(parts) == 2 else "standard",
                activation=_activation(parts[-1], c, "feed_forward_proj"), norm="rmsnorm", positions="buckets",
                position_buckets=c.int("relative_attention_num_buckets", 32),
                n_ctx=c.int("n_positions", 512), unembedding=c.tied(True))


def _jamba(c: _Cfg) -> dict[str, Any]:  # JambaConfig, modeling_jamba.py: Mamba + attention (no positions), MoE
    out = _llama_like(65536, 4096, 14336, 32, 32, 8, 262144, False)(c)
    dt = c.data.get("mamba_dt_rank", "auto")
    experts = c.int("num_experts", 16)
    out |= {"positions": "none", "n_experts": experts, "top_k": c.int("num_experts_per_tok", 2) if experts > 1 else 1,
            "moe_every": c.step("expert_layer_period", 2), "moe_offset": c.int("expert_layer_offset", 1),
            "attention_every": c.step("attn_layer_period", 8), "attention_offset": c.int("attn_layer_offset", 4),
            "mamba_d_state": c.int("mamba_d_state", 16), "mamba_d_conv": c.int("mamba_d_conv", 4),
            "mamba_expand": c.int("mamba_expand", 2),
            "mamba_dt_rank": None if dt in (None, "auto") else c.int("mamba_dt_rank"),
            "mamba_conv_bias": c.bool("mamba_conv_bias", True), "mamba_proj_bias": c.bool("mamba_proj_bias", False),
            "qkv_bias": False, "out_bias": False, "mlp_bias": False}
    return out


def _pure_ssm(c: _Cfg) -> dict[str, Any]:
    raise c.fail("model_type", f"{c.data.get('model_type')!r} is a pure state-space model (no attention layers); "
                               "attncalc counts Mamba layers only inside hybrids (jamba)")


READERS_CLASSIC: dict[str, Reader] = {
    "gpt2": _gpt2,
    "llama": _llama_like(32000, 4096, 11008, 32, 32, None, 2048, False),
    "mistral": _mistral,
    "mixtral": _mixtral,
    "qwen2": _qwen2,
    "gemma": _gemma,
    "phi": _phi,
    "phi3": _phi3,
    "falcon": _falcon,
    "gpt_neox": _gpt_neox,
    "opt": _opt,
    "bert": _bert,
    "deepseek_v2": lambda c: _deepseek(c, False),
    "deepseek_v3": lambda c: _deepseek(c, True),
    "kimi_k2": lambda c: _deepseek(c, True),  # Kimi K2 ships DeepSeek-V3's architecture (its config's architectures)
    "qwen3": _qwen3,
    "qwen3_moe": _qwen3_moe,
    "qwen2_moe": _qwen2_moe,
    "gemma2": _gemma2,
    "gemma3_text": _gemma3,
    "llama4_text": _llama4,
    "gpt_oss": _gpt_oss,
    "olmo2": _olmo2,
    "starcoder2": _starcoder2,
    "gptj": _gptj,
    "roberta": _roberta,
    "t5": _t5,
    "jamba": _jamba,
}
