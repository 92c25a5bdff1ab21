"""config.json readers for the linear-attention and short-convolution hybrids of the 2026 wave
(issue 20): ``qwen3_next`` (gated DeltaNet + gated full attention + MoE with a gated shared expert),
``kimi_linear`` (Kimi Delta Attention + NoPE latent attention + MoE) and ``lfm2`` (short-convolution
blocks + attention).

Each reader follows transformers 5.24: the defaults are the dataclass fields of
``transformers.<Type>Config`` (``configuration_<type>.py``; every field default is listed in
tests/golden/WAVE_NOTES.md, Appendix A), the shapes what ``modeling_<type>.py`` builds from them
(sections 2.3, 2.19 and 2.27 there; golden_wave.json holds what transformers built). A key the file
leaves out takes that default and is recorded (``attncalc show`` lists it); what transformers builds
differently from the published checkpoint is said in the notes; what attncalc cannot describe
exactly is refused, named. The layer pattern becomes ``mixer_pattern`` (one letter per layer:
A attention, G gated DeltaNet, K Kimi Delta Attention, C short convolution).

Registered in hf.READERS (hf.py imports this module; it imports hf_read, hf_wave and readers_classic,
never hf).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from .hf_read import Reader, _Cfg
from .hf_wave import _mtp_note, _partial_rotary, _Read, make_readers
from .readers_classic import _llama_like, _moe_layers


def _pattern(c: _Cfg, key: str, types: list, letters: dict[str, str]) -> str:
    """A per-layer list of layer kinds as mixer_pattern letters; an unknown kind is refused, named."""
    out = []
    for i, t in enumerate(types):
        if t not in letters:
            raise c.fail(key, f"entry {i} is {t!r}: layer kinds other than {', '.join(letters)} are not modelled")
        out.append(letters[t])
    if "A" not in out:
        raise c.fail(key, "no attention layer: a model of only linear-attention or convolution layers is not modelled")
    return "".join(out)


def _qwen3_next(c: _Read) -> dict[str, Any]:  # Qwen3NextConfig, modeling_qwen3_next.py (WAVE_NOTES 2.3)
    c.int("head_dim", 256)  # Qwen3NextConfig's default (read first, so `show` names it, not _llama_like's None)
    out = _llama_like(151936, 2048, 5632, 48, 16, 2, 32768, False)(c)
    n = out["n_layers"]
    out |= {"d_head": c.int("head_dim", 256), "qk_norm": "head", "attention_gate": True, "mlp_bias": False}
    c.defaults.pop("mlp_bias", None)  # not a Qwen3NextConfig field: its MLPs have no biases, whatever the file
    if c.bool("use_sliding_window", False):
        c.refuse("use_sliding_window", why="sliding windows")
    types = c.list("layer_types", of=str)
    if types is None:  # __post_init__: every full_attention_interval-th layer is full attention
        k = c.step("full_attention_interval", 4)
        types = ["linear_attention" if (i + 1) % k else "full_attention" for i in range(n)]
    elif len(types) != n:
        raise c.fail("layer_types", f"has {len(types)} entries for {n} layers")
    else:
        c.tried.add("full_attention_interval")  # layer_types decides; the interval is not read
    pattern = _pattern(c, "layer_types", types, {"full_attention": "A", "linear_attention": "G"})
    out |= {"mixer_pattern": pattern if "G" in pattern else "",
            "linear_heads": c.int("linear_num_key_heads", 16) if "G" in pattern else 0,
            "linear_value_heads": c.int("linear_num_value_heads", 32) if "G" in pattern else None,
            "linear_key_dim": c.int("linear_key_head_dim", 128), "linear_value_dim": c.int("linear_value_head_dim", 128),
            "linear_conv": c.int("linear_conv_kernel_dim", 4)}
    experts = c.int("num_experts", 512)
    if experts:  # Qwen3NextSparseMoeBlock where (i + 1) % decoder_sparse_step == 0, not in mlp_only_layers
        if experts < 2:
            raise c.fail("num_experts", "1 routed expert: a mixture of experts needs at least 2 (0: dense)")
        shared = c.int("shared_expert_intermediate_size", 512)
        out |= {"n_experts": experts, "top_k": c.int("num_experts_per_tok", 10),
                "d_ff_expert": c.int("moe_intermediate_size", 512), "n_shared_experts": 1 if shared else 0,
                "d_ff_shared": shared or None, "shared_expert_gate": bool(shared)}
        out |= _moe_layers(c, n, "decoder_sparse_step", True)
    c.note("RMSNorms are zero-centred (weight stored as zeros, applied as 1 + weight): the same parameters. "
           "Full-attention layers are gated (q_proj holds each head's query and output gate).")
    _partial_rotary(c)
    _mtp_note(c, "mtp_num_layers", "num_nextn_predict_layers")
    return out


def _kimi_layers(c: _Cfg, n: int, lac: dict) -> list:
    """KimiLinearConfig.__post_init__: layer_types, else linear_attn_config's 1-based full_attn_layers
    and kda_layers, else full attention where i and i % 4 == 0."""
    types = c.list("layer_types", of=str)
    if types is not None:
        if len(types) != n:
            raise c.fail("layer_types", f"has {len(types)} entries for {n} layers")
        return types
    full, kda = lac.get("full_attn_layers"), lac.get("kda_layers")
    if full is None and kda is None:
        c.defaults.setdefault("linear_attn_config.full_attn_layers", "none: full attention at 0-based layers i > 0 "
                                                                     "with i % 4 == 0")
        return ["full_attention" if i and i % 4 == 0 else "linear_attention" for i in range(n)]
    lists = {}
    for key, v in (("full_attn_layers", full), ("kda_layers", kda)):
        name = f"linear_attn_config.{key}"
        if v is None:
            v = []
        if not isinstance(v, list) or any(isinstance(x, bool) or not isinstance(x, int) for x in v):
            raise c.fail(name, "expected a list of layer numbers (1-based)")
        if any(not 1 <= x <= n for x in v):
            raise c.fail(name, f"layer numbers are 1-based, 1..{n}")
        lists[key] = set(v)
    if lists["full_attn_layers"] & lists["kda_layers"]:
        raise c.fail("linear_attn_config.kda_layers", "a layer is both a full-attention and a KDA layer")
    if kda is not None and len(lists["full_attn_layers"] | lists["kda_layers"]) != n:
        raise c.fail("linear_attn_config.kda_layers", f"full_attn_layers and kda_layers do not cover the {n} layers")
    return ["full_attention" if i + 1 in lists["full_attn_layers"] else "linear_attention" for i in range(n)]


def _kimi_linear(c: _Read) -> dict[str, Any]:  # KimiLinearConfig, modeling_kimi_linear.py (WAVE_NOTES 2.27)
    n = c.int("num_hidden_layers", 27)
    heads = c.int("num_attention_heads", 32)
    kv = c.int("num_key_value_heads", 32)
    if kv not in (None, heads):
        raise c.fail("num_key_value_heads", f"{kv} is not num_attention_heads = {heads}: latent attention with "
                                            "grouped key/value heads is not modelled")
    lac = c.data.get("linear_attn_config") or {}
    c.tried.add("linear_attn_config")
    if not isinstance(lac, dict):
        raise c.fail("linear_attn_config", "expected an object (num_heads, head_dim, short_conv_kernel_size, ...)")
    sub = c.derive({f"linear_attn_config.{k}": v for k, v in lac.items()})

    def linear(key: str, field: str, default: int) -> int:  # __post_init__ reads linear_attn_config first
        return sub.int(f"linear_attn_config.{key}") if lac.get(key) is not None else c.int(field, default)

    types = _kimi_layers(c, n, lac)
    key = "layer_types" if "layer_types" in c.data else "linear_attn_config.full_attn_layers"
    pattern = _pattern(c, key, types, {"full_attention": "A", "linear_attention": "K"})
    experts = c.int("num_experts", 256, "num_local_experts")
    moe_inter = c.int("moe_intermediate_size", 1024)
    shared = c.int("num_shared_experts", 1, "n_shared_experts")
    c.refuse("moe_layer_freq", value=1, why="MoE layers other than every layer after the first dense ones")
    c.tried.update(("head_dim", "attention_bias", "mla_use_nope"))  # overwritten / forced False / always NoPE in 5.24
    out = dict(vocab_size=c.int("vocab_size", 163840), d_model=c.int("hidden_size", 2304), n_layers=n,
               n_heads=heads, d_head=c.int("qk_nope_head_dim", 128), d_ff=c.int("intermediate_size", 9216),
               mlp="gated", activation=c.activation("hidden_act", "silu"), norm="rmsnorm", positions="none",
               n_ctx=c.int("model_max_length", 1048576, "max_position_embeddings"), unembedding=c.tied(False),
               q_lora_rank=c.opt_int("q_lora_rank", None), kv_lora_rank=c.int("kv_lora_rank", 512),
               qk_rope_head_dim=c.int("qk_rope_head_dim", 64), v_head_dim=c.int("v_head_dim", 128),
               mixer_pattern=pattern if "K" in pattern else "")
    if "K" in pattern:
        out |= {"linear_heads": linear("num_heads", "linear_num_heads", 32),
                "linear_key_dim": linear("head_dim", "linear_head_dim", 128),
                "linear_conv": linear("short_conv_kernel_size", "linear_conv_kernel_dim", 4)}
    if experts == 1:
        raise c.fail("num_experts", "1 routed expert: a mixture of experts needs at least 2 (0: dense)")
    if experts:
        out |= {"n_experts": experts, "top_k": c.int("num_experts_per_token", 8, "num_experts_per_tok"),
                "d_ff_expert": moe_inter, "n_shared_experts": 1 if shared else 0,
                "d_ff_shared": (shared or 1) * moe_inter, "router_correction": "buffer"}
        mlp_types = c.list("mlp_layer_types", of=str)
        if mlp_types is not None:
            if len(mlp_types) != n:
                raise c.fail("mlp_layer_types", f"has {len(mlp_types)} entries for {n} layers")
            out["ffn_pattern"] = _pattern(c, "mlp_layer_types", mlp_types, {"dense": "D", "sparse": "E"})
        else:
            out["first_dense_layers"] = min(c.int("first_k_dense_replace", 1), n)
    c.note("Full-attention layers are multi-head latent attention without rotary positions (NoPE); the rotary "
           "slice of the projections is still there. The routing correction bias is a buffer (not counted).")
    _mtp_note(c, "num_nextn_predict_layers")
    return out


# Keys of published LFM2 files that Lfm2Config does not read (WAVE_NOTES 2.19).
_LFM2_UNREAD = ("block_dim", "block_ff_dim", "conv_dim", "block_norm_eps", "block_use_swiglu", "block_mlp_init_scale",
                "block_out_init_scale", "block_use_xavier_init", "conv_use_xavier_init", "tie_embedding",
                "use_pos_enc", "num_heads", "norm_eps")


def _lfm2_ff(c: _Cfg) -> int:
    """Lfm2MLP.__init__: with block_auto_adjust_ff_dim, int(2 I / 3), then (a multiplier set) int(mult x
    that) rounded up to a multiple of block_multiple_of."""
    inter = c.int("intermediate_size", 12288)
    if not c.bool("block_auto_adjust_ff_dim", True):
        return inter
    inter = 2 * inter // 3
    mult = c.data.get("block_ffn_dim_multiplier", 1.0) if "block_ffn_dim_multiplier" in c.data else 1.0
    c.tried.add("block_ffn_dim_multiplier")
    if "block_ffn_dim_multiplier" not in c.data:
        c.defaults.setdefault("block_ffn_dim_multiplier", 1.0)
    if mult is None:
        return inter
    if isinstance(mult, bool) or not isinstance(mult, (int, float)) or not mult > 0:
        raise c.fail("block_ffn_dim_multiplier", f"expected a positive number, got {mult!r}")
    m = c.int("block_multiple_of", 256)
    if m is None or m < 1:
        raise c.fail("block_multiple_of", "must be a positive integer")
    scaled = int(Fraction(mult) * inter)  # the float's exact value (transformers: int(mult * I))
    return m * -(-scaled // m)


def _lfm2(c: _Read) -> dict[str, Any]:  # Lfm2Config, modeling_lfm2.py (WAVE_NOTES 2.19)
    out = _llama_like(65536, 2560, 12288, 32, 32, 8, 128000, True)(c)
    n = out["n_layers"]
    out |= {"d_ff": _lfm2_ff(c), "activation": "silu", "qkv_bias": False, "out_bias": False, "mlp_bias": False,
            "qk_norm": "head", "final_norm": True, "embedding_norm": False}
    c.tried.update(_LFM2_UNREAD)
    for key in ("hidden_act", "attention_bias", "mlp_bias"):  # not Lfm2Config fields: SiLU, no biases, whatever
        c.defaults.pop(key, None)
    types = c.list("layer_types", of=str)
    if types is None:
        idx = c.list("full_attn_idxs", of=int)
        if idx is None:  # __post_init__: full_attn_idxs None = every layer attention
            c.defaults.setdefault("full_attn_idxs", "none: every layer is attention")
            idx = list(range(n))
        if any(not 0 <= i < n for i in idx):
            raise c.fail("full_attn_idxs", f"layer indices are 0..{n - 1}")
        types = ["full_attention" if i in set(idx) else "conv" for i in range(n)]
    elif len(types) != n:
        raise c.fail("layer_types", f"has {len(types)} entries for {n} layers")
    key = "layer_types" if c.data.get("layer_types") is not None else "full_attn_idxs"
    pattern = _pattern(c, key, types, {"full_attention": "A", "conv": "C"})
    if "C" in pattern:
        out |= {"mixer_pattern": pattern, "linear_conv": c.int("conv_L_cache", 3),
                "short_conv_bias": c.bool("conv_bias", False)}
    c.note("The checkpoint's model.embedding_norm is applied after the last layer (Lfm2Model.forward): it is counted "
           "as the final norm.")
    return out


READERS_LINEAR: dict[str, Reader] = make_readers({
    "qwen3_next": _qwen3_next,
    "kimi_linear": _kimi_linear,
    "lfm2": _lfm2,
})
