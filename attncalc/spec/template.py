"""A commented TOML template of an architecture, for `attncalc init` (from defaults or a model)."""

from __future__ import annotations

import json

from .arch import DOC, FIELDS, REQUIRED, Architecture


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    return json.dumps(v, ensure_ascii=False)


def template(base: Architecture | None, name: str) -> str:
    """Every field with its meaning; fields at their default (or unset) are commented out."""
    lines = [f"# attncalc architecture: count it with `attncalc count {name}.toml`.",
             "# Every field is documented below; remove the leading '#' to set one.", ""]
    values = base.to_dict() if base else {"name": name, "vocab_size": 50257, "d_model": 768, "n_layers": 12, "n_heads": 12}
    values["name"] = name
    if base is None:
        values["source"] = "where these numbers come from (paper table or published config)"
    for key, f in FIELDS.items():
        v = values.get(key, f.default)
        lines.append(f"# {DOC[key]}")
        is_default = key not in REQUIRED and key not in ("name", "source") and v == f.default
        if v is None:
            lines.append(f"# {key} = ")
        else:
            lines.append(f"{'# ' if is_default else ''}{key} = {toml_value(v)}")
    return "\n".join(lines) + "\n"
