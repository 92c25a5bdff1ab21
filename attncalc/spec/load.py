"""Find, list and read architectures: presets shipped as TOML, a user's TOML, or a HF config.json.

Presets live in ``presets/*.toml`` (one architecture per file, file name == preset name). In a
wheel they are force-included as ``attncalc/presets_data``; in a checkout they sit beside the
package. Both places are searched, the wheel's first. Standard library only.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any

from .arch import Architecture, from_mapping
from ..errors import ConfigError, UnknownModelError

MAX_CONFIG_BYTES = 16 * 1024 * 1024  # a config larger than this is not a config


def preset_dirs() -> list[Path]:
    package = Path(__file__).resolve().parent.parent
    env = os.environ.get("ATTNCALC_PRESETS")
    candidates = ([Path(env)] if env else []) + [package / "presets_data", package.parent / "presets"]
    return [p for p in candidates if p.is_dir()]


@lru_cache(maxsize=1)
def preset_paths() -> dict[str, Path]:
    """Preset name -> file; the first directory wins on a clash."""
    found: dict[str, Path] = {}
    for d in preset_dirs():
        for p in sorted(d.glob("*.toml")):
            found.setdefault(p.stem, p)
    return found


def preset_names() -> list[str]:
    return sorted(preset_paths(), key=_natural_key)


def _natural_key(name: str) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def load_preset(name: str) -> Architecture:
    paths = preset_paths()
    if name not in paths:
        lowered = {n.lower(): n for n in paths}
        if name.lower() in lowered:
            return load_file(paths[lowered[name.lower()]])
        raise UnknownModelError(name, difflib.get_close_matches(name.lower(), list(paths), n=3, cutoff=0.5))
    return load_file(paths[name])


def load_model(ref: str) -> Architecture:
    """A preset name, or a path to a TOML file or a Hugging Face config.json."""
    path = Path(ref).expanduser()
    looks_like_path = os.sep in ref or ref.endswith((".toml", ".json"))
    if path.is_file() or (looks_like_path and not path.is_dir()):
        return load_file(path)
    if path.is_dir() and (path / "config.json").is_file():
        return load_file(path / "config.json")
    return load_preset(ref)


def read_text(path: Path) -> str:
    label = str(path)
    if not path.exists():
        raise ConfigError("no such file", source=label)
    if not path.is_file():
        raise ConfigError("not a regular file", source=label)
    size = path.stat().st_size
    if size > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"file is {size / 2**20:,.1f} MiB; a model config is at most {MAX_CONFIG_BYTES // 2**20} MiB",
            source=label,
        )
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"not UTF-8 text (byte {err.start})", source=label) from None
    except OSError as err:
        raise ConfigError(err.strerror or str(err), source=label) from None


def load_file(path: Path) -> Architecture:
    path = Path(path)
    text, label = read_text(path), str(path)
    if path.suffix == ".json":
        from .hf import from_hf_config

        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ConfigError(f"invalid JSON at line {err.lineno} column {err.colno}: {err.msg}", source=label) from None
        if not isinstance(data, dict):
            raise ConfigError("expected a JSON object at the top level", source=label)
        return from_hf_config(data, source=label, default_name=_name_for_json(path))
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"invalid TOML: {err}", source=label) from None
    return from_toml_table(data, label, path.stem)


def from_toml_table(data: dict[str, Any], label: str, default_name: str) -> Architecture:
    for key, value in data.items():
        if isinstance(value, dict):
            raise ConfigError("tables are not supported; write the fields at the top level", source=label, field=key)
    data = {"name": default_name, **data}
    return from_mapping(data, source=label)


def _name_for_json(path: Path) -> str:
    return path.parent.name if path.name == "config.json" and path.parent.name else path.stem
