"""A model reference with changes: ``MODEL:field=value[,field=value]``.

``llama-3-8b:n_kv_heads=4`` is Llama 3 8B with four key/value heads, so `diff` and `compare` can
set a model against a variant of itself in one argument. MODEL is anything ``load_model`` reads (a
preset, a TOML file, a config.json or a folder holding one). A path that exists is taken whole even
if it contains a colon; otherwise the model is what precedes the first colon that is followed by
``field=``. Assignments are separated by commas that start a new ``field=`` (so ``d_ff=14,336``
stays one value) and are typed exactly as ``--set`` types them.
"""

from __future__ import annotations

import re

from .arch import FIELDS, Architecture, from_mapping
from ..errors import ConfigError

_ASSIGNMENT_START = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_-]*)\s*=")
_SPLIT = re.compile(r",(?=\s*[A-Za-z_][A-Za-z0-9_-]*\s*=)")


def _exists(model: str) -> bool:
    from .load import preset_paths

    from .load import user_path

    try:
        p = user_path(model)
    except ConfigError:
        return False
    return p.exists() or model in preset_paths() or model.lower() in {n.lower() for n in preset_paths()}


def _exists_path(text: str) -> bool:
    from .load import user_path

    try:
        return user_path(text).exists()
    except (ConfigError, OSError, ValueError):
        return False


def split_ref(text: str) -> tuple[str, list[str]]:
    """'llama-3-8b:n_kv_heads=4,d_ff=8192' -> ('llama-3-8b', ['n_kv_heads=4', 'd_ff=8192'])."""
    if ":" not in text or _exists_path(text):
        return text, []
    candidates = []
    for i, ch in enumerate(text):
        if ch != ":":
            continue
        m = _ASSIGNMENT_START.match(text, i + 1)
        if m:
            candidates.append(i)
    if not candidates:
        return text, []
    chosen = next((i for i in candidates if _exists(text[:i])), candidates[0])
    model, changes = text[:chosen], text[chosen + 1:]
    return model, [part.strip() for part in _SPLIT.split(changes)]


def load_ref(text: str) -> Architecture:
    """The architecture ``text`` names, with its ``:field=value`` changes applied and validated.

    A changed model is named ``base:changes`` (unless the changes set ``name``) so two columns of
    one model and its variant stay distinguishable. Errors name the reference and the field.
    """
    from .edit import apply
    from .load import load_model

    model, sets = split_ref(text)
    base = load_model(model)
    if not sets:
        return base
    try:
        arch = apply(base, sets, {})
    except ConfigError as err:
        if err.source == "--set":
            raise ConfigError(err.problem, source=text, field=err.field) from None
        raise
    keys = {s.split("=", 1)[0].strip().replace("-", "_") for s in sets}
    if "name" in keys or not keys <= set(FIELDS):
        return arch
    return from_mapping(arch.to_dict() | {"name": f"{base.name}:{','.join(sets)}"}, source=text).replace(
        _read=base._read)
