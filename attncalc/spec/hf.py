"""Read a Hugging Face ``config.json`` (offline) into an Architecture.

Each family maps its keys to ours with the defaults of the reference implementation, i.e. the
``__init__`` defaults of ``transformers.<Family>Config`` and the module structure of
``modeling_<family>.py`` (which projections carry biases, how many norms a block has, whether the
unembedding is tied). Keys we do not need are ignored; keys we need are type-checked.
"""

from __future__ import annotations

from typing import Any

from .arch import Architecture, from_mapping
from ..errors import ConfigError
from ..errors import shown
# typed access to a config dict, and helpers the readers share (hf_read.py, imported by every
# readers_<group>.py module too, so none of them imports this one back)
from .hf_read import ACTIVATIONS, Reader, _activation, _Cfg, _default_text, _every_kth_full  # noqa: F401
# the readers, one module per group of families (each imports hf_read, never this module)
from .readers_classic import READERS_CLASSIC, _pure_ssm
from .readers_dense import READERS_DENSE
from .readers_linear import READERS_LINEAR
from .readers_special import READERS_SPECIAL, WRAPPERS_SPECIAL
from .readers_ssm import READERS_SSM

READERS: dict[str, Reader] = {**READERS_CLASSIC, **READERS_DENSE, **READERS_SPECIAL, **READERS_SSM,
                              **READERS_LINEAR}
REFUSED = {"mamba": _pure_ssm, "mamba2": _pure_ssm, "falcon_mamba": _pure_ssm}
# Multimodal wrappers: their language model is read from text_config and counted alone; the vision
# tower and projector are named in the notes as not counted.
WRAPPERS = {"gemma3": "gemma3_text", "llama4": "llama4_text", "mistral3": "mistral", **WRAPPERS_SPECIAL}
# The text_config a wrapper builds when the file has none (Mistral3Config's is Mistral Small 3.1's;
# Gemma3Config and Llama4Config use their text config's own defaults).
WRAPPER_TEXT_DEFAULTS = {
    "mistral3": {"hidden_size": 5120, "intermediate_size": 32768, "num_hidden_layers": 40, "num_attention_heads": 32,
                 "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 131072, "max_position_embeddings": 131072,
                 "sliding_window": None},
}


def from_hf_config(data: dict[str, Any], source: str, default_name: str) -> Architecture:
    model_type = data.get("model_type")
    if model_type is None:
        raise ConfigError(
            f"no model_type: not a Hugging Face config.json (supported: {', '.join(supported())})",
            source=source, field="model_type")
    notes = ""
    if isinstance(model_type, str) and model_type in WRAPPERS:
        text = data.get("text_config", WRAPPER_TEXT_DEFAULTS.get(model_type, {}))  # absent: the wrapper's default
        if not isinstance(text, dict):
            raise ConfigError("expected a text_config object (the language model's config)", source=source,
                              field="text_config")
        inner = text.get("model_type") or WRAPPERS[model_type]
        if not isinstance(inner, str) or inner not in READERS:
            raise ConfigError(f"unsupported model_type {shown(inner)}", source=source, field="text_config.model_type")
        extra = [k for k in ("vision_config", "audio_config") if k in data]
        notes = (f"The language model of a {model_type} checkpoint (text_config)"
                 + (f"; its {' and '.join(extra)} tower and projector are not counted." if extra else "."))
        family, data, model_type = model_type, {**text, "_name_or_path": data.get("_name_or_path")}, inner
    else:
        family = model_type
    if isinstance(model_type, str) and model_type in REFUSED:
        REFUSED[model_type](_Cfg(data, source))
    if not isinstance(model_type, str) or model_type not in READERS:
        raise ConfigError(f"unsupported model_type {shown(model_type)}; supported: {', '.join(supported())}; "
                          "for another architecture write a TOML by hand: `attncalc init NAME` "
                          "(or `attncalc init NAME --from llama-2-7b` to start from a close one)",
                          source=source, field="model_type")
    cfg = _Cfg(data, source)
    refuse_unmodelled(cfg, model_type)
    fields = READERS[model_type](cfg)
    cfg.tried.update(IGNORED)
    name = data.get("_name_or_path")
    name = name if isinstance(name, str) and name.strip() else default_name
    fields |= {"name": name.rstrip("/").rsplit("/", 1)[-1][:256] or default_name or "model", "family": family,
               "source": f"Hugging Face config.json ({source})",
               "notes": " ".join(x for x in (notes, fields.get("notes", "")) if x)}  # the wrapper's, then the reader's
    return from_mapping(fields, source=source).replace(_read=cfg.assumptions())


# Keys every config.json may hold that no reader needs (never taken for a mistyped one).
IGNORED = ("model_type", "text_config", "architectures", "torch_dtype", "transformers_version", "_name_or_path")


def supported() -> list[str]:
    return sorted(READERS) + sorted(WRAPPERS)


# Keys that change the parameter or FLOP count in ways attncalc does not model, per model type
# (None: every type). A key set to anything but its neutral value is refused, named.
UNMODELLED: dict[str, tuple[str | None, str]] = {
    "add_cross_attention": (None, "cross-attention to an encoder in every block"),
    "is_encoder_decoder": ("__not_t5__", "an encoder-decoder model"),
    "word_embed_proj_dim": ("__never__", ""),  # checked by the OPT reader itself
    "vision_config": (None, "a vision tower"),
    "audio_config": (None, "an audio tower"),
    "mlp_only_layers": ("__never__", ""),  # checked by the MoE readers
}


def refuse_unmodelled(c: _Cfg, model_type: str) -> None:
    for key, (only, why) in UNMODELLED.items():
        if only in (None, model_type) or (only == "__not_t5__" and model_type != "t5"):
            c.refuse(key, why=why)

