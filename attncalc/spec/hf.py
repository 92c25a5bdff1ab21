"""Read a Hugging Face ``config.json`` (offline) into an Architecture.

Each family maps its keys to ours with the defaults of the reference implementation, i.e. the
``__init__`` defaults of ``transformers.<Family>Config`` and the module structure of
``modeling_<family>.py`` (which projections carry biases, how many norms a block has, whether the
unembedding is tied). Keys we do not need are ignored; keys we need are type-checked.
"""

from __future__ import annotations

from typing import Any, Callable

from .arch import Architecture, as_int, from_mapping
from ..errors import ConfigError
from ..errors import shown

Reader = Callable[["_Cfg"], dict[str, Any]]


class _Cfg:
    """Typed access to a config dict, with errors naming the file and key."""

    def __init__(self, data: dict[str, Any], source: str):
        self.data, self.source = data, source

    def int(self, key: str, default: int | None = None, *aliases: str) -> int | None:
        for k in (key, *aliases):
            if k in self.data and self.data[k] is not None:
                try:
                    return as_int(self.data[k])
                except ValueError as err:
                    raise ConfigError(str(err), source=self.source, field=k) from None
        return default

    def bool(self, key: str, default: bool) -> bool:
        v = self.data.get(key, default)
        if v is None:
            return default
        if not isinstance(v, bool):
            raise ConfigError(f"expected true or false, got {shown(v)}", source=self.source, field=key)
        return v

    def str(self, key: str, default: str) -> str:
        v = self.data.get(key)
        if v is None:
            return default
        if not isinstance(v, str):
            raise ConfigError(f"expected a string, got {shown(v)}", source=self.source, field=key)
        return v

    def tied(self, default: bool) -> str:
        return "tied" if self.bool("tie_word_embeddings", default) else "untied"


def _activation(name: str) -> str:
    name = name.lower()
    if "silu" in name or "swish" in name:
        return "silu"
    if "relu" in name:
        return "relu"
    return "gelu"


def _gpt2(c: _Cfg) -> dict[str, Any]:  # GPT2Config, modeling_gpt2.py (Conv1D layers all have biases)
    d = c.int("n_embd", 768)
    return dict(vocab_size=c.int("vocab_size", 50257), d_model=d, n_layers=c.int("n_layer", 12),
                n_heads=c.int("n_head", 12), d_ff=c.int("n_inner", None) or 4 * d,
                activation=_activation(c.str("activation_function", "gelu_new")),
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
                    activation=_activation(c.str("hidden_act", c.str("hidden_activation", act))),
                    qkv_bias=c.bool("attention_bias", False), out_bias=c.bool("attention_bias", False),
                    mlp_bias=c.bool("mlp_bias", False), norm="rmsnorm", positions="rotary",
                    n_ctx=c.int("max_position_embeddings", ctx), unembedding=c.tied(tied))

    return read


def _mistral(c: _Cfg) -> dict[str, Any]:
    out = _llama_like(32000, 4096, 14336, 32, 32, 8, 4096 * 32, False)(c)
    return out | {"sliding_window": c.int("sliding_window", 4096)}


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
                activation=_activation(c.str("hidden_act", "gelu_new")), qkv_bias=True, out_bias=True,
                mlp_bias=True, lm_head_bias=True, parallel_block=True, block_norms=1,
                positions="rotary", n_ctx=c.int("max_position_embeddings", 2048), unembedding=c.tied(False))


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
                d_ff=c.int("intermediate_size", 24576), activation=_activation(c.str("hidden_act", "gelu")),
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
                activation=_activation(c.str("activation_function", "relu")), qkv_bias=bias, out_bias=bias,
                mlp_bias=bias, norm_bias=bias, final_norm=final, n_ctx=ctx, n_positions=ctx + 2,
                unembedding=c.tied(True))


def _bert(c: _Cfg) -> dict[str, Any]:  # BertModel (with pooler, no MLM head)
    return dict(vocab_size=c.int("vocab_size", 30522), d_model=c.int("hidden_size", 768),
                n_layers=c.int("num_hidden_layers", 12), n_heads=c.int("num_attention_heads", 12),
                d_ff=c.int("intermediate_size", 3072), activation=_activation(c.str("hidden_act", "gelu")),
                qkv_bias=True, out_bias=True, mlp_bias=True, final_norm=False, embedding_norm=True,
                n_ctx=c.int("max_position_embeddings", 512), token_types=c.int("type_vocab_size", 2),
                pooler=True, unembedding="none", causal=False)


READERS: dict[str, Reader] = {
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
}


def from_hf_config(data: dict[str, Any], source: str, default_name: str) -> Architecture:
    model_type = data.get("model_type")
    if model_type is None:
        raise ConfigError(
            f"no model_type: not a Hugging Face config.json (supported: {', '.join(READERS)})",
            source=source, field="model_type")
    if not isinstance(model_type, str) or model_type not in READERS:
        raise ConfigError(f"unsupported model_type {shown(model_type)}; supported: {', '.join(READERS)}; "
                          "for another architecture write a TOML by hand: `attncalc init NAME` "
                          "(or `attncalc init NAME --from llama-2-7b` to start from a close one)",
                          source=source, field="model_type")
    fields = READERS[model_type](_Cfg(data, source))
    name = data.get("_name_or_path")
    name = name if isinstance(name, str) and name.strip() else default_name
    fields |= {"name": name.rstrip("/").rsplit("/", 1)[-1][:256] or default_name or "model",
               "family": model_type, "source": f"Hugging Face config.json ({source})"}
    return from_mapping(fields, source=source)
