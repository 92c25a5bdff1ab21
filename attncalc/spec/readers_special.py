"""config.json readers for the model types with new machinery (issue 20): DeepSeek-V3.2's sparse
attention (``deepseek_v32``), LongCat-Flash's zero-computation experts and shortcut-connected MoE
(``longcat_flash``) and Gemma 3n's per-layer embeddings, AltUp, LAuReL and KV-sharing layers
(``gemma3n_text``, and the ``gemma3n`` wrapper's text_config).

Registered in hf.READERS / hf.WRAPPERS (hf.py imports this module; it imports hf_read and
readers_classic, never hf).

Defaults are transformers 5.24's config classes (``configuration_deepseek_v32.py``,
``configuration_longcat_flash.py``, ``configuration_gemma3n.py``; every field default is listed in
tests/golden/WAVE_NOTES.md, Appendix A) and the module structure of their modeling files (sections
2.25, 2.26 and 2.28 there).
"""

from __future__ import annotations

from typing import Any

from .hf_read import Reader, _activation, _Cfg
from .readers_classic import _deepseek, _llama_like, _local_pattern


def _deepseek_v32(c: _Cfg) -> dict[str, Any]:  # DeepseekV32Config, modeling_deepseek_v32.py
    out = _deepseek(c, True)  # DeepSeek-V3's shape (its defaults are V3.2's but for the context)
    if out["q_lora_rank"] is None:
        raise c.fail("q_lora_rank", "null: DeepSeek-V3.2's attention and indexer read the query latent "
                                    "(transformers builds no plain query projection for it)")
    return out | {"n_ctx": c.int("max_position_embeddings", 163840), "index_heads": c.int("index_n_heads", 64),
                  "index_head_dim": c.int("index_head_dim", 128), "index_topk": c.int("index_topk", 2048)}


def _longcat_flash(c: _Cfg) -> dict[str, Any]:  # LongcatFlashConfig, modeling_longcat_flash.py
    """One LongCat layer holds two sublayers (attention + dense MLP each) and one shortcut-connected
    MoE fed from the first; attncalc counts sublayers: n_layers = 2 num_layers (transformers'
    ``num_hidden_layers`` property, and its cache's layers), the MoE on every other one."""
    if c.data.get("num_layers") is not None or c.data.get("num_hidden_layers") is None:
        layers = c.int("num_layers", 28)
        hidden = c.int("num_hidden_layers") if c.data.get("num_hidden_layers") is not None else None
        if hidden is not None and hidden != 2 * layers:
            raise c.fail("num_hidden_layers", f"{hidden} is not 2 × num_layers = {2 * layers} (each LongCat layer "
                                              "holds two attention sublayers)")
    else:  # LongcatFlashConfig's num_hidden_layers setter: num_layers = value // 2
        layers = c.int("num_hidden_layers") // 2
    if c.bool("attention_bias", False):
        c.refuse("attention_bias", why="biases on latent-attention projections")
    experts = c.int("n_routed_experts", 512, "num_local_experts")
    d_inter = c.int("ffn_hidden_size", 12288, "intermediate_size")
    return dict(vocab_size=c.int("vocab_size", 131072), d_model=c.int("hidden_size", 6144), n_layers=2 * layers,
                n_heads=c.int("num_attention_heads", 64), d_head=c.int("qk_nope_head_dim", 128), d_ff=d_inter,
                mlp="gated", activation=_activation(c.str("hidden_act", "silu")), norm="rmsnorm", positions="rotary",
                n_ctx=c.int("max_position_embeddings", 131072), unembedding=c.tied(False),
                q_lora_rank=c.opt_int("q_lora_rank", 1536), kv_lora_rank=c.int("kv_lora_rank", 512),
                qk_rope_head_dim=c.int("qk_rope_head_dim", 64), v_head_dim=c.int("v_head_dim", 128),
                n_experts=experts, top_k=c.int("moe_topk", 12, "num_experts_per_tok"),
                d_ff_expert=c.int("expert_ffn_hidden_size", 2048, "moe_intermediate_size"),
                moe_every=2, moe_offset=0, zero_experts=c.int("zero_expert_num", 256),
                shortcut_moe=True, router_bias=c.bool("router_bias", False))


def _gemma3n_text(c: _Cfg) -> dict[str, Any]:  # Gemma3nTextConfig, modeling_gemma3n.py (Gemma3nForCausalLM)
    c.int("head_dim", 256)  # Gemma3nTextConfig's default (read first, so `show` names it, not _llama_like's None)
    out = _llama_like(262400, 2048, 16384, 35, 8, 2, 32768, True, "gelu_pytorch_tanh")(c)
    inter = c.list("intermediate_size")
    if inter is not None:  # one width per layer (MatFormer slicing): the same for all is modelled
        if len(inter) != out["n_layers"]:
            raise c.fail("intermediate_size", f"has {len(inter)} entries for {out['n_layers']} layers")
        if len(set(map(repr, inter))) != 1:
            raise c.fail("intermediate_size", "different MLP widths per layer (a sliced MatFormer) are not modelled")
        out["d_ff"] = c.derive({"intermediate_size": inter[0]}).int("intermediate_size")
    out |= {"d_head": c.int("head_dim", 256), "block_norms": 4, "qk_norm": "head",
            "sliding_window": c.int("sliding_window", 512),
            "per_layer_dim": c.int("hidden_size_per_layer_input", 256),
            "per_layer_vocab": c.int("vocab_size_per_layer_input", 262144),
            "altup_inputs": c.int("altup_num_inputs", 4), "laurel_rank": c.int("laurel_rank", 64),
            "kv_shared_layers": c.int("num_kv_shared_layers", 15)}
    return _local_pattern(c, out, period=5)  # layer_types None: full when (i + 1) % 5 == 0


READERS_SPECIAL: dict[str, Reader] = {
    "deepseek_v32": _deepseek_v32,
    "longcat_flash": _longcat_flash,
    "gemma3n_text": _gemma3n_text,
}
# gemma3n (Gemma3nForConditionalGeneration): its language model is text_config; the vision (MobileNet)
# and audio (USM conformer) towers are named in the notes as not counted.
WRAPPERS_SPECIAL = {"gemma3n": "gemma3n_text"}

