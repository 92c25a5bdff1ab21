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
MAX_STRING = 16 * 1024 * 1024  # bytes of one GGUF string (a key, a tensor name, a metadata value)
MAX_TENSORS = 1_000_000  # tensors in one file (DeepSeek-V3's 163 FP8 shards hold ~91,000 in all)
MAX_KV = 1_000_000  # GGUF metadata entries
MAX_ARRAY = 1 << 24  # elements of one GGUF metadata array (a 256k-token vocabulary and its merges fit)

# safetensors dtypes (safetensors' Dtype enum) -> bits per element
SAFETENSORS_BITS = {
    "BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8, "I16": 16, "U16": 16, "F16": 16,
    "BF16": 16, "I32": 32, "U32": 32, "F32": 32, "I64": 64, "U64": 64, "F64": 64, "C64": 64,
    "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6,
}

# ggml types: id -> (name, elements per block, bytes per block); ggml.c type_traits / ggml-common.h
GGML_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20), 6: ("Q5_0", 32, 22),
    7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 9: ("Q8_1", 32, 36), 10: ("Q2_K", 256, 84), 11: ("Q3_K", 256, 110),
    12: ("Q4_K", 256, 144), 13: ("Q5_K", 256, 176), 14: ("Q6_K", 256, 210), 15: ("Q8_K", 256, 292),
    16: ("IQ2_XXS", 256, 66), 17: ("IQ2_XS", 256, 74), 18: ("IQ3_XXS", 256, 98), 19: ("IQ1_S", 256, 50),
    20: ("IQ4_NL", 32, 18), 21: ("IQ3_S", 256, 110), 22: ("IQ2_S", 256, 82), 23: ("IQ4_XS", 256, 136),
    24: ("I8", 1, 1), 25: ("I16", 1, 2), 26: ("I32", 1, 4), 27: ("I64", 1, 8), 28: ("F64", 1, 8),
    29: ("IQ1_M", 256, 56), 30: ("BF16", 1, 2), 34: ("TQ1_0", 256, 54), 35: ("TQ2_0", 256, 66),
    39: ("MXFP4", 32, 17), 40: ("NVFP4", 64, 36), 41: ("Q1_0", 128, 18),
}
# GGUF metadata value types: id -> (name, struct format; "" for string and array)
GGUF_VALUES = {0: ("uint8", "<B"), 1: ("int8", "<b"), 2: ("uint16", "<H"), 3: ("int16", "<h"), 4: ("uint32", "<I"),
               5: ("int32", "<i"), 6: ("float32", "<f"), 7: ("bool", "<?"), 8: ("string", ""), 9: ("array", ""),
               10: ("uint64", "<Q"), 11: ("int64", "<q"), 12: ("float64", "<d")}
GGUF_ALIGNMENT = 32


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


# --- GGUF -----------------------------------------------------------------------------------------


class _Reader:
    """Sequential little-endian reads from a file whose size bounds every count (buffered in
    1 MiB chunks: a tokenizer's vocabulary is hundreds of thousands of short strings)."""

    CHUNK = 1 << 20

    def __init__(self, path: Path):
        self.path, self.size, self.pos = path, _size(path), 0
        try:
            self.f = open(path, "rb")
        except OSError as err:
            raise _fail(path, err.strerror or str(err)) from None
        self.buf, self.at = b"", 0  # bytes read ahead, and where self.pos sits in them

    def left(self) -> int:
        return self.size - self.pos

    def take(self, n: int, what: str) -> bytes:
        if n > self.left():
            raise _fail(self.path, f"truncated: {what} needs {n:,} bytes at offset {self.pos:,}, "
                                   f"the file ends at {self.size:,}")
        if self.at + n > len(self.buf):
            rest = self.buf[self.at:]
            more = self.f.read(max(n - len(rest), self.CHUNK))
            self.buf, self.at = rest + more, 0
            if len(self.buf) < n:
                raise _fail(self.path, f"truncated: {what} at offset {self.pos:,}")
        data = self.buf[self.at:self.at + n]
        self.at += n
        self.pos += n
        return data

    def unpack(self, fmt: str, what: str) -> Any:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt), what))[0]

    def count(self, fmt: str, what: str, each: int) -> int:
        """A count whose items take at least ``each`` bytes apiece: refused when the rest of the file
        cannot hold that many."""
        n = self.unpack(fmt, what)
        if n * each > self.left():
            raise _fail(self.path, f"{what} {n:,} is more than the file's remaining {self.left():,} bytes can hold")
        return n

    def string(self, what: str, fmt: str) -> str:
        n = self.count(fmt, f"{what} length", 1)
        if n > MAX_STRING:
            raise _fail(self.path, f"{what} of {n:,} bytes is over the {MAX_STRING:,}-byte cap")
        raw = self.take(n, what)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise _fail(self.path, f"{what} at offset {self.pos - n:,} is not UTF-8") from None

    def skip_string(self, what: str, fmt: str) -> None:
        self.skip(self.count(fmt, f"{what} length", 1), what)

    def skip(self, n: int, what: str) -> None:
        """Move past ``n`` bytes without reading them (beyond what is buffered, by seeking)."""
        if n > self.left():
            raise _fail(self.path, f"truncated: {what} needs {n:,} bytes at offset {self.pos:,}, "
                                   f"the file ends at {self.size:,}")
        if self.at + n <= len(self.buf):
            self.at += n
        else:
            self.f.seek(self.pos + n)
            self.buf, self.at = b"", 0
        self.pos += n


def read_gguf(path: Path) -> Checkpoint:
    path = Path(path)
    r = _Reader(path)
    try:
        return _gguf(r)
    finally:
        r.f.close()


def _gguf(r: _Reader) -> Checkpoint:
    path = r.path
    if r.size < 4 or r.take(4, "magic") != b"GGUF":
        raise _fail(path, "not a GGUF file (no GGUF magic)")
    version = r.unpack("<I", "version")
    if version not in (1, 2, 3):
        raise _fail(path, f"GGUF version {version} is not 1, 2 or 3")
    cfmt = "<I" if version == 1 else "<Q"  # v1 wrote counts and lengths in 32 bits
    n_tensors = r.count(cfmt, "tensor count", 4 + 4 + 4 + 8)
    n_kv = r.count(cfmt, "metadata count", 4 + 4 + 1)
    if n_tensors > MAX_TENSORS:
        raise _fail(path, f"tensor count {n_tensors:,} is over the cap of {MAX_TENSORS:,}")
    if n_kv > MAX_KV:
        raise _fail(path, f"metadata count {n_kv:,} is over the cap of {MAX_KV:,}")
    meta: dict[str, Any] = {}
    for _ in range(n_kv):
        key = r.string("metadata key", cfmt)
        vtype = r.unpack("<I", f"type of {key}")
        meta[key] = _value(r, vtype, key, cfmt)
    alignment = meta.get("general.alignment", GGUF_ALIGNMENT)
    if not isinstance(alignment, int) or isinstance(alignment, bool) or alignment < 1 or alignment > 2**30:
        raise _fail(path, f"general.alignment {shown(alignment)} is not a positive integer")
    infos = []
    for _ in range(n_tensors):
        name = r.string("tensor name", cfmt)
        nd = r.unpack("<I", f"dimensions of {name}")
        if nd > MAX_DIMS:
            raise _fail(path, f"tensor {shown(name)}: {nd:,} dimensions (at most {MAX_DIMS})")
        dims = tuple(r.unpack(cfmt, f"dimension of {name}") for _ in range(nd))
        gtype = r.unpack("<I", f"type of {name}")
        offset = r.unpack("<Q", f"offset of {name}")
        if gtype not in GGML_TYPES:
            raise _fail(path, f"tensor {shown(name)}: unknown ggml type {gtype}")
        infos.append((name, dims, gtype, offset))
    data_start = -(-r.pos // alignment) * alignment
    data = r.size - data_start
    out, spans, seen = [], [], set()
    for name, dims, gtype, offset in infos:
        tname, block, size = GGML_TYPES[gtype]
        elements = 1
        for d in dims:
            elements *= d
        where = f"tensor {shown(name)}"
        if name in seen:
            raise _fail(path, f"{where} appears twice")
        seen.add(name)
        if dims and dims[0] % block:
            raise _fail(path, f"{where}: {tname} needs rows of a multiple of {block} elements, ne[0] = {dims[0]:,}")
        nbytes = elements // block * size
        if offset % alignment:
            raise _fail(path, f"{where}: offset {offset:,} is not a multiple of the alignment {alignment}")
        if offset + nbytes > data:
            raise _fail(path, f"{where}: data [{offset:,}, {offset + nbytes:,}) runs past the end of the file "
                              f"({data:,} bytes of tensor data after the header)")
        spans.append((offset, offset + nbytes, name))
        out.append(Tensor(name, tname, dims, nbytes, path.name))
    spans.sort()
    for (b0, e0, n0), (b1, _, n1) in zip(spans, spans[1:]):
        if b1 < e0:
            raise _fail(path, f"tensor {shown(n1)}: its data overlaps {shown(n0)}'s (offset {b1:,} < {e0:,})")
    return Checkpoint("gguf", (path.name,), tuple(out), meta, version)


def _value(r: _Reader, vtype: int, key: str, cfmt: str) -> Any:
    if vtype not in GGUF_VALUES:
        raise _fail(r.path, f"metadata {shown(key)}: unknown value type {vtype}")
    name, fmt = GGUF_VALUES[vtype]
    if name == "string":
        return r.string(f"metadata {key}", cfmt)
    if name != "array":
        return r.unpack(fmt, f"metadata {key}")
    etype = r.unpack("<I", f"element type of {key}")
    if etype not in GGUF_VALUES or GGUF_VALUES[etype][0] == "array":
        raise _fail(r.path, f"metadata {shown(key)}: array of unknown or nested type {etype}")
    ename, efmt = GGUF_VALUES[etype]
    each = 8 if ename == "string" else struct.calcsize(efmt)
    n = r.count(cfmt, f"length of {key}", each)
    if n > MAX_ARRAY:
        raise _fail(r.path, f"metadata {shown(key)}: an array of {n:,} elements is over the cap of {MAX_ARRAY:,}")
    if ename == "string":  # skipped, as their count is all a reader needs (tokenizer vocabularies)
        for _ in range(n):
            r.skip_string(f"element of {key}", cfmt)
        return ArrayInfo(ename, n)
    if n <= 64:
        return list(struct.unpack(f"<{n}{efmt[1:]}", r.take(n * each, f"metadata {key}")))
    r.skip(n * each, f"metadata {key}")
    return ArrayInfo(ename, n)


@dataclass(frozen=True)
class ArrayInfo:
    """A long GGUF array, kept as its element type and length."""

    type: str
    length: int


def read_checkpoint(ref: Path) -> Checkpoint | None:
    """The checkpoint at a path: a .gguf file, a .safetensors file, or a folder of safetensors."""
    ref = Path(ref)
    if ref.is_file() and ref.suffix == ".gguf":
        return read_gguf(ref)
    if ref.is_file() and ref.suffix == ".safetensors":
        return Checkpoint("safetensors", (ref.name,), tuple(read_safetensors(ref)))
    if ref.is_dir():
        return read_safetensors_folder(ref)
    return None


def is_gguf(path: str | os.PathLike) -> bool:
    return str(path).endswith(".gguf")


# --- a GGUF file's architecture, from its metadata ---------------------------------------------------

# llama.cpp architectures attncalc reads from GGUF metadata (llama.cpp src/llama-arch.cpp LLM_KV names:
# "{arch}.block_count", "{arch}.embedding_length", "{arch}.attention.head_count" ...), with what
# each implies beyond the keys (llama.cpp src/llama-model.cpp: Gemma 2's every other layer sliding,
# Gemma 3's five of six; Gemma's GELU; Qwen2's q/k/v biases are tensors, read from the file).
GGUF_ARCHITECTURES = {
    "llama": dict(activation="silu"), "qwen2": dict(activation="silu"), "qwen3": dict(activation="silu", qk_norm="head"),
    "qwen2moe": dict(activation="silu"), "qwen3moe": dict(activation="silu", qk_norm="head"),
    "gemma": dict(activation="gelu"), "gemma2": dict(activation="gelu", block_norms=4, sliding_window_pattern=2),
    "gemma3": dict(activation="gelu", block_norms=4, qk_norm="head", sliding_window_pattern=6),
}


def gguf_architecture(ck: Checkpoint, source: str):
    """The Architecture a GGUF file's metadata describes, or None for an architecture attncalc does
    not read from GGUF (the file's contents are still reported)."""
    from .arch import from_mapping

    m = ck.metadata
    arch = m.get("general.architecture")
    if arch not in GGUF_ARCHITECTURES:
        return None
    names = {t.name: t for t in ck.tensors}

    def key(k: str, default: Any = None, required: bool = True) -> Any:
        v = m.get(f"{arch}.{k}", default)
        if isinstance(v, list) and v and all(x == v[0] for x in v):
            v = v[0]  # a per-layer list that is the same for every layer
        if v is None and required:
            raise ConfigError("missing from the GGUF metadata", source=source, field=f"{arch}.{k}")
        if v is not None and (isinstance(v, bool) or not isinstance(v, int)):
            raise ConfigError(f"expected one integer, got {shown(v if not isinstance(v, ArrayInfo) else 'a per-layer array')}",
                              source=source, field=f"{arch}.{k}")
        return v

    d, heads = key("embedding_length"), key("attention.head_count")
    tokens = m.get("tokenizer.ggml.tokens")
    vocab = m.get(f"{arch}.vocab_size") or (tokens.length if isinstance(tokens, ArrayInfo) else None)
    emb = names.get("token_embd.weight")
    if vocab is None and emb is not None and len(emb.shape) == 2:
        vocab = emb.shape[1]
    if vocab is None:
        raise ConfigError("no vocabulary size (no vocab_size key, tokenizer tokens or token_embd.weight)", source=source,
                          field=f"{arch}.vocab_size")
    experts = key("expert_count", 0, required=False) or 1
    fields = dict(vocab_size=vocab, d_model=d, n_layers=key("block_count"), n_heads=heads,
                  n_kv_heads=key("attention.head_count_kv", heads, required=False),
                  d_head=key("attention.key_length", None, required=False), d_ff=key("feed_forward_length", None, required=False),
                  mlp="gated", norm="rmsnorm", positions="rotary", n_ctx=key("context_length", 2048, required=False),
                  unembedding="untied" if "output.weight" in names else "tied",
                  qkv_bias="blk.0.attn_q.bias" in names, out_bias="blk.0.attn_output.bias" in names,
                  n_experts=experts, top_k=key("expert_used_count", 1, required=False) if experts > 1 else 1,
                  name=str(m.get("general.name") or Path(source).stem)[:256], family=f"gguf {arch}",
                  source=f"GGUF metadata ({source})")
    if experts > 1 and key("expert_feed_forward_length", None, required=False):
        fields["d_ff_expert"] = key("expert_feed_forward_length")
    if experts > 1 and "blk.0.ffn_gate_shexp.weight" in names:
        fields["n_shared_experts"] = 1
        fields["d_ff_shared"] = key("expert_shared_feed_forward_length", None, required=False) or \
            names["blk.0.ffn_gate_shexp.weight"].shape[-1]
    fields |= GGUF_ARCHITECTURES[arch]
    if arch in ("gemma2", "gemma3"):
        fields["sliding_window"] = key("attention.sliding_window", 4096, required=False)
    return from_mapping({k: v for k, v in fields.items() if v is not None}, source=source)
