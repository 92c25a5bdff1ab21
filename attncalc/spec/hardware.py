"""Hardware: peak throughput per dtype and memory bandwidth, read from data files like the presets.

Each part is one TOML file in ``hardware/`` (file name == part name, e.g. ``h100-sxm``), shipped in
the wheel as ``attncalc/hardware_data``; ``ATTNCALC_HARDWARE`` names one more folder searched first,
and any path to a TOML file works wherever a name does. Every figure is an integer (FLOP/s, bytes,
bytes/s): the data holds no floats. Dense and sparse (2:4 structured sparsity) peaks are kept in
separate tables, so a sparse figure can never be used as if it were dense.

A cluster file adds what communication and kernel models read (README, "Hardware files"):
``sm_count`` and ``gpus_per_node``; ``[intra_node]`` (the link between the GPUs of one node: kind,
bytes/s per direction per GPU, NVLink SHARP); ``[inter_node]`` (NICs per node and bytes/s per NIC
and direction); and ``[fitted]``, the constants fitted on measurements rather than read off a
datasheet, with the rows they were fitted on. Exact numbers only: integers, or (for efficiencies
and latencies) a string holding a decimal or a fraction ("0.82", "41/50"); every number is bounded,
so a hostile file is one line naming the file and key.

``this`` (the machine attncalc runs on) is not a file: it is measured by ``attncalc.run.hwprobe``
(numpy), which the CLI calls only when asked, and turned into a ``Hardware`` by ``from_mapping``.

Standard library only.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..dtypes import compute_dtype
from ..errors import ConfigError, shown
from .load import data_dirs, data_files, read_text

# fp64: the matmul peak (FP64 Tensor Core where the part has one); fp64_vector: the CUDA-core /
# vector figure the datasheets print beside it, shown but used by no matmul.
PEAK_KEYS = ("fp64", "fp64_vector", "fp32", "tf32", "bf16", "fp16", "fp8", "int8", "fp4")
FIELDS = {"name", "label", "kind", "source", "memory_bytes", "memory_bytes_per_s", "interconnect",
          "interconnect_bytes_per_s", "interconnect_bidirectional", "dense_flops_per_s", "sparse_flops_per_s",
          "cores", "measured", "sm_count", "gpus_per_node", "intra_node", "inter_node", "fitted", "generation",
          "power_w"}
REQUIRED = ("source", "memory_bytes_per_s", "dense_flops_per_s")
INTRA_KINDS = ("nvlink", "infinity-fabric", "pcie")
INTER_KINDS = ("infiniband", "roce", "ethernet")
INTRA_FIELDS = {"kind", "bytes_per_s", "nvls", "source"}
INTER_FIELDS = {"kind", "nics_per_node", "nic_bytes_per_s", "source"}
# [fitted]: one latency and one efficiency per link tier and one kernel constant for the file's
# generation (core/time/collectives.py, core/time/kernels.py), each fitted on named measurements.
FITTED_FIELDS = {"fitted_on", "intra_node_latency_ns", "intra_node_efficiency",
                 "inter_node_latency_ns", "inter_node_efficiency", "matmul_efficiency"}
# Strict upper bounds (10**k): a 400-digit integer or a huge fraction is refused in one line.
LIMITS = {"flops": 10**20, "bytes_per_s": 10**16, "bytes": 10**16, "count": 10**6, "latency_ns": 10**9}
KEY_LIMIT = {"memory_bytes": "bytes", "memory_bytes_per_s": "bytes_per_s", "interconnect_bytes_per_s": "bytes_per_s",
             "cores": "count", "sm_count": "count", "gpus_per_node": "count", "bytes_per_s": "bytes_per_s",
             "nics_per_node": "count", "nic_bytes_per_s": "bytes_per_s", "power_w": "count"}
_EXACT = re.compile(r"(\d{1,30})(?:\.(\d{1,30}))?(?:/(\d{1,30}))?")
_HUGE = re.compile(r"^\s*([A-Za-z0-9_\-.\"']+)\s*=\s*[-+]?[0-9_]{4000,}")


@dataclass(frozen=True)
class Link:
    """One tier of the network: inside a node (per GPU) or across nodes (per NIC), per direction."""

    kind: str
    bytes_per_s: int  # per direction: per GPU inside a node, per NIC across nodes
    count: int = 1  # NICs per node (across nodes); 1 inside a node
    nvls: bool = False  # NVLink SHARP: the NVSwitch reduces in the switch (NCCL's NVLS algorithm)
    source: str = ""


@dataclass(frozen=True)
class Fitted:
    """Constants fitted on measurements, not read off a datasheet; ``fitted_on`` names the rows."""

    fitted_on: str
    values: dict[str, Fraction]

    def get(self, key: str) -> Fraction | None:
        return self.values.get(key)


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
    generation: str = ""  # architecture (hopper, ampere, blackwell…): per-generation constants of NCCL and kernels
    sm_count: int | None = None  # streaming multiprocessors (compute units): kernels' wave quantization
    gpus_per_node: int | None = None
    intra_node: Link | None = None
    inter_node: Link | None = None
    fitted: Fitted | None = None
    power_w: int | None = None  # the board's maximum power (TDP) as the datasheet prints it: a run's energy

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
        if not self.interconnect_bytes_per_s:  # a cluster file may state only [intra_node], per direction
            return self.intra_node.bytes_per_s if self.intra_node else None
        return self.interconnect_bytes_per_s // 2 if self.interconnect_bidirectional else self.interconnect_bytes_per_s

    def intra(self) -> Link | None:
        """The link between the GPUs of one node: ``[intra_node]``, its bandwidth defaulting to the
        interconnect figure per direction."""
        bw = self.link_bytes_per_s()
        if self.intra_node is None:
            return None if bw is None else Link(self.interconnect or "interconnect", bw, source=self.source)
        return self.intra_node

    def as_dict(self) -> dict[str, Any]:
        def link(x: Link | None) -> dict[str, Any] | None:
            return None if x is None else {"kind": x.kind, "bytes_per_s": x.bytes_per_s, "count": x.count,
                                           "nvls": x.nvls, "source": x.source}

        fitted = None if self.fitted is None else {
            "fitted_on": self.fitted.fitted_on,
            **{k: {"exact": f"{v.numerator}/{v.denominator}", "approx": float(v)} for k, v in self.fitted.values.items()}}
        return {"name": self.name, "label": self.label, "kind": self.kind, "source": self.source,
                "measured": self.measured, "memory_bytes": self.memory_bytes,
                "memory_bytes_per_s": self.memory_bytes_per_s, "interconnect": self.interconnect,
                "interconnect_bytes_per_s": self.interconnect_bytes_per_s,
                "interconnect_bidirectional": self.interconnect_bidirectional, "cores": self.cores,
                "dense_flops_per_s": dict(self.dense), "sparse_flops_per_s": dict(self.sparse),
                "generation": self.generation, "sm_count": self.sm_count, "gpus_per_node": self.gpus_per_node,
                "intra_node": link(self.intra_node), "inter_node": link(self.inter_node), "fitted": fitted}


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
    text = read_text(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"invalid TOML: {err}", source=label) from None
    except ValueError:  # an integer past Python's 4,300-digit conversion limit
        raise ConfigError("a number with thousands of digits; every figure is far smaller", source=label,
                          field=_huge_key(text)) from None
    return from_mapping({"name": path.stem, **data}, source=label)


def _huge_key(text: str) -> str | None:
    """The dotted key of the first over-long integer in a TOML text, for the error message."""
    table = ""
    for line in text.splitlines():
        head = re.match(r"^\s*\[([^\]]+)\]", line)
        if head:
            table = head.group(1).strip() + "."
            continue
        m = _HUGE.match(line)
        if m:
            return table + m.group(1).strip("\"'")
    return None


def _int(value: Any, source: str, key: str, *, allow_zero: bool = False, limit: str | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        kind = "a float" if isinstance(value, float) else type(value).__name__
        raise ConfigError(f"expected a whole number (FLOP/s or bytes as an integer), got {kind} {shown(value)}",
                          source=source, field=key)
    top = LIMITS[limit or KEY_LIMIT.get(key.rpartition(".")[2], "flops")]
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(f"must be positive, got {shown(value)}", source=source, field=key)
    if value > top:
        raise ConfigError(f"too large: at most {top:.0e}".replace("e+", "e"), source=source, field=key)
    return value


def _exact(value: Any, source: str, key: str, *, high: Fraction | None = None) -> Fraction:
    """An integer, or a string holding a decimal or a fraction ("0.82", "41/50", "10.5"): exact,
    positive, at most 30 digits a part, and at most ``high``."""
    if isinstance(value, int) and not isinstance(value, bool):
        x = Fraction(_int(value, source, key, limit="latency_ns"))
    elif isinstance(value, str) and (m := _EXACT.fullmatch(value.strip())):
        whole, frac, den = m.groups()
        x = Fraction(int(whole + (frac or "")), 10 ** len(frac or "")) / int(den or 1) if int(den or 1) else None
        if x is None:
            raise ConfigError("division by zero", source=source, field=key)
    else:
        kind = "a float" if isinstance(value, float) else type(value).__name__
        raise ConfigError(f"expected an exact number: an integer or a string such as \"0.82\" or \"41/50\", "
                          f"got {kind} {shown(value)}", source=source, field=key)
    if x <= 0 or (high is not None and x > high):
        raise ConfigError(f"must be in (0, {high}], got {shown(value)}" if high is not None
                          else f"must be positive, got {shown(value)}", source=source, field=key)
    return x


def _str(data: dict, key: str, source: str, where: str, default: str = "") -> str:
    v = data.get(key, default)
    if not isinstance(v, str) or len(v) > 2000:
        raise ConfigError("expected a string (at most 2,000 characters)", source=source, field=f"{where}{key}")
    return v


def _known(data: Any, allowed: set[str], source: str, where: str) -> dict:
    if not isinstance(data, dict):
        raise ConfigError("expected a table", source=source, field=where)
    for k in data:
        if k not in allowed:
            close = difflib.get_close_matches(k, sorted(allowed), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(sorted(allowed))}"
            raise ConfigError(f"unknown field{hint}", source=source, field=f"{where}.{k}")
    return data


def _kind(data: dict, kinds: tuple[str, ...], source: str, where: str) -> str:
    k = _str(data, "kind", source, f"{where}.")
    if k not in kinds:
        raise ConfigError(f"unknown link kind {shown(k)}; use one of {', '.join(kinds)}", source=source,
                          field=f"{where}.kind")
    return k


def _intra(data: Any, source: str) -> Link:
    d = _known(data, INTRA_FIELDS, source, "intra_node")
    if "bytes_per_s" not in d:
        raise ConfigError("required field is missing (bytes/s per direction per GPU)", source=source,
                          field="intra_node.bytes_per_s")
    nvls = d.get("nvls", False)
    if not isinstance(nvls, bool):
        raise ConfigError("expected true or false", source=source, field="intra_node.nvls")
    return Link(_kind(d, INTRA_KINDS, source, "intra_node"), _int(d["bytes_per_s"], source, "intra_node.bytes_per_s"),
                nvls=nvls, source=_str(d, "source", source, "intra_node."))


def _inter(data: Any, source: str) -> Link:
    d = _known(data, INTER_FIELDS, source, "inter_node")
    for k in ("nics_per_node", "nic_bytes_per_s"):
        if k not in d:
            raise ConfigError("required field is missing", source=source, field=f"inter_node.{k}")
    return Link(_kind(d, INTER_KINDS, source, "inter_node"),
                _int(d["nic_bytes_per_s"], source, "inter_node.nic_bytes_per_s"),
                count=_int(d["nics_per_node"], source, "inter_node.nics_per_node"),
                source=_str(d, "source", source, "inter_node."))


def _fitted(data: Any, source: str) -> Fitted:
    d = _known(data, FITTED_FIELDS, source, "fitted")
    if "fitted_on" not in d:
        raise ConfigError("required field is missing (the measurements the constants were fitted on)",
                          source=source, field="fitted.fitted_on")
    values = {}
    for k, v in d.items():
        if k.endswith("_latency_ns"):
            values[k] = _exact(v, source, f"fitted.{k}", high=Fraction(LIMITS["latency_ns"]))
        elif k.endswith("_efficiency"):
            values[k] = _exact(v, source, f"fitted.{k}", high=Fraction(1))
    return Fitted(_str(d, "fitted_on", source, "fitted."), values)


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


TEXT_LIMITS = {"name": 256, "label": 256, "kind": 64, "interconnect": 256, "generation": 64, "source": 64 * 1024}  # characters


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
    opt = {k: _int(data[k], source, k) for k in ("sm_count", "gpus_per_node", "power_w") if data.get(k) is not None}
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
        measured=bool(data.get("measured", False)), path=source, **opt, generation=data.get("generation", ""),
        intra_node=None if data.get("intra_node") is None else _intra(data["intra_node"], source),
        inter_node=None if data.get("inter_node") is None else _inter(data["inter_node"], source),
        fitted=None if data.get("fitted") is None else _fitted(data["fitted"], source))
