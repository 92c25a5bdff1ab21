"""config.json readers for the Mamba-2 hybrids of the 2026 wave (issue 20): ``bamba`` (Bamba-9B),
``falcon_h1`` (Falcon-H1), ``granitemoehybrid`` (Granite-4.0-H) and ``nemotron_h`` (Nemotron-H,
Nemotron Nano 2 / 3). Each layer's mixer goes into ``mixer_pattern`` (spec.arch.MIXER_CODES: "A"
attention, "2" Mamba-2, "H" both side by side, "-" none) and, for Nemotron-H, each block's
feed-forward into ``ffn_pattern``.

Registered in hf.READERS (hf.py imports this module; it imports hf_read, never hf).

Defaults are transformers 5.24's config classes (``configuration_bamba.py``,
``configuration_falcon_h1.py``, ``configuration_granitemoehybrid.py``,
``configuration_nemotron_h.py``; every field default is in tests/golden/WAVE_NOTES.md, Appendix A)
and the module structure of their modeling files (sections 1.5, 2.13, 2.18, 2.20 and 2.21 there).
MuP scalars (Granite's ``*_multiplier``, ``logits_scaling``; Falcon-H1's ``*_multiplier(s)``) scale
activations and hold no parameters: ignored.
"""

from __future__ import annotations

from typing import Any

from .hf_read import Reader, _Cfg


def _attention_base(c: _Cfg, vocab: int, hidden: int, layers: int | None, heads: int, kv: int | None,
                    ctx: int, inter: int) -> dict[str, Any]:
    """The keys every one of these types reads like Llama's: RMSNorm, untied, no head_dim field (a
    published ``head_dim`` is kept as an extra attribute and read; else d_model // n_heads)."""
    h = c.int("num_attention_heads", heads)
    out = dict(vocab_size=c.int("vocab_size", vocab), d_model=c.int("hidden_size", hidden), n_heads=h,
               n_kv_heads=c.int("num_key_value_heads", kv or h), d_head=c.int("head_dim", None),
               d_ff=c.int("intermediate_size", inter), norm="rmsnorm", n_ctx=c.int("max_position_embeddings", ctx),
               unembedding=c.tied(False), qkv_bias=c.bool("attention_bias", False))
    out["out_bias"] = out["qkv_bias"]
    if layers is not None:
        out["n_layers"] = c.int("num_hidden_layers", layers)
    return out


def _head_dim(c: _Cfg, key: str, default: Any) -> int | None:
    """A Mamba-2 head dimension that may be "auto" (d_ssm // heads): None for auto."""
    v = c.data.get(key)
    if v is None:
        c._absent((key,), default)
        return None if default == "auto" else default
    c.tried.add(key)
    return None if v == "auto" else c.int(key)


def _mamba2(c: _Cfg, d_model: int, heads: str, head_dim: tuple[str, Any], groups: str, state: tuple[str, int],
            conv: str, chunk: str, conv_bias: str, inner: int | None = None) -> dict[str, Any]:
    """The Mamba-2 mixer's keys (WAVE_NOTES 1.5), with each type's key names and defaults."""
    nh, hd = c.int(heads, 128), _head_dim(c, *head_dim)
    mult = c.int("mamba_expand", 2)
    d_ssm = mult * d_model if inner is None else inner
    if hd is None and d_ssm % nh:
        raise c.fail(heads, f"{nh} heads do not divide the Mamba-2 inner width {d_ssm}")
    if hd is not None and nh * hd != d_ssm:
        raise c.fail(head_dim[0], f"{nh} heads × {hd} is not the Mamba-2 inner width {d_ssm} (the SSD scan "
                                  "reshapes it into heads × head_dim)")
    g = c.int(groups, 1)
    if nh % g:
        raise c.fail(groups, f"{g} groups do not divide {nh} heads")
    return {"mamba2_heads": nh, "mamba2_head_dim": hd, "mamba2_groups": g, "mamba_d_state": c.int(*state),
            "mamba_d_conv": c.int(conv, 4), "mamba_expand": mult, "d_ssm": d_ssm, "mamba_chunk": c.int(chunk, 256),
            "mamba_conv_bias": c.bool(conv_bias, True)}


def _indices_pattern(c: _Cfg, key: str, n_layers: int, codes: dict[str, str], default: str) -> str:
    """A per-layer list of layer types ("linear_attention"/"mamba", "full_attention"/"attention") as
    mixer codes; None: every layer ``default``."""
    types = c.list(key, of=str)
    if types is None:
        return default * n_layers
    if len(types) != n_layers:
        raise c.fail(key, f"has {len(types)} entries for {n_layers} layers")
    bad = sorted(set(types) - set(codes))
    if bad:
        raise c.fail(key, f"layer type {bad[0]!r} is not one of {', '.join(codes)}")
    return "".join(codes[t] for t in types)


LEGACY = {"linear_attention": "2", "mamba": "2", "full_attention": "A", "attention": "A"}  # remap_legacy_layer_types


def _bamba(c: _Cfg) -> dict[str, Any]:  # BambaConfig, modeling_bamba.py (WAVE_NOTES 2.20)
    out = _attention_base(c, 128000, 4096, 32, 32, 8, 262144, 14336)
    out |= {"mlp": "gated", "activation": c.activation("hidden_act", "silu"), "mlp_bias": c.bool("mlp_bias", False),
            "positions": "rotary"}
    n = out["n_layers"]
    attn = c.list("attn_layer_indices", of=int)
    for i in attn or []:
        if not 0 <= i < n:
            raise c.fail("attn_layer_indices", f"layer {i} is not among the {n} layers")
    if not attn:
        raise c.fail("attn_layer_indices", f"{'absent' if attn is None else 'empty'}: every layer is Mamba-2 "
                                           "(transformers' default), a pure state-space model; attncalc counts "
                                           "Mamba-2 layers inside hybrids only")
    out["mixer_pattern"] = "".join("A" if i in set(attn) else "2" for i in range(n))
    out |= _mamba2(c, out["d_model"], "mamba_n_heads", ("mamba_d_head", "auto"), "mamba_n_groups",
                   ("mamba_d_state", 256), "mamba_d_conv", "mamba_chunk_size", "mamba_conv_bias")
    out["mamba_proj_bias"] = out["mamba_out_bias"] = c.bool("mamba_proj_bias", False)  # in_proj and out_proj
    return out


def _falcon_h1(c: _Cfg) -> dict[str, Any]:  # FalconH1Config, modeling_falcon_h1.py (WAVE_NOTES 2.18)
    """Every layer runs attention and a Mamba-2 mixer side by side on the same normed input ("H")."""
    out = _attention_base(c, 128000, 4096, 32, 32, 8, 8192, 14336)
    out |= {"mlp": "gated", "activation": c.activation("hidden_act", "silu"), "mlp_bias": c.bool("mlp_bias", False),
            "positions": "rotary"}
    d_ssm = c.opt_int("mamba_d_ssm", 1024)  # null: mamba_expand × hidden_size
    out |= _mamba2(c, out["d_model"], "mamba_n_heads", ("mamba_d_head", "auto"), "mamba_n_groups",
                   ("mamba_d_state", 256), "mamba_d_conv", "mamba_chunk_size", "mamba_conv_bias", d_ssm)
    out |= {"mixer_pattern": "H" * out["n_layers"], "mamba_proj_bias": c.bool("mamba_proj_bias", False),
            "mamba_out_bias": c.bool("projectors_bias", False), "mamba2_norm": c.bool("mamba_rms_norm", False)}
    return out


def _granitemoehybrid(c: _Cfg) -> dict[str, Any]:  # GraniteMoeHybridConfig, modeling_granitemoehybrid.py (2.13)
    """Each layer: Mamba-2 or attention, then the routed experts (if num_local_experts > 0) beside
    the shared MLP every layer has (``shared_mlp``: a gated MLP of shared_intermediate_size)."""
    out = _attention_base(c, 32000, 4096, 32, 32, None, 2048, 11008)
    n = out["n_layers"]
    key = "layers_block_type" if c.data.get("layers_block_type") is not None else "layer_types"
    out["mixer_pattern"] = _indices_pattern(c, key, n, LEGACY, "2")  # None: every layer Mamba (__post_init__)
    if "A" not in out["mixer_pattern"]:
        raise c.fail(key, f"{'absent' if c.data.get(key) is None else 'no attention layer'}: every layer is Mamba-2 "
                          "(transformers' default when absent), a pure state-space model; attncalc counts Mamba-2 "
                          "layers inside hybrids only")
    c.tried.update(("layer_types", "layers_block_type"))
    pet = c.str("position_embedding_type", "none")
    out |= {"mlp": "gated", "activation": c.activation("hidden_act", "silu"),
            "positions": "none" if pet in ("none", "nope") else "rotary"}
    experts, shared = c.int("num_local_experts", 8), c.int("shared_intermediate_size", 1024)
    if experts == 1:
        raise c.fail("num_local_experts", "1: a single routed expert beside the shared MLP is not modelled")
    if experts:
        out |= {"n_experts": experts, "top_k": c.int("num_experts_per_tok", 2), "d_ff_expert": out["d_ff"],
                "n_shared_experts": 1, "d_ff_shared": shared, "d_ff": shared}
    else:
        out["d_ff"] = shared  # no routed experts: the shared MLP is the layer's MLP
    out |= _mamba2(c, out["d_model"], "mamba_n_heads", ("mamba_d_head", "auto"), "mamba_n_groups",
                   ("mamba_d_state", 256), "mamba_d_conv", "mamba_chunk_size", "mamba_conv_bias")
    out["mamba_proj_bias"] = out["mamba_out_bias"] = c.bool("mamba_proj_bias", False)  # in_proj and out_proj
    return out


# Nemotron-H's block types (NemotronHConfig._pattern_to_list and its legacy names): mixer, feed-forward
NEMOTRON_BLOCKS = {"linear_attention": ("2", "-"), "mamba": ("2", "-"), "full_attention": ("A", "-"),
                   "attention": ("A", "-"), "mlp": ("-", "D"), "moe": ("-", "E")}
NEMOTRON_CHARS = {"M": "linear_attention", "*": "full_attention", "-": "mlp", "E": "moe"}


def _nemotron_blocks(c: _Cfg) -> tuple[str, list[str]]:
    """``layers_block_type`` (alias ``layer_types``), else the legacy ``hybrid_override_pattern``
    string, else NemotronHConfig's default 4-block model; its length is the layer count
    (``num_hidden_layers`` is deprecated and ignored, as transformers does)."""
    for key in ("layers_block_type", "layer_types"):
        types = c.list(key, of=str)
        if types is not None:
            bad = sorted(set(types) - set(NEMOTRON_BLOCKS))
            if bad:
                raise c.fail(key, f"block type {bad[0]!r} is not one of {', '.join(NEMOTRON_BLOCKS)}")
            if not types:
                raise c.fail(key, "no blocks")
            return key, types
    pattern = c.data.get("hybrid_override_pattern")
    c.tried.update(("hybrid_override_pattern", "num_hidden_layers"))
    if pattern is None:
        c._absent(("layers_block_type",), ["linear_attention", "moe", "full_attention", "mlp"])
        return "layers_block_type", ["linear_attention", "moe", "full_attention", "mlp"]
    if not isinstance(pattern, str) or not pattern or any(ch not in NEMOTRON_CHARS for ch in pattern):
        raise c.fail("hybrid_override_pattern", "expected a string of M (Mamba-2), * (attention), - (MLP) "
                                                "and E (MoE), one letter per block")
    return "hybrid_override_pattern", [NEMOTRON_CHARS[ch] for ch in pattern]


def _nemotron_h(c: _Cfg) -> dict[str, Any]:  # NemotronHConfig, modeling_nemotron_h.py (WAVE_NOTES 2.21)
    """Each block is one norm and ONE of: a Mamba-2 mixer, attention (no rotary embedding), a
    non-gated ReLU² MLP, or a MoE (non-gated ReLU² experts, one shared expert, a router with a
    correction-bias buffer)."""
    key, blocks = _nemotron_blocks(c)
    c.int("head_dim", 128)  # NemotronHConfig's default (read first, so `show` names it, not the shared None)
    if not any(NEMOTRON_BLOCKS[b][0] == "A" for b in blocks):
        raise c.fail(key, "no attention block: a pure state-space model; attncalc counts Mamba-2 layers inside "
                          "hybrids only")
    out = _attention_base(c, 131072, 4096, None, 32, 8, 4096, 21504)
    out |= {"n_layers": len(blocks), "d_head": c.int("head_dim", 128), "mlp": "standard",
            "activation": c.activation("mlp_hidden_act", "relu2"), "mlp_bias": c.bool("mlp_bias", False),
            "positions": "none", "block_norms": 1,
            "mixer_pattern": "".join(NEMOTRON_BLOCKS[b][0] for b in blocks),
            "ffn_pattern": "".join(NEMOTRON_BLOCKS[b][1] for b in blocks)}
    if c.data.get("moe_latent_size") is not None:
        c.refuse("moe_latent_size", why="experts on a latent projection of the hidden state (fc1/fc2_latent_proj)")
    if "E" in out["ffn_pattern"]:
        experts = c.int("n_routed_experts", 8, "num_local_experts")
        if experts < 2:
            raise c.fail("n_routed_experts", f"{experts}: a mixture of experts needs at least 2")
        out |= {"n_experts": experts, "top_k": c.int("num_experts_per_tok", 2),
                "d_ff_expert": c.int("moe_intermediate_size", 7688), "router_correction": "buffer",
                # NemotronHMoE.shared_experts: one MLP of this width (n_shared_experts does not multiply it)
                "n_shared_experts": 1, "d_ff_shared": c.int("moe_shared_expert_intermediate_size", 7688)}
    # legacy names are read as NemotronHConfig.__post_init__ renames them
    nh, hd = c.int("mamba_num_heads", 128), c.int("mamba_head_dim", 64)
    g = c.int("n_groups", 8, "mamba_n_groups")
    if nh % g:
        raise c.fail("n_groups", f"{g} groups do not divide mamba_num_heads = {nh}")
    bias = c.bool("use_bias", False)  # NemotronHMamba2Mixer: in_proj and out_proj bias=config.use_bias
    out |= {"mamba2_heads": nh, "mamba2_head_dim": hd, "mamba2_groups": g, "d_ssm": nh * hd,
            "mamba_d_state": c.int("ssm_state_size", 128), "mamba_d_conv": c.int("conv_kernel", 4, "mamba_d_conv"),
            "mamba_chunk": c.int("chunk_size", 128, "mamba_chunk_size"),
            "mamba_conv_bias": c.bool("use_conv_bias", True) if "mamba_conv_bias" not in c.data
            else c.bool("mamba_conv_bias", True), "mamba_proj_bias": bias, "mamba_out_bias": bias}
    return out


READERS_SSM: dict[str, Reader] = {
    "bamba": _bamba,
    "falcon_h1": _falcon_h1,
    "granitemoehybrid": _granitemoehybrid,
    "nemotron_h": _nemotron_h,
}
