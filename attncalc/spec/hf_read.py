"""Typed access to a Hugging Face ``config.json`` (``_Cfg``: errors name the file and key, and it
remembers the defaults it answered with) and the helpers every reader shares: the activation's
name, a per-layer list of attention kinds read as "every k-th layer full". hf.py's readers and each
``readers_<group>.py`` module import these from here, so that hf.py can register those modules'
readers without an import cycle."""

from __future__ import annotations

import difflib
from typing import Any, Callable

from .arch import as_int
from ..errors import ConfigError
from ..errors import shown

Reader = Callable[["_Cfg"], dict[str, Any]]


class _Cfg:
    """Typed access to a config dict, with errors naming the file and key. It remembers the keys it
    was asked for and the defaults it answered with (``assumptions``), so a mistyped key
    (``num_key_value_head``) is named instead of silently read as the default."""

    def __init__(self, data: dict[str, Any], source: str, tried: set | None = None,
                 defaults: dict | None = None):
        self.data, self.source = data, source
        self.tried: set[str] = set() if tried is None else tried  # every key a reader asked for
        self.defaults: dict[str, Any] = {} if defaults is None else defaults  # absent key -> default used

    def derive(self, data: dict[str, Any]) -> "_Cfg":
        """The same file seen with other data (a reader's rewritten keys), sharing what was read."""
        return _Cfg(data, self.source, self.tried, self.defaults)

    def _absent(self, keys: tuple, default: Any) -> Any:
        self.tried.update(keys)
        if not any(k in self.data for k in keys):
            self.defaults.setdefault(keys[0], default)
        return default

    def int(self, key: str, default: int | None = None, *aliases: str) -> int | None:
        for k in (key, *aliases):
            self.tried.add(k)
            if k in self.data and self.data[k] is not None:
                try:
                    return as_int(self.data[k])
                except ValueError as err:
                    raise ConfigError(str(err), source=self.source, field=k) from None
        return self._absent((key, *aliases), default)

    def opt_int(self, key: str, default: int | None) -> int | None:
        """Like ``int``, but a key present with null means "none" (a window, a rank), not the default."""
        if key in self.data and self.data[key] is None:
            self.tried.add(key)
            return None
        return self.int(key, default)

    def bool(self, key: str, default: bool) -> bool:
        v = self.data.get(key)
        if v is None:
            return self._absent((key,), default)
        self.tried.add(key)
        if not isinstance(v, bool):
            raise ConfigError(f"expected true or false, got {shown(v)}", source=self.source, field=key)
        return v

    def str(self, key: str, default: str) -> str:
        v = self.data.get(key)
        if v is None:
            return self._absent((key,), default)
        self.tried.add(key)
        if not isinstance(v, str):
            raise ConfigError(f"expected a string, got {shown(v)}", source=self.source, field=key)
        return v

    def activation(self, key: str, default: str, *aliases: str) -> str:
        """An activation function's name (ACT2FN's, as transformers spells it) as one of ours."""
        for k in (key, *aliases):
            if self.data.get(k) is not None:
                self.tried.update((key, *aliases))
                return _activation(self.str(k, default), self, k)
        return _activation(self._absent((key, *aliases), default), self, key)

    def assumptions(self) -> tuple:
        """("default", file, key, value text) for each absent key read with its default, and ("close",
        file, key, text) for each key of the file no reader used that is close to a key read by default."""
        out: list[tuple[str, str, str, str]] = []
        for k, v in self.defaults.items():
            out.append(("default", self.source, k, _default_text(v)))
        absent = list(self.defaults)
        for k in self.data:
            if k in self.tried or not isinstance(k, str) or k.startswith("_"):
                continue
            close = difflib.get_close_matches(k, absent, n=1, cutoff=0.8)
            if close:
                out.append(("close", self.source, k, f"not a key the {self.data.get('model_type', 'model')} reader uses; "
                                        f"did you mean {close[0]}? (absent: its default "
                                        f"{_default_text(self.defaults[close[0]])} was used)"))
        return tuple(out)

    def tied(self, default: bool) -> str:
        return "tied" if self.bool("tie_word_embeddings", default) else "untied"

    def list(self, key: str, of: type | None = None) -> list | None:
        """A list (None when absent); ``of``: every entry must be of that type (int: an integer,
        not a boolean), else one line naming the entry."""
        self.tried.add(key)
        v = self.data.get(key)
        if v is None:
            return None
        if not isinstance(v, list):
            raise ConfigError(f"expected a list, got {shown(v)}", source=self.source, field=key)
        if of is not None:
            for i, x in enumerate(v):
                if isinstance(x, bool) or not isinstance(x, of):
                    what = "an integer" if of is int else "a string" if of is str else of.__name__
                    raise ConfigError(f"entry {i} is {shown(x)}, expected {what}", source=self.source, field=key)
        return v

    def step(self, key: str, default: int = 1) -> int:
        """A layer period ("every k-th layer"): a positive integer."""
        k = self.int(key, default)
        if k is None or k < 1:
            raise ConfigError(f"must be a positive integer (every k-th layer), got {shown(k)}",
                              source=self.source, field=key)
        return k

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(problem, source=self.source, field=key)

    def refuse(self, key: str, value: Any = None, why: str = "") -> None:
        """A key that changes the architecture in a way attncalc does not model: refused, named."""
        if key in self.data and self.data[key] not in (None, False, [], 0, value):
            raise self.fail(key, f"{self.data[key]!r} changes the architecture in a way attncalc does not model"
                                 + (f" ({why})" if why else "") + "; remove the key to count the model without it, "
                                 "or describe it in a TOML file (`attncalc init NAME`)")


def _default_text(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return f"{v:,}"
    return shown(v)


# transformers' ACT2FN names (activations.py) -> the activation whose element-wise cost we count.
ACTIVATIONS = {
    "silu": "silu", "swish": "silu",
    "relu": "relu", "relu6": "relu", "leaky_relu": "relu",
    "gelu": "gelu", "gelu_new": "gelu", "gelu_fast": "gelu", "gelu_pytorch_tanh": "gelu", "gelu_python": "gelu",
    "gelu_accurate": "gelu", "gelu_10": "gelu", "quick_gelu": "gelu", "gelu_tanh": "gelu",
    # issue 20: ReLU squared (ReLUSquaredActivation) and xIELU (XIELUActivation, two learned scalars)
    "relu2": "relu2", "xielu": "xielu",
}


def _activation(name: str, c: "_Cfg | None" = None, key: str = "hidden_act") -> str:
    """One of ours for a transformers activation name; an unknown one is refused, named (it was
    read as gelu before: a silent guess)."""
    found = ACTIVATIONS.get(name.strip().lower()) if isinstance(name, str) else None
    if found is None:
        problem = (f"unknown activation {shown(name)}: attncalc counts {', '.join(sorted(ACTIVATIONS))} "
                   "(as gelu, relu, silu, relu2 or xielu); write the closest one here to count the model")
        raise ConfigError(problem, source=c.source if c else None, field=key)
    return found


def _every_kth_full(c: _Cfg, key: str, local: str, n_layers: int, shown_as: str | None = None) -> int | None:
    """A per-layer list of attention kinds as the period k of 'every k-th layer is full'
    (layers k-1, 2k-1, ...), as Gemma 2/3, gpt-oss and Llama 4 lay them out; else refused."""
    types = c.list(key, of=str) if shown_as is None else c.list(key)
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
