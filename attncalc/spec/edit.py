"""Custom architectures without a file: `--set field=value` on top of a model, or from scratch.

Values are typed by the field (integers, true/false, strings, `none` for an optional field) and the
result is validated like any preset, so `--set n_heads=0` fails with the field named.
"""

from __future__ import annotations

from typing import Any

from .arch import FIELDS, Architecture, coerce_field, field_type_name, from_mapping, suggest_field
from ..errors import ConfigError
from ..units import parse_quantity

SOURCE = "--set"
# From scratch: a decoder with GPT-2's vocabulary and GPT-3's context unless told otherwise.
SCRATCH_DEFAULTS = {"name": "custom", "family": "custom", "vocab_size": 50257, "n_ctx": 2048,
                    "source": "command-line dimensions"}


def parse_assignment(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise ConfigError(f"expected FIELD=VALUE, got {text!r}", source=SOURCE)
    key, raw = (p.strip() for p in text.split("=", 1))
    key = key.replace("-", "_")
    if key not in FIELDS:
        raise ConfigError(f"unknown field{suggest_field(key)}", source=SOURCE, field=key)
    kind = field_type_name(key)
    optional = "None" in str(FIELDS[key].type)
    if optional and raw.lower() in ("none", "null", ""):
        return key, None
    if kind == "boolean":
        if raw.lower() not in ("true", "false"):
            raise ConfigError(f"expected true or false, got {raw!r}", source=SOURCE, field=key)
        return key, raw.lower() == "true"
    if kind == "integer":
        try:
            return key, parse_quantity(raw, what="integer")
        except ValueError as err:
            raise ConfigError(str(err), source=SOURCE, field=key) from None
    return key, coerce_field(key, raw, SOURCE)


def apply(base: Architecture | None, sets: list[str], dims: dict[str, int | None]) -> Architecture:
    """``base`` with the assignments and dimension options applied, validated afresh."""
    changes = dict(parse_assignment(s) for s in sets)
    changes |= {k: v for k, v in dims.items() if v is not None}
    if base is None:
        missing = [f"--{k.replace('_', '-')}" for k in ("d_model", "n_layers", "n_heads") if k not in changes]
        if missing:
            raise ConfigError(f"give a MODEL, or build one from scratch with {', '.join(missing)}", field="MODEL")
        return from_mapping(SCRATCH_DEFAULTS | changes, source=SOURCE)
    if not changes:
        return base
    data = base.to_dict() | changes
    if changes.keys() - {"name"}:
        data["notes"] = (base.notes + " " if base.notes else "") + "Changed on the command line: " + ", ".join(
            f"{k}={v}" for k, v in changes.items()) + "."
    return from_mapping(data, source=SOURCE).replace(_read=base._read)  # what reading the file assumed
