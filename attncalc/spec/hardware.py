"""Hardware: peak throughput per dtype and memory bandwidth, read from data files like the presets.

Each part is one TOML file in ``hardware/`` (file name == part name, e.g. ``h100-sxm``), shipped in
the wheel as ``attncalc/hardware_data``; ``ATTNCALC_HARDWARE`` names one more folder searched first,
and any path to a TOML file works wherever a name does. Every figure is an integer (FLOP/s, bytes,
bytes/s): the data holds no floats. Dense and sparse (2:4 structured sparsity) peaks are kept in
separate tables, so a sparse figure can never be used as if it were dense.

``this`` (the machine attncalc runs on) is not a file: it is measured by ``attncalc.run.hwprobe``
(numpy), which the CLI calls only when asked, and turned into a ``Hardware`` by ``from_mapping``.

Standard library only.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..dtypes import compute_dtype
from ..errors import ConfigError
from .load import data_dirs, data_files, read_text

PEAK_KEYS = ("fp64", "fp32", "tf32", "bf16", "fp16", "fp8", "int8", "fp4")
FIELDS = {"name", "label", "kind", "source", "memory_bytes", "memory_bytes_per_s", "interconnect",
          "interconnect_bytes_per_s", "interconnect_bidirectional", "dense_flops_per_s", "sparse_flops_per_s",
          "cores", "measured"}
REQUIRED = ("source", "memory_bytes_per_s", "dense_flops_per_s")


@dataclass(frozen=True)
class Hardware:
    name: str
    label: str
    source: str
    memory_bytes_per_s: int
    dense: dict[str, int]  # FLOP/s per dtype key, no sparsity
    sparse: dict[str, int] = field(default_factory=dict)  # 2:4 structured sparsity, as printed
    memory_bytes: int | None = None
    interconnect: str = ""
    interconnect_bytes_per_s: int | None = None
    interconnect_bidirectional: bool = True
    kind: str = "gpu"
    cores: int | None = None
    measured: bool = False  # `this`: figures measured on this machine, not read from a datasheet
    path: str = ""

    def peak(self, dtype: str, sparse: bool = False) -> int:
        """Peak FLOP/s for a compute dtype; the dense table unless ``sparse`` is asked for."""
        key = compute_dtype(dtype)
        table = self.sparse if sparse else self.dense
        if key not in table:
            which = "sparse_flops_per_s" if sparse else "dense_flops_per_s"
            have = ", ".join(table) or "none"
            raise ConfigError(f"no {key} peak for {self.name} (has: {have})", source=self.path or self.name,
                              field=f"{which}.{key}")
        return table[key]

    def ridge(self, dtype: str, sparse: bool = False) -> Fraction:
        """The ridge point (FLOP per byte) where peak compute meets memory bandwidth: a part whose
        arithmetic intensity is below it is memory-bound (Williams et al. 2009, sec. 2)."""
        return Fraction(self.peak(dtype, sparse), self.memory_bytes_per_s)

    def link_bytes_per_s(self) -> int | None:
        """Interconnect bandwidth in ONE direction: the figure printed for NVLink and Infinity Fabric
        adds both directions, while a ring all-reduce is limited by each direction's bandwidth."""
        if not self.interconnect_bytes_per_s:
            return None
        return self.interconnect_bytes_per_s // 2 if self.interconnect_bidirectional else self.interconnect_bytes_per_s

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label, "kind": self.kind, "source": self.source,
                "measured": self.measured, "memory_bytes": self.memory_bytes,
                "memory_bytes_per_s": self.memory_bytes_per_s, "interconnect": self.interconnect,
                "interconnect_bytes_per_s": self.interconnect_bytes_per_s,
                "interconnect_bidirectional": self.interconnect_bidirectional, "cores": self.cores,
                "dense_flops_per_s": dict(self.dense), "sparse_flops_per_s": dict(self.sparse)}


def hardware_dirs() -> list[Path]:
    return data_dirs("ATTNCALC_HARDWARE", "hardware")


@lru_cache(maxsize=1)
def hardware_paths() -> dict[str, Path]:
    return data_files(hardware_dirs())


def hardware_names() -> list[str]:
    return sorted(hardware_paths())


def load_hardware(ref: str) -> Hardware:
    """A hardware name (``attncalc list-hw``) or a path to a TOML file. ``this`` is the CLI's."""
    path = Path(ref).expanduser()
    if path.is_file() or ref.endswith(".toml") or os.sep in ref:
        return load_hardware_file(path)
    paths = hardware_paths()
    key = ref if ref in paths else {n.lower(): n for n in paths}.get(ref.lower())
    if key is None:
        close = difflib.get_close_matches(ref.lower(), list(paths), n=3, cutoff=0.5)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise ConfigError(f"unknown hardware {ref!r}{hint} (`attncalc list-hw` shows them; `this` measures this "
                          "machine; or give a TOML file)", field="--hw")
    return load_hardware_file(paths[key])


def load_hardware_file(path: Path) -> Hardware:
    label = str(path)
    try:
        data = tomllib.loads(read_text(path))
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"invalid TOML: {err}", source=label) from None
    return from_mapping({"name": path.stem, **data}, source=label)


def _int(value: Any, source: str, key: str, *, allow_zero: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        kind = "a float" if isinstance(value, float) else type(value).__name__
        raise ConfigError(f"expected a whole number (FLOP/s or bytes as an integer), got {kind} {value!r}",
                          source=source, field=key)
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(f"must be positive, got {value}", source=source, field=key)
    return value


def _table(data: Any, source: str, key: str) -> dict[str, int]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError("expected a table of dtype = FLOP/s", source=source, field=key)
    out = {}
    for k, v in data.items():
        if k not in PEAK_KEYS:
            close = difflib.get_close_matches(k, PEAK_KEYS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(PEAK_KEYS)}"
            raise ConfigError(f"unknown dtype{hint}", source=source, field=f"{key}.{k}")
        out[k] = _int(v, source, f"{key}.{k}")
    return out


TEXT_LIMITS = {"name": 256, "label": 256, "kind": 64, "interconnect": 256, "source": 64 * 1024}  # characters


def check_texts(data: dict[str, Any], source: str) -> None:
    """The TEXT fields of a hardware file (name, label, kind, source, interconnect): strings, within
    their lengths, and one line each with nothing a terminal would obey or hide (no control,
    bidirectional or invisible character: escape.hidden). They are printed by `time`, `list-hw`,
    `count --hw`, `explain --hw` and in messages, and escaped there too."""
    from ..errors import shown
    from ..escape import hidden

    for k, limit in TEXT_LIMITS.items():
        if k not in data:
            continue
        v = data[k]
        if not isinstance(v, str):
            raise ConfigError(f"expected a string, got {shown(v)}", source=source, field=k)
        if len(v) > limit:
            raise ConfigError(f"{len(v):,} characters is too long: at most {limit:,}", source=source, field=k)
        if k == "name" and not v.strip():
            raise ConfigError("empty name", source=source, field=k)
        bad = hidden(v)
        if bad:
            raise ConfigError(f"control character {bad.group()!r} at position {bad.start()}; one line of "
                              "printable text, please", source=source, field=k)


def from_mapping(data: dict[str, Any], source: str = "<hardware>") -> Hardware:
    for k in data:
        if k not in FIELDS:
            close = difflib.get_close_matches(k, sorted(FIELDS), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"unknown field{hint}", source=source, field=k)
    for k in REQUIRED:
        if k not in data:
            raise ConfigError("required field is missing", source=source, field=k)
    check_texts(data, source)
    dense = _table(data["dense_flops_per_s"], source, "dense_flops_per_s")
    if not dense:
        raise ConfigError("needs at least one dtype", source=source, field="dense_flops_per_s")
    sparse = _table(data.get("sparse_flops_per_s"), source, "sparse_flops_per_s")
    for k, v in sparse.items():
        if k in dense and v < dense[k]:
            raise ConfigError(f"sparse peak {v:,} is below the dense peak {dense[k]:,}", source=source,
                              field=f"sparse_flops_per_s.{k}")
    bidir = data.get("interconnect_bidirectional", True)
    if not isinstance(bidir, bool):
        raise ConfigError("expected true or false", source=source, field="interconnect_bidirectional")
    link = data.get("interconnect_bytes_per_s")
    return Hardware(
        name=data.get("name", "hardware"), label=data.get("label", data.get("name", "hardware")),
        source=data["source"], memory_bytes_per_s=_int(data["memory_bytes_per_s"], source, "memory_bytes_per_s"),
        dense=dense, sparse=sparse,
        memory_bytes=None if data.get("memory_bytes") is None else _int(data["memory_bytes"], source, "memory_bytes"),
        interconnect=data.get("interconnect", ""),
        interconnect_bytes_per_s=None if link is None else _int(link, source, "interconnect_bytes_per_s"),
        interconnect_bidirectional=bidir, kind=data.get("kind", "gpu"),
        cores=None if data.get("cores") is None else _int(data["cores"], source, "cores"),
        measured=bool(data.get("measured", False)), path=source)
