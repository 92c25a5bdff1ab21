"""Typed access to a Hugging Face ``config.json`` (``_Cfg``: errors name the file and key) and the
helpers every reader shares: the activation's name, a per-layer list of attention kinds read as
"every k-th layer full". hf.py's readers and each ``readers_<group>.py`` module import these from
here, so that hf.py can register those modules' readers without an import cycle."""

from __future__ import annotations

from typing import Any, Callable

from .arch import as_int
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

    def opt_int(self, key: str, default: int | None) -> int | None:
        """Like ``int``, but a key present with null means "none" (a window, a rank), not the default."""
        if key in self.data and self.data[key] is None:
            return None
        return self.int(key, default)

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

    def list(self, key: str) -> list | None:
        v = self.data.get(key)
        if v is None:
            return None
        if not isinstance(v, list):
            raise ConfigError(f"expected a list, got {v!r}", source=self.source, field=key)
        return v

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(problem, source=self.source, field=key)

    def refuse(self, key: str, value: Any = None, why: str = "") -> None:
        """A key that changes the architecture in a way attncalc does not model: refused, named."""
        if key in self.data and self.data[key] not in (None, False, [], 0, value):
            raise self.fail(key, f"{self.data[key]!r} changes the architecture in a way attncalc does not model"
                                 + (f" ({why})" if why else "") + "; remove the key to count the model without it, "
                                 "or describe it in a TOML file (`attncalc init NAME`)")


def _activation(name: str) -> str:
    name = name.lower()
    if "silu" in name or "swish" in name:
        return "silu"
    if "relu" in name:
        return "relu"
    return "gelu"


def _every_kth_full(c: _Cfg, key: str, local: str, n_layers: int, shown_as: str | None = None) -> int | None:
    """A per-layer list of attention kinds as the period k of 'every k-th layer is full'
    (layers k-1, 2k-1, ...), as Gemma 2/3, gpt-oss and Llama 4 lay them out; else refused."""
    types = c.list(key)
    key = shown_as or key  # the key the user wrote (Llama 4's no_rope_layers become layer kinds here)
    if types is None:
        return None
    if len(types) != n_layers:
        raise c.fail(key, f"has {len(types)} entries for {n_layers} layers")
    full = [i for i, t in enumerate(types) if t == "full_attention"]
    others = {t for t in types if t != "full_attention"}
    if others - {local}:
        raise c.fail(key, f"layer kinds {sorted(others - {local})} are not modelled (known: full_attention, {local})")
    if not others:
        return None  # every layer full
    if not full:
        return 0  # every layer local (see callers)
    k = full[0] + 1
    if full != list(range(k - 1, n_layers, k)):
        raise c.fail(key, "not a repeating pattern of local layers with every k-th layer full; not modelled")
    return k
