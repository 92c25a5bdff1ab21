"""THE one dtype table: every spelling a command accepts, the bytes an element is stored in, and
the dtype its matrix products run in (which names the hardware peak they use).

Spellings are matched case-insensitively, ignoring "-" and "_" (so float8_e4m3fn, FP8-E4M3 and
e4m3 all read as fp8). Sizes: IEEE 754 binary64/32/16; bfloat16; TF32 is stored as an fp32 and
computed on the tensor cores at TF32 precision (NVIDIA A100 whitepaper, "TF32"); OCP 8-bit
floating point (E4M3, E5M2) and OCP MX FP4 (E2M1, two per byte); int4 packs two values per byte.
Weight-only int4 is dequantised to bf16 for its matmuls (GPTQ/AWQ kernels); every other dtype
computes in itself. The peak a matmul in a dtype runs at is the hardware table's key of the same
name (``hardware/*.toml``: ``dense_flops_per_s.<compute>``).

Standard library only: every layer may import it.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from .errors import WorkloadError, shown


@dataclass(frozen=True)
class Dtype:
    name: str  # canonical spelling, shown in every output
    bytes: Fraction  # storage per element (int4 / fp4: 1/2)
    spellings: tuple[str, ...]
    compute: str  # the dtype its matmuls run in: the hardware peak key


DTYPES: dict[str, Dtype] = {d.name: d for d in (
    Dtype("fp64", Fraction(8), ("float64", "f64", "double"), "fp64"),
    Dtype("fp32", Fraction(4), ("float32", "f32", "single"), "fp32"),
    Dtype("tf32", Fraction(4), ("tensorfloat32",), "tf32"),
    Dtype("bf16", Fraction(2), ("bfloat16",), "bf16"),
    Dtype("fp16", Fraction(2), ("float16", "f16", "half"), "fp16"),
    Dtype("fp8", Fraction(1), ("float8", "f8", "e4m3", "e5m2", "fp8_e4m3", "fp8_e5m2", "float8_e4m3fn", "float8_e5m2"),
          "fp8"),
    Dtype("int8", Fraction(1), ("i8",), "int8"),
    Dtype("fp4", Fraction(1, 2), ("float4", "e2m1", "fp4_e2m1", "float4_e2m1fn_x2"), "fp4"),
    Dtype("int4", Fraction(1, 2), ("i4",), "bf16"),
)}


def _key(name: str) -> str:
    return name.strip().lower().replace("-", "").replace("_", "")


_ALIASES: dict[str, str] = {_key(s): d.name for d in DTYPES.values() for s in (d.name, *d.spellings)}


def dtype_choices() -> str:
    """'fp64 (float64, f64, double); fp32 (float32, …); …' for help and error messages."""
    return "; ".join(f"{d.name} ({', '.join(d.spellings)})" for d in DTYPES.values())


def canonical_dtype(name: str) -> str:
    """The canonical spelling of a dtype (``float32`` -> ``fp32``), or a WorkloadError listing them."""
    canon = _ALIASES.get(_key(name)) if isinstance(name, str) and len(name) < 40 else None
    if canon is None:
        raise WorkloadError(f"unknown dtype {shown(name)}; use one of {dtype_choices()}")
    return canon


def dtype(name: str) -> Dtype:
    return DTYPES[canonical_dtype(name)]


def dtype_bytes(name: str) -> Fraction:
    return dtype(name).bytes


def compute_dtype(name: str) -> str:
    """The dtype a matmul with weights (or inputs) in ``name`` runs in: its hardware peak key."""
    return dtype(name).compute


def nbytes(elements: int, name: str) -> int:
    """Exact bytes for ``elements`` values of ``name``, rounded up to whole bytes."""
    b = elements * dtype_bytes(name)
    return -(-b.numerator // b.denominator)
