"""config.json readers for the dense and mixture-of-experts types of the 2026 wave (issue 20):
glm4_moe, glm4, minimax_m2, ernie4_5, ernie4_5_moe, hunyuan_v1_dense, hunyuan_v1_moe, smollm3,
seed_oss, dots1, granite, phimoe, cohere, cohere2, exaone4, apertus, arcee and olmo3.

Each reader follows transformers 5.24: the defaults are the dataclass fields of
``transformers.<Type>Config`` (``configuration_<type>.py``), the shapes are what
``modeling_<type>.py`` builds from them (tests/golden/WAVE_NOTES.md, section 2, describes every
type; golden_wave.json holds what transformers built). Where the published file leaves a key out,
the default is taken and recorded (``attncalc show`` lists it, the CLI notes it). What transformers builds
differently from the published checkpoint (MTP modules it does not build, per-layer lists it does
not read) is said in the notes too; what attncalc cannot describe exactly is refused, named.
"""

from __future__ import annotations

from typing import Any

from .hf_read import _every_kth_full
from .hf_wave import _base, _biases, _experts, _mtp_note, _partial_rotary, _period, _Read, make_readers
from .hf_wave import MISSING, _act, _head_dim, _kv_heads  # noqa: F401  (read from here by other reader modules)

# --- the readers ---------------------------------------------------------------------------------


def _glm4_moe(c: _Read) -> dict[str, Any]:  # Glm4MoeConfig, modeling_glm4_moe.py (WAVE_NOTES 2.1)
    out = _base(c, 151552, 4096, 10944, 46, 96, 8, 131072, False)
    out |= _biases(c, out=False)  # Glm4MoeAttention: o_proj never biased; the MLPs never
    experts = _experts(c, c.int("n_routed_experts", 128), "n_routed_experts")
    shared = c.int("n_shared_experts", 1)
    inter = c.int("moe_intermediate_size", 1408)
    out |= {"qk_norm": "head" if c.bool("use_qk_norm", False) else "none", "n_experts": experts,
            "top_k": c.int("num_experts_per_tok", 8), "d_ff_expert": inter,
            "first_dense_layers": c.int("first_k_dense_replace", 1),
            # Glm4MoeMoE: one shared MLP of moe_intermediate_size x n_shared_experts
            "n_shared_experts": 1 if shared else 0, "d_ff_shared": shared * inter if shared else None,
            "router_correction": "buffer"}
    _partial_rotary(c, 0.5)
    _mtp_note(c, "num_nextn_predict_layers", "num_mtp_layers")
    return out


def _glm4(c: _Read) -> dict[str, Any]:  # Glm4Config, modeling_glm4.py (2.2): four norms, fused gate_up
    out = _base(c, 151552, 4096, 13696, 40, 32, 2, 131072, False, head_dim=128)
    out |= _biases(c, default=True, out=False) | {"block_norms": 4}
    _partial_rotary(c, 0.5)
    c.note("Glm4MLP fuses gate and up into one gate_up_proj (2 d_ff x d_model): the same parameters and FLOPs as "
           "the two matrices here; a LoRA on it targets the fused module.")
    return out


def _minimax_m2(c: _Read) -> dict[str, Any]:  # MiniMaxM2Config, modeling_minimax_m2.py (2.4)
    out = _base(c, 200064, 3072, 1536, 62, 48, 8, 196608, False, head_dim=128)
    types = c.list("attn_type_list", of=int)
    if types and any(t != 1 for t in types):
        raise c.fail("attn_type_list", "linear-attention layers (0 entries): transformers 5.24's MiniMaxM2 builds "
                                       "every layer with full attention, so the checkpoint's layers are not modelled")
    if c.int("shared_intermediate_size", 0):
        raise c.fail("shared_intermediate_size", "a shared expert, which transformers 5.24's MiniMaxM2 does not build; "
                                                 "not modelled")
    # every layer MoE; intermediate_size is the width of one routed expert; q_norm / k_norm over all heads
    out |= {"qkv_bias": False, "out_bias": False, "mlp_bias": False, "qk_norm": "full",
            "n_experts": _experts(c, c.int("num_local_experts", 256), "num_local_experts"),
            "top_k": c.int("num_experts_per_tok", 8), "d_ff_expert": out["d_ff"], "router_correction": "buffer"}
    if c.raw("use_qk_norm") is False:
        c.note("use_qk_norm false is not read by transformers 5.24: its MiniMaxM2Attention always has q_norm and "
               "k_norm, counted here.")
    if c.raw("rotary_dim") is not None and c.int("rotary_dim") != out["d_head"]:
        c.note(f"rotary_dim {c.int('rotary_dim')} of head_dim {out['d_head']}: partial rotary positions (no "
               "parameters or FLOPs change).")
    _mtp_note(c, "use_mtp", "num_mtp_modules")
    return out


def _ernie4_5(c: _Read) -> dict[str, Any]:  # Ernie4_5Config, modeling_ernie4_5.py (2.5)
    out = _base(c, 103424, 1024, 3072, 18, 16, 2, 131072, True, head_dim=128)
    # use_bias: q/k/v/o and gate/up/down; Ernie4_5ForCausalLM's lm_head has none (modeling_ernie4_5.py)
    return out | _biases(c, key="use_bias", mlp="use_bias")


def _ernie4_5_moe(c: _Read) -> dict[str, Any]:  # Ernie4_5_MoeConfig, modeling_ernie4_5_moe.py (2.6)
    out = _base(c, 103424, 2560, 12288, 28, 20, 4, 131072, True)
    bias = c.bool("use_bias", False)
    if bias:
        c.refuse("use_bias", why="biases on the dense and shared MLPs but not on the routed experts")
    n = out["n_layers"]
    experts = _experts(c, c.int("moe_num_experts", 64, "num_experts"), "moe_num_experts")
    top_k = c.int("moe_k", 6, "num_experts_per_tok")
    inter = c.int("moe_intermediate_size", 1536)
    shared = c.int("moe_num_shared_experts", 2)
    start = c.int("moe_layer_start_index", 1)
    end = c.int("moe_layer_end_index", -1)
    end = n - 1 if end == -1 else end  # Ernie4_5_MoeConfig.__post_init__
    every = c.step("moe_layer_interval")
    # Ernie4_5_MoeDecoderLayer: MoE iff (i + 1) % interval == 0 and start <= i <= end
    lo, hi = max(start, 0), min(end, n - 1)
    first = lo + (every - 1 - lo) % every  # the first layer from lo on with (i + 1) % every == 0
    if first > hi:
        c.note("No layer falls in moe_layer_start_index..moe_layer_end_index at this moe_layer_interval: every "
               "layer is dense.")
        return out
    return out | {"n_experts": experts, "top_k": top_k, "d_ff_expert": inter, "moe_every": every,
                  "moe_offset": every - 1, "first_dense_layers": lo, "last_dense_layers": n - 1 - hi,
                  "n_shared_experts": 1 if shared else 0, "d_ff_shared": shared * inter if shared else None,
                  "router_correction": "parameter"}


def _hunyuan_attention(c: _Read, out: dict[str, Any]) -> dict[str, Any]:
    """HunYuan V1 (dense and MoE): q/k/v/o biased by attention_bias; query_layernorm and
    key_layernorm over head_dim always (the published use_qk_norm is not read); no MLP bias."""
    if c.raw("head_dim") is None:
        alt = c.raw("attention_head_dim")
        raise c.fail("head_dim", "required: transformers 5.24's HunYuan V1 attention reads head_dim (default None, "
                                 "which does not build)" + (f"; this file's attention_head_dim is {alt!r}, which "
                                                             "transformers does not read" if alt is not None else ""))
    if c.bool("use_cla", False):
        c.refuse("use_cla", why="cross-layer key/value sharing, which transformers 5.24 does not build")
    return out | _biases(c) | {"qk_norm": "head"}


def _hunyuan_dense(c: _Read) -> dict[str, Any]:  # HunYuanDenseV1Config, modeling_hunyuan_v1_dense.py (2.7)
    return _hunyuan_attention(c, _base(c, 290943, 4096, 11008, 32, 32, None, 2048, False, head_dim=None))


def _uniform(c: _Read, key: str, value: Any, n_layers: int) -> Any:
    if isinstance(value, list):
        if len(value) != n_layers:
            raise c.fail(key, f"has {len(value)} entries for {n_layers} layers")
        if len(set(map(repr, value))) != 1:
            raise c.fail(key, "differs from layer to layer: not modelled")
        return value[0]
    return value


def _hunyuan_moe(c: _Read) -> dict[str, Any]:  # HunYuanMoEV1Config, modeling_hunyuan_v1_moe.py (2.8)
    out = _hunyuan_attention(c, _base(c, 290943, 4096, 11008, 32, 32, None, 2048, False, head_dim=None))
    n, inter = out["n_layers"], out["d_ff"]
    if isinstance(c.raw("num_experts"), list):
        raise c.fail("num_experts", "a per-layer list: transformers 5.24's HunYuanMoEV1Experts cannot be built from it")
    experts = _experts(c, c.int("num_experts", 1, "num_local_experts"), "num_experts")
    raw_k = c.raw("moe_topk", c.raw("num_experts_per_tok"))
    if isinstance(raw_k, list):  # HunYuanMoEV1Gate indexes a per-layer list by layer
        top_k = c.derive({"moe_topk": _uniform(c, "moe_topk", raw_k, n)}).int("moe_topk")
    else:
        top_k = c.int("moe_topk", 1, "num_experts_per_tok")
    # HunYuanMoEV1Moe: every layer routed experts of intermediate_size and one shared_mlp of intermediate_size
    out |= {"n_experts": experts, "top_k": top_k, "d_ff_expert": inter, "n_shared_experts": 1, "d_ff_shared": inter}
    checkpoint: list[str] = []
    widths, shared = c.raw("moe_intermediate_size"), c.raw("num_shared_expert")
    if widths is not None:
        w = _uniform(c, "moe_intermediate_size", widths, n)
        if w != inter:
            checkpoint.append(f"routed experts {w} wide (moe_intermediate_size)")
    if shared is not None:
        s = _uniform(c, "num_shared_expert", shared, n)
        if s != 1:
            checkpoint.append(f"{s} shared experts (num_shared_expert)")
    if c.raw("use_mixed_mlp_moe") is False:
        checkpoint.append("no shared MLP (use_mixed_mlp_moe false)")
    if checkpoint:
        c.note("Counted as transformers 5.24 builds it (experts and shared MLP of intermediate_size); the published "
               "file describes " + ", ".join(checkpoint) + ", which transformers ignores: the checkpoint's count differs.")
    elif widths is not None or shared is not None:
        c.note("The published per-layer moe_intermediate_size / num_shared_expert lists, which transformers 5.24 does "
               "not read, agree with what it builds (experts and one shared MLP of intermediate_size): the count is "
               "the checkpoint's.")
    return out


def _smollm3(c: _Read) -> dict[str, Any]:  # SmolLM3Config, modeling_smollm3.py (2.9)
    out = _base(c, 128256, 2048, 11008, 36, 16, 4, 32768, True)
    out |= _biases(c, mlp="mlp_bias")
    n = out["n_layers"]
    types = c.list("layer_types", of=str)
    if types is not None and _period(c, "layer_types", types, n, "sliding_attention") is not None:
        raise c.fail("layer_types", "sliding layers in SmolLM3 (the NoPE layers) are not modelled")
    if types is None and c.bool("use_sliding_window", False) and c.raw("sliding_window") is not None:
        c.refuse("use_sliding_window", why="sliding windows on the NoPE layers, the others full")
    flags = c.list("no_rope_layers", of=int)
    if flags is not None:  # 1: rotary, 0: NoPE
        k = _period(c, "no_rope_layers", flags, n, 0)
        if any(f not in (0, 1) for f in flags):
            raise c.fail("no_rope_layers", "expected 0 (no rotary) or 1 (rotary) per layer")
    else:
        k = c.step("no_rope_layer_interval", 4)
    if k == 1:
        return out | {"positions": "none"}
    return out | {"no_rope_every": k if k and k <= n else None}


def _seed_oss(c: _Read) -> dict[str, Any]:  # SeedOssConfig, modeling_seed_oss.py (2.10)
    out = _base(c, 155136, 4096, 27648, 64, 80, 8, 524288, False, head_dim=128)
    return out | _biases(c, default=True, out=c.bool("attention_out_bias", False), mlp="mlp_bias")


def _dots1(c: _Read) -> dict[str, Any]:  # Dots1Config, modeling_dots1.py (2.11)
    out = _base(c, 152064, 4608, 10944, 62, 32, 32, 2048, False)
    n = out["n_layers"]
    experts = _experts(c, c.positive("n_routed_experts", None), "n_routed_experts")
    top_k = c.positive("num_experts_per_tok", None)
    shared = c.positive("n_shared_experts", None, what=" (moe_intermediate_size x None)")
    inter = c.int("moe_intermediate_size", 1408)
    out |= _biases(c) | {"qk_norm": "head", "n_experts": experts, "top_k": top_k, "d_ff_expert": inter,
                         "first_dense_layers": c.int("first_k_dense_replace", 0),
                         "n_shared_experts": 1 if shared else 0, "d_ff_shared": shared * inter if shared else None,
                         "router_correction": "buffer"}
    window = c.opt_int("sliding_window", 4096)
    types = c.list("layer_types", of=str)
    if types is None:  # Dots1Config.__post_init__: sliding from max_window_layers on, when a window is set
        first = c.int("max_window_layers", 62)
        types = ["sliding_attention" if window is not None and i >= first else "full_attention" for i in range(n)]
        key = "max_window_layers"
    else:
        key = "layer_types"
    sliding = [t == "sliding_attention" for t in types]
    if len(types) != n:
        raise c.fail(key, f"has {len(types)} entries for {n} layers")
    if any(sliding) and (not all(sliding) or window is None):
        raise c.fail(key, "some layers sliding and others full, in this order: not modelled")
    return out | {"sliding_window": window if all(sliding) else None}


def _granite(c: _Read) -> dict[str, Any]:  # GraniteConfig, modeling_granite.py (2.12)
    out = _base(c, 32000, 4096, 11008, 32, 32, None, 2048, False)
    mult = {k: c.raw(k) for k in ("embedding_multiplier", "residual_multiplier", "attention_multiplier",
                                  "logits_scaling") if c.raw(k) not in (None, 1, 1.0)}
    if mult:
        c.note("Granite's scalar multipliers (" + ", ".join(f"{k} {v}" for k, v in mult.items()) + ") scale "
               "activations: no parameters, and no FLOPs that change a count here.")
    return out | _biases(c, mlp="mlp_bias")


def _phimoe(c: _Read) -> dict[str, Any]:  # PhimoeConfig, modeling_phimoe.py (2.14)
    out = _base(c, 32064, 4096, 6400, 32, 32, 8, 131072, False)
    # every layer MoE (experts of intermediate_size), nn.Linear router without bias; LayerNorms with bias
    return out | _biases(c) | {
        "norm": "layernorm", "norm_bias": True, "lm_head_bias": c.bool("lm_head_bias", False),
        "n_experts": _experts(c, c.int("num_local_experts", 16), "num_local_experts"),
        "top_k": c.int("num_experts_per_tok", 2), "d_ff_expert": out["d_ff"],
        "sliding_window": c.opt_int("sliding_window", None)}


def _cohere_common(c: _Read, out: dict[str, Any]) -> dict[str, Any]:
    """Cohere / Cohere 2: a parallel block (x + attn(LN(x)) + mlp(LN(x)), one input_layernorm),
    LayerNorm with a weight and no bias (CohereLayerNorm), no MLP biases."""
    return out | _biases(c) | {"norm": "layernorm", "norm_bias": False, "parallel_block": True, "block_norms": 1}


def _cohere(c: _Read) -> dict[str, Any]:  # CohereConfig, modeling_cohere.py (2.15)
    out = _cohere_common(c, _base(c, 256000, 8192, 22528, 40, 64, None, 8192, True))
    # use_qk_norm: CohereLayerNorm((n_heads, d_head)) and ((n_kv_heads, d_head)): a weight per head
    return out | {"qk_norm": "full" if c.bool("use_qk_norm", False) else "none"}


def _no_window(c: _Read, types: list, n: int) -> None:
    """sliding_window null while some layer is a sliding one: transformers 5.24 builds the model but
    its forward fails making the sliding mask (TypeError on None), so it is not counted."""
    if "sliding_attention" in types:
        raise c.fail("sliding_window", "null while layers are sliding_attention: transformers 5.24 cannot run that "
                                       "model (its sliding mask needs a window); give a window or full layer_types")


def _cohere2(c: _Read) -> dict[str, Any]:  # Cohere2Config, modeling_cohere2.py (2.16)
    out = _cohere_common(c, _base(c, 256000, 8192, 22528, 40, 64, None, 8192, True))
    # Cohere2Config.__post_init__ sets head_dim = hidden_size // num_attention_heads, but a head_dim in
    # the file is a kwarg set after it (super().__post_init__(**kwargs)): the file's wins, as with a
    # type without the field (checked against transformers 5.24: head_dim 98 at hidden 64, 4 heads)
    n = out["n_layers"]
    window = c.opt_int("sliding_window", 4096)
    types = c.list("layer_types", of=str)
    if types is None:
        k = c.step("sliding_window_pattern", 4)
        types = ["sliding_attention" if (i + 1) % k else "full_attention" for i in range(n)]
    if window is None:
        _no_window(c, types, n)
    k = _every_kth_full(c.kinds(types), "layer_types", "sliding_attention", n)
    # Cohere2Attention applies RoPE only on sliding layers: the full-attention layers are NoPE
    if k is None:  # every layer full: no rotary anywhere
        return out | {"positions": "none"}
    return out | {"sliding_window": window, "sliding_window_pattern": k or None, "no_rope_every": k or None}


def _exaone4(c: _Read) -> dict[str, Any]:  # Exaone4Config, modeling_exaone4.py (2.17): post-norm
    out = _base(c, 102400, 4096, 16384, 32, 32, 32, 2048, False)
    out |= {"qkv_bias": False, "out_bias": False, "mlp_bias": False, "qk_norm": "head"}
    c.note("Post-norm blocks (post_attention_layernorm, post_feedforward_layernorm after each sublayer): the same "
           "two norms a block as pre-norm, counted the same.")
    n = out["n_layers"]
    window = c.opt_int("sliding_window", 4096)
    types = c.list("layer_types", of=str)
    if types is None:
        if window is None:
            raise c.fail("sliding_window", "null without layer_types: Exaone4Config's default pattern divides by "
                                           "sliding_window_pattern 0 and does not build; give layer_types")
        k = c.raw("sliding_window_pattern", 4)
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise c.fail("sliding_window_pattern", f"{k!r} without layer_types: Exaone4Config's default pattern needs "
                                                   "a positive integer; give layer_types")
        types = ["sliding_attention" if (i + 1) % k else "full_attention" for i in range(n)]
    if window is None:  # Exaone4Attention: no window anywhere, RoPE everywhere (full layer_types only)
        _no_window(c, types, n)
        return out
    k = _every_kth_full(c.kinds(types), "layer_types", "sliding_attention", n)
    # Exaone4Attention applies RoPE only on sliding layers when a window exists ("global NoPE")
    if k is None:
        return out | {"positions": "none"}
    return out | {"sliding_window": window, "sliding_window_pattern": k or None, "no_rope_every": k or None}


def _apertus(c: _Read) -> dict[str, Any]:  # ApertusConfig, modeling_apertus.py (2.22)
    out = _base(c, 131072, 4096, 14336, 32, 32, None, 65536, False, act="xielu")
    for key in ("qk_norm", "post_norm"):
        if c.raw(key) is not None:
            c.note(f"The file's {key} {c.raw(key)!r} is not read by transformers 5.24: ApertusAttention always "
                   "has q_norm and k_norm, and its blocks are pre-norm.")
            break
    # non-gated MLP (up, down), no MLP biases; q_norm / k_norm over head_dim
    return out | _biases(c) | {"mlp": "standard", "qk_norm": "head"}


def _arcee(c: _Read) -> dict[str, Any]:  # ArceeConfig, modeling_arcee.py (2.23): non-gated ReLU^2 MLP
    out = _base(c, 32000, 2560, 18432, 32, 32, None, 4096, False, head_dim=None, act="relu2")
    return out | _biases(c, mlp="mlp_bias") | {"mlp": "standard"}


def _olmo3(c: _Read) -> dict[str, Any]:  # Olmo3Config, modeling_olmo3.py (2.24): post-norm, q/k norms over all heads
    out = _base(c, 50304, 4096, 11008, 32, 32, None, 2048, False)
    out |= _biases(c) | {"mlp_bias": False, "qk_norm": "full"}
    c.note("Post-norm blocks (post_attention_layernorm, post_feedforward_layernorm after each sublayer): the same "
           "two norms a block as pre-norm, counted the same.")
    window = c.opt_int("sliding_window", 4096)
    n = out["n_layers"]
    types = c.list("layer_types", of=str) or ["sliding_attention" if (i + 1) % 4 else "full_attention" for i in range(n)]
    if window is None:
        _no_window(c, types, n)
    k = _every_kth_full(c.kinds(types), "layer_types", "sliding_attention", n)
    if k is None:
        return out
    return out | {"sliding_window": window, "sliding_window_pattern": k or None}


_READ = {"glm4_moe": _glm4_moe, "glm4": _glm4, "minimax_m2": _minimax_m2, "ernie4_5": _ernie4_5,
         "ernie4_5_moe": _ernie4_5_moe, "hunyuan_v1_dense": _hunyuan_dense, "hunyuan_v1_moe": _hunyuan_moe,
         "smollm3": _smollm3, "seed_oss": _seed_oss, "dots1": _dots1, "granite": _granite, "phimoe": _phimoe,
         "cohere": _cohere, "cohere2": _cohere2, "exaone4": _exaone4, "apertus": _apertus, "arcee": _arcee,
         "olmo3": _olmo3}


READERS_DENSE = make_readers(_READ)
