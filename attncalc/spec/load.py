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

from .arch import Architecture, FloatLiteral, from_mapping
from ..errors import ConfigError, UnknownModelError

MAX_CONFIG_BYTES = 16 * 1024 * 1024  # a config larger than this is not a config


def user_path(text: str) -> Path:
    """``text`` as a path, ``~`` and ``~NAME`` expanded; a ``~NAME`` of no user on this machine is
    one line (pathlib raises RuntimeError for it), not a crash."""
    try:
        return Path(text).expanduser()
    except RuntimeError:
        user = str(text)[1:].replace(os.sep, "/").split("/", 1)[0]
        raise ConfigError(f"no user {user!r} on this machine (a path starting with ~NAME is in NAME's home "
                          "folder); write the path without ~", source=str(text)) from None


def data_dirs(env: str, folder: str) -> list[Path]:
    """Where a kind of data file lives: $env if set, then the wheel's copy (attncalc/<folder>_data),
    then the checkout's (<folder>/ beside the package)."""
    package = Path(__file__).resolve().parent.parent
    value = os.environ.get(env)
    candidates = ([Path(value)] if value else []) + [package / f"{folder}_data", package.parent / folder]
    return [p for p in candidates if p.is_dir()]


def data_files(dirs: list[Path]) -> dict[str, Path]:
    """Name -> TOML file; the first directory wins on a clash."""
    found: dict[str, Path] = {}
    for d in dirs:
        for p in sorted(d.glob("*.toml")):
            found.setdefault(p.stem, p)
    return found


def preset_dirs() -> list[Path]:
    return data_dirs("ATTNCALC_PRESETS", "presets")


@lru_cache(maxsize=1)
def preset_paths() -> dict[str, Path]:
    """Preset name -> file; the first directory wins on a clash."""
    return data_files(preset_dirs())


def preset_names() -> list[str]:
    return sorted(preset_paths(), key=_natural_key)


def _natural_key(name: str) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


# Names people type for a preset: the paper's or the checkpoint's name.
ALIASES = {
    "gpt2": "gpt2-small", "gpt-2": "gpt2-small", "gpt2-124m": "gpt2-small", "gpt2-355m": "gpt2-medium",
    "gpt2-774m": "gpt2-large", "gpt2-1.5b": "gpt2-xl", "gpt3-175b": "gpt3", "gpt-3": "gpt3", "davinci": "gpt3",
    "bert": "bert-base", "bert-base-uncased": "bert-base", "bert-large-uncased": "bert-large",
    "llama3-8b": "llama-3-8b", "llama-3.1-70b": "llama-3-70b", "deepseek-v3-671b": "deepseek-v3",
    "deepseek-r1": "deepseek-v3", "kimi-k2-instruct": "kimi-k2", "palm": "palm-540b",
    "mixtral": "mixtral-8x7b", "mistral": "mistral-7b", "gpt-oss": "gpt-oss-120b",
    "qwen3-235b": "qwen3-235b-a22b", "llama-4-scout-17b-16e": "llama-4-scout", "olmo2-7b": "olmo-2-7b",
}


# Names people type for a hardware part (`--hw h100`): the bare chip is its most common form, the SXM
# module (A100: the 80 GB one). Matched like preset names: case, '-', '_' and spaces ignored.
HARDWARE_ALIASES = {
    "h100": "h100-sxm", "h100-sxm5": "h100-sxm", "h100-80gb": "h100-sxm", "h100-sxm-80gb": "h100-sxm",
    "h100-pcie-80gb": "h100-pcie", "h200-sxm": "h200", "h200-141gb": "h200", "b200-sxm": "b200",
    "a100": "a100-80gb-sxm", "a100-80gb": "a100-80gb-sxm", "a100-sxm": "a100-80gb-sxm", "a100-sxm4": "a100-80gb-sxm",
    "a100-40gb": "a100-40gb-sxm", "mi300": "mi300x", "instinct-mi300x": "mi300x", "4090": "rtx-4090",
    "geforce-rtx-4090": "rtx-4090", "tpu-v4": "tpu-v4", "tpuv4": "tpu-v4", "v4": "tpu-v4", "l40-s": "l40s",
}


def hardware_alias(ref: str, names: list[str]) -> str:
    """The hardware name ``ref`` means among ``names`` (the table's): itself, its spelling with case,
    '-', '_' and spaces ignored, or an alias (h100 -> h100-sxm, a100 -> a100-80gb-sxm); else ``ref``."""
    if ref in names:
        return ref
    squashed = {_squash(n): n for n in names}
    squashed |= {_squash(a): t for a, t in HARDWARE_ALIASES.items() if t in names and _squash(a) not in squashed}
    return squashed.get(_squash(ref), ref)


def suggestions(ref: str, names: list[str], aliases: dict[str, str], n: int = 3) -> list[str]:
    """Close names for an unknown ``ref``: each target once (an alias stands for its target), closest
    first, so a typo is not answered with three spellings of one preset."""
    pool = {name: name for name in names} | {a: t for a, t in aliases.items() if t in names}
    out: list[str] = []
    for match in difflib.get_close_matches(ref.lower(), list(pool), n=len(pool), cutoff=0.5):
        if pool[match] not in out:
            out.append(pool[match])
    return out[:n]


def _squash(name: str) -> str:
    """Spelling-insensitive key: case, '-', '_' and spaces ignored (llama3.1-8B = llama-3.1-8b)."""
    return "".join(ch for ch in name.lower() if ch not in "-_ ")


def load_preset(name: str) -> Architecture:
    paths = preset_paths()
    if name in paths:
        return load_file(paths[name], f"preset {name}")
    squashed = {_squash(n): n for n in paths} | {_squash(a): t for a, t in ALIASES.items() if t in paths}
    if _squash(name) in squashed:
        found = squashed[_squash(name)]
        return load_file(paths[found], f"preset {found}")
    raise UnknownModelError(name, suggestions(name, list(paths), ALIASES))


def load_model(ref: str) -> Architecture:
    """A preset name, a path to a TOML file or a Hugging Face config.json, a folder holding a
    config.json, or a Hugging Face id (ORG/NAME) whose config.json is in the local HF cache."""
    if not isinstance(ref, str) or not ref.strip():
        raise ConfigError("empty model name: give a preset (`attncalc list`), a TOML file or a config.json",
                          field="MODEL")
    if len(ref) > 4096 or "\x00" in ref:
        raise ConfigError("not a model name or a path (too long, or a NUL character)", field="MODEL")
    path = user_path(ref)
    looks_like_path = os.sep in ref or ref.endswith((".toml", ".json", ".gguf", ".safetensors"))
    if path.is_file() and path.suffix in (".gguf", ".safetensors"):
        return load_checkpoint_file(path)
    if path.is_file():
        return load_file(path)
    if path.is_dir():
        if (path / "config.json").is_file():
            return load_file(path / "config.json")
        raise ConfigError("a folder without a config.json: give the config.json (or TOML) file itself, "
                          "or a folder that holds a config.json", source=str(path))
    if re.fullmatch(HF_ID, ref) and not path.exists():
        return load_file(hf_cached_config(ref))
    if looks_like_path:
        return load_file(path)
    return load_preset(ref)


# A Hugging Face model id, ORG/NAME (huggingface_hub's repo-id rules: letters, digits, - _ .; no "..").
HF_ID = (r"(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}")


def hf_cache_dirs() -> list[Path]:
    """Where huggingface_hub keeps downloads, in its own order of precedence (offline: only read)."""
    env = os.environ
    if env.get("HF_HUB_CACHE"):
        return [user_path(env["HF_HUB_CACHE"])]
    if env.get("HUGGINGFACE_HUB_CACHE"):  # the older name huggingface_hub still honours
        return [user_path(env["HUGGINGFACE_HUB_CACHE"])]
    if env.get("HF_HOME"):
        return [user_path(env["HF_HOME"]) / "hub"]
    xdg = env.get("XDG_CACHE_HOME")
    return [(user_path(xdg) if xdg else user_path("~") / ".cache") / "huggingface" / "hub"]


def hf_cached_config(repo_id: str) -> Path:
    """The config.json of ``repo_id`` in the local Hugging Face cache (the snapshot refs/main names,
    else the newest snapshot); else a ConfigError saying how to fetch one."""
    try:
        return _find_cached_config(repo_id)
    except OSError as err:  # an unreadable cache folder: say which, like any file
        raise ConfigError(f"cannot read the Hugging Face cache: {err.strerror or err}",
                          source=str(err.filename or repo_id)) from None


def _find_cached_config(repo_id: str) -> Path:
    org, name = repo_id.split("/")
    tried = []
    for hub in hf_cache_dirs():
        repo = hub / f"models--{org}--{name}"
        tried.append(str(hub))
        snaps = repo / "snapshots"
        if not snaps.is_dir():
            continue
        ref = repo / "refs" / "main"
        if ref.is_file():
            try:
                commit = ref.read_text(encoding="ascii").strip()
            except (OSError, UnicodeDecodeError):
                commit = ""
            if re.fullmatch(r"[0-9a-f]{40}", commit) and (snaps / commit / "config.json").is_file():
                return snaps / commit / "config.json"
        found = [p for p in snaps.glob("*/config.json") if p.is_file()]
        if found:
            return max(found, key=lambda p: p.stat().st_mtime)
    raise ConfigError(
        f"not a preset or a file, and no config.json for the Hugging Face model {repo_id} in the local cache "
        f"({', '.join(tried)}); fetch it with `huggingface-cli download {repo_id} config.json` "
        f"(or save https://huggingface.co/{repo_id}/resolve/main/config.json) and run again",
        source=repo_id)


def load_checkpoint_file(path: Path) -> Architecture:
    """A GGUF file's architecture from its metadata; a lone safetensors file has none to give."""
    from .gguf import gguf_architecture, read_gguf

    if path.suffix == ".safetensors":
        raise ConfigError("a safetensors file holds tensors, not the architecture: give the folder that holds it "
                          "and its config.json", source=str(path))
    ck = read_gguf(path)
    a = gguf_architecture(ck, str(path))
    if a is None:
        from .gguf import GGUF_ARCHITECTURES

        raise ConfigError(f"GGUF architecture {ck.metadata.get('general.architecture')!r} is not one attncalc reads "
                          f"({', '.join(GGUF_ARCHITECTURES)}); `attncalc count` still lists what the file holds",
                          source=str(path), field="general.architecture")
    return a


def checkpoint_location(ref: str) -> Path | None:
    """Where the checkpoint of a model reference lies: a .gguf or .safetensors file, a folder (or a
    cached Hugging Face snapshot) holding safetensors files; None for presets, TOML and bare configs
    (and for a path the file system will not answer about: reading the model says why)."""
    if not isinstance(ref, str) or not ref.strip() or len(ref) > 4096 or "\x00" in ref:
        return None
    path = user_path(ref)
    try:
        if path.is_file() and path.suffix in (".gguf", ".safetensors"):
            return path
        folder = path if path.is_dir() else None
        if folder is None and re.fullmatch(HF_ID, ref) and not path.exists():
            try:
                folder = hf_cached_config(ref).parent
            except ConfigError:
                return None
        if folder is None:
            return None
        has = (folder / "model.safetensors.index.json").is_file() or any(p.is_file() for p in folder.glob("*.safetensors"))
    except OSError:
        return None
    return folder if has else None


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


def parse_json(text: str, label: str) -> Any:
    """JSON with floats kept as written (for exact integer checks); one-line errors, never a crash."""
    try:
        return json.loads(text, parse_float=FloatLiteral)
    except json.JSONDecodeError as err:
        raise ConfigError(f"invalid JSON at line {err.lineno} column {err.colno}: {err.msg}", source=label) from None
    except RecursionError:
        raise ConfigError("nested too deeply to read (arrays or objects inside each other)", source=label) from None
    except ValueError as err:  # an integer past Python's 4,300-digit limit for str -> int
        raise ConfigError(_number_problem(err), source=label) from None


def parse_toml(text: str, label: str) -> dict[str, Any]:
    """TOML with floats kept as written (for exact integer checks); one-line errors, never a crash."""
    try:
        return tomllib.loads(text, parse_float=FloatLiteral)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"invalid TOML: {err}", source=label) from None
    except RecursionError:
        raise ConfigError("nested too deeply to read (arrays or tables inside each other)", source=label) from None
    except ValueError as err:
        raise ConfigError(_number_problem(err), source=label) from None


def _number_problem(err: ValueError) -> str:
    if "digits" in str(err):
        return "a number has more than 4,300 digits (Python's limit for reading an integer); no model field is that large"
    return f"unreadable number: {str(err)[:100]}"


def load_file(path: Path, label: str | None = None) -> Architecture:
    """A TOML or config.json file; ``label`` names it in messages (a preset: "preset NAME", not the
    installed package's absolute path)."""
    path = Path(path)
    text, label = read_text(path), label or str(path)
    if path.suffix == ".json":
        from .hf import from_hf_config

        data = parse_json(text, label)
        if not isinstance(data, dict):
            raise ConfigError("expected a JSON object at the top level", source=label)
        return from_hf_config(data, source=label, default_name=_name_for_json(path))
    return from_toml_table(parse_toml(text, label), label, path.stem)


def from_toml_table(data: dict[str, Any], label: str, default_name: str) -> Architecture:
    for key, value in data.items():
        if isinstance(value, dict):
            raise ConfigError("tables are not supported; write the fields at the top level", source=label, field=key)
    data = {"name": default_name, **data}
    return from_mapping(data, source=label)


def _name_for_json(path: Path) -> str:
    repo = path.parent.parent.parent.name  # HF cache: models--ORG--NAME/snapshots/<commit>/config.json
    if path.parent.parent.name == "snapshots" and repo.startswith("models--"):
        return repo.split("--", 2)[-1]
    return path.parent.name if path.name == "config.json" and path.parent.name else path.stem
