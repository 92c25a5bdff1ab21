"""GGUF files (ggml, ``docs/gguf.md``), from their headers alone: the format is described in
spec/checkpoint.py's docstring with safetensors'; this module reads the key/values and tensor
table (every count bounded by the file's size before anything is allocated), and the
Architecture a file's metadata describes for the llama.cpp architectures attncalc reads.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, shown
from .checkpoint import MAX_DIMS, Checkpoint, Tensor, _fail, _size

MAX_STRING = 16 * 1024 * 1024  # bytes of one GGUF string (a key, a tensor name, a metadata value)
MAX_TENSORS = 1_000_000  # tensors in one file (DeepSeek-V3's 163 FP8 shards hold ~91,000 in all)
MAX_KV = 1_000_000  # GGUF metadata entries
MAX_ARRAY = 1 << 24  # elements of one GGUF metadata array (a 256k-token vocabulary and its merges fit)

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
