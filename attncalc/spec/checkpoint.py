"""What a checkpoint holds, from its headers alone: safetensors files (one, or shards named by a
``model.safetensors.index.json``) and GGUF files. Never the tensor data: a 700 GB checkpoint is
read in milliseconds, and a file whose data is a hole reads the same as a full one.

Formats (standard library only: json, struct):
- safetensors (Hugging Face, https://github.com/huggingface/safetensors, README "Format"): an
  8-byte little-endian unsigned header length N, N bytes of UTF-8 JSON mapping each tensor name to
  {"dtype", "shape", "data_offsets": [begin, end]} (offsets into the byte buffer that follows the
  header) and an optional "__metadata__" of strings; the buffer must be indexed entirely, without
  overlaps or holes. The reference library caps the header at 100,000,000 bytes
  (``MAX_HEADER_SIZE``); so does this reader. A sharded checkpoint's index is
  {"metadata": {...}, "weight_map": {tensor name: shard file name}}.
- GGUF (ggml, ``docs/gguf.md``): magic "GGUF", a uint32 version (2 and 3: 64-bit counts; 1:
  32-bit), the tensor count and metadata key/value count, the key/values (typed: 0 uint8 ... 12
  float64, 8 string = uint64 length + bytes, 9 array = element type + uint64 count + elements), then
  per tensor: name, uint32 number of dimensions, that many uint64 dimensions (ne[0] first, the
  innermost), uint32 ggml type, uint64 offset from the start of the tensor data; the data starts at
  the next multiple of ``general.alignment`` (default 32). A tensor of ggml type t holds
  elements / block_size(t) blocks of type_size(t) bytes: the table below, ggml's ``type_traits``
  (``ggml/src/ggml.c``) over the block structs of ``ggml/src/ggml-common.h`` (the same as gguf-py's
  ``GGML_QUANT_SIZES`` but for Q8_1, 36 bytes in ggml-common.h and 40 in gguf-py 0.19's table;
  Q8_1 is an in-memory dot-product type that files do not hold).

Every problem with a header is one ConfigError naming the file and what is wrong (exit 2): a length
past the end of the file, a truncated file, a header over the cap, an unknown dtype or ggml type,
overlapping, negative or out-of-range offsets, absurd counts. Counts are bounded by what the file's
size can hold before anything is allocated, so a hostile header cannot make the reader hang.
"""

from __future__ import annotations

import json
import os
import re
import struct
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from ..errors import ConfigError, shown

MAX_HEADER = 100_000_000  # bytes of safetensors JSON header (safetensors' MAX_HEADER_SIZE)
MAX_INDEX = 64 * 1024 * 1024  # bytes of a model.safetensors.index.json
MAX_SHARDS = 100_000
MAX_DIMS = 16  # a tensor with more dimensions than this is not a model's (GGML_MAX_DIMS is 4)

# safetensors dtypes (safetensors' Dtype enum) -> bits per element
SAFETENSORS_BITS = {
    "BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8, "I16": 16, "U16": 16, "F16": 16,
    "BF16": 16, "I32": 32, "U32": 32, "F32": 32, "I64": 64, "U64": 64, "F64": 64, "C64": 64,
    "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6,
}


@dataclass(frozen=True)
class Tensor:
    name: str
    dtype: str  # safetensors dtype (BF16, F8_E4M3, ...) or ggml type name (Q4_K, F16, ...)
    shape: tuple[int, ...]  # as the file writes it (GGUF: ne[0] first)
    nbytes: int
    file: str

    @property
    def elements(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def params(self) -> int:
        """Parameters the tensor holds: its elements, but for packed 4-bit weights stored as bytes
        (gpt-oss's MXFP4 ``*_blocks`` tensors: two FP4 values per uint8, transformers' mxfp4
        integration), twice its elements."""
        if self.dtype == "U8" and self.name.endswith("_blocks"):
            return 2 * self.elements
        return self.elements


@dataclass(frozen=True)
class Checkpoint:
    format: str  # safetensors | gguf
    files: tuple[str, ...]
    tensors: tuple[Tensor, ...]
    metadata: dict[str, Any] = field(default_factory=dict)  # GGUF key/values (arrays as their length)
    version: int = 0  # GGUF version

    @property
    def params(self) -> int:
        return sum(t.params for t in self.tensors)

    @property
    def bytes(self) -> int:
        return sum(t.nbytes for t in self.tensors)

    def by_dtype(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for t in self.tensors:
            row = out.setdefault(t.dtype, {"tensors": 0, "params": 0, "bytes": 0})
            row["tensors"] += 1
            row["params"] += t.params
            row["bytes"] += t.nbytes
        return dict(sorted(out.items(), key=lambda kv: -kv[1]["bytes"]))

    def bits_per_param(self) -> Fraction:
        return Fraction(8 * self.bytes, self.params) if self.params else Fraction(0)


def _fail(path: Path | str, problem: str) -> ConfigError:
    return ConfigError(problem, source=str(path))


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError as err:
        raise _fail(path, err.strerror or str(err)) from None


def _read(path: Path, start: int, n: int) -> bytes:
    try:
        with open(path, "rb") as f:
            f.seek(start)
            data = f.read(n)
    except OSError as err:
        raise _fail(path, err.strerror or str(err)) from None
    if len(data) != n:
        raise _fail(path, f"truncated: {n:,} bytes wanted at offset {start:,}, the file ends at {start + len(data):,}")
    return data


# --- safetensors ----------------------------------------------------------------------------------


def read_safetensors(path: Path) -> list[Tensor]:
    """The tensors one safetensors file declares, checked against its size."""
    path = Path(path)
    size = _size(path)
    if size < 8:
        raise _fail(path, f"truncated: {size} bytes, less than the 8-byte header length")
    (n,) = struct.unpack("<Q", _read(path, 0, 8))
    if n > MAX_HEADER:
        raise _fail(path, f"header length {n:,} bytes is over the {MAX_HEADER:,}-byte cap (safetensors' MAX_HEADER_SIZE)")
    if 8 + n > size:
        raise _fail(path, f"header length {n:,} runs past the end of the file ({size:,} bytes)")
    raw = _read(path, 8, n)
    try:
        header = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise _fail(path, f"header is not UTF-8 (byte {err.start})") from None
    except json.JSONDecodeError as err:
        raise _fail(path, f"header is not JSON: {err.msg} at byte {err.pos}") from None
    except RecursionError:
        raise _fail(path, "header is nested too deeply to read") from None
    if not isinstance(header, dict):
        raise _fail(path, "header is not a JSON object")
    buffer = size - 8 - n
    spans, out = [], []
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        where = f"tensor {shown(name)}"
        if not isinstance(entry, dict):
            raise _fail(path, f"{where}: expected an object with dtype, shape and data_offsets")
        dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
        if dtype not in SAFETENSORS_BITS:
            raise _fail(path, f"{where}: unknown dtype {shown(dtype)}")
        if not isinstance(shape, list) or len(shape) > MAX_DIMS or not all(_uint(d) for d in shape):
            raise _fail(path, f"{where}: shape {shown(shape)} is not a list of at most {MAX_DIMS} non-negative integers")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(_uint(o) for o in offsets)):
            raise _fail(path, f"{where}: data_offsets {shown(offsets)} are not two non-negative integers")
        begin, end = offsets
        if end < begin:
            raise _fail(path, f"{where}: data_offsets end {end:,} before they begin ({begin:,})")
        if end > buffer:
            raise _fail(path, f"{where}: data ends at {end:,}, past the {buffer:,} bytes after the header "
                              "(a truncated file or a wrong offset)")
        t = Tensor(name, dtype, tuple(shape), end - begin, path.name)
        bits = t.elements * SAFETENSORS_BITS[dtype]
        if bits != 8 * (end - begin):
            raise _fail(path, f"{where}: {dtype} {list(shape)} needs {-(-bits // 8):,} bytes, its offsets give {end - begin:,}")
        spans.append((begin, end, name))
        out.append(t)
    spans.sort()
    at = 0
    for begin, end, name in spans:
        if begin < at:
            raise _fail(path, f"tensor {shown(name)}: its data overlaps the previous tensor's (offset {begin:,} < {at:,})")
        if begin > at:
            raise _fail(path, f"a hole in the data: {begin - at:,} bytes at offset {at:,} belong to no tensor")
        at = end
    if at != buffer:
        raise _fail(path, f"the tensors' data ends at {at:,} but the file holds {buffer:,} bytes after the header")
    return out


def _uint(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**63


def safetensors_files(folder: Path) -> list[Path] | None:
    """The safetensors files a folder's checkpoint consists of (its index's shards, or every
    *.safetensors file), or None when it holds none."""
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        return _index_shards(index)
    found = sorted(p for p in folder.glob("*.safetensors") if p.is_file())
    return found or None


def _index_shards(index: Path) -> list[Path]:
    if _size(index) > MAX_INDEX:
        raise _fail(index, f"over {MAX_INDEX // 2**20} MiB: not a checkpoint index")
    try:
        data = json.loads(index.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError, OSError) as err:
        raise _fail(index, f"unreadable index: {str(err)[:120]}") from None
    wm = data.get("weight_map") if isinstance(data, dict) else None
    if not isinstance(wm, dict):
        raise _fail(index, "no weight_map object")
    names = set()
    for tensor, file in wm.items():
        if not isinstance(file, str) or not re.fullmatch(r"[^/\\\x00]+\.safetensors", file) or file in (".", ".."):
            raise _fail(index, f"weight_map: tensor {shown(tensor)} names {shown(file)}, not a .safetensors file "
                               "beside the index")
        names.add(file)
    if len(names) > MAX_SHARDS:
        raise _fail(index, f"{len(names):,} shards: more than {MAX_SHARDS:,}")
    shards = [index.parent / f for f in sorted(names)]
    for s in shards:
        if not s.is_file():
            raise _fail(s, f"a shard the index names is missing ({index.name})")
    return shards


def read_safetensors_folder(folder: Path) -> Checkpoint | None:
    files = safetensors_files(folder)
    if files is None:
        return None
    tensors, seen = [], {}
    for f in files:
        for t in read_safetensors(f):
            if t.name in seen:
                raise _fail(f, f"tensor {shown(t.name)} is also in {seen[t.name]}")
            seen[t.name] = f.name
            tensors.append(t)
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        wm = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        for name, file in wm.items():
            if seen.get(name) != file:
                where = f"it is in {seen[name]}" if name in seen else "no shard holds it"
                raise _fail(index, f"weight_map puts tensor {shown(name)} in {file}, but {where}")
    return Checkpoint("safetensors", tuple(f.name for f in files), tuple(tensors))



def is_gguf(path: str | os.PathLike) -> bool:
    return str(path).endswith(".gguf")

