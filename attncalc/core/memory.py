"""Bytes: weights for a dtype, the KV cache, and mixed-precision Adam training state.

- Weights: parameters x bytes per element of the dtype (int4 packs two per byte, rounded up).
- KV cache: 2 (a key and a value) x n_layers x n_kv_heads x d_head x bytes per token and sequence
  (Pope et al. 2022, "Efficiently Scaling Transformer Inference", sec. 2); grouped-query attention
  shrinks it by n_heads / n_kv_heads; a sliding window caps the tokens kept at the window.
- Training state, mixed precision with Adam: 16 bytes per parameter, 2 (bf16/fp16 weights) + 2
  (gradients) + 4 (fp32 master weights) + 4 + 4 (Adam moments): Rajbhandari et al. 2020 (ZeRO),
  sec. 3.1.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from ..spec.arch import Architecture
from ..errors import WorkloadError

# One table of dtype spellings for every command (count, compare, check, and run's own subset):
# canonical name -> (bytes per element, other spellings). Spellings are matched case-insensitively,
# ignoring "-" and "_" (so float8_e4m3fn, FP8-E4M3 and e4m3 all read as fp8). Sizes: IEEE 754
# binary64/32/16; bfloat16 and tf32 as stored (16 and 32 bits); OCP 8-bit floating point (E4M3,
# E5M2); int4 packs two values per byte.
DTYPES: dict[str, tuple[Fraction, tuple[str, ...]]] = {
    "fp64": (Fraction(8), ("float64", "f64", "double")),
    "fp32": (Fraction(4), ("float32", "f32", "single", "tf32")),
    "bf16": (Fraction(2), ("bfloat16",)),
    "fp16": (Fraction(2), ("float16", "f16", "half")),
    "fp8": (Fraction(1), ("float8", "f8", "e4m3", "e5m2", "fp8_e4m3", "fp8_e5m2", "float8_e4m3fn", "float8_e5m2")),
    "int8": (Fraction(1), ("i8",)),
    "int4": (Fraction(1, 2), ("i4",)),
}


def _key(name: str) -> str:
    return name.strip().lower().replace("-", "").replace("_", "")


_ALIASES: dict[str, str] = {_key(a): canon for canon, (_, alts) in DTYPES.items() for a in (canon, *alts)}
DTYPE_BYTES: dict[str, Fraction] = {a: DTYPES[c][0] for a, c in _ALIASES.items()}


def dtype_choices() -> str:
    """'fp64 (float64, f64, double), fp32 (float32, …), …' for help and error messages."""
    return "; ".join(f"{c} ({', '.join(alts)})" for c, (_, alts) in DTYPES.items())


def canonical_dtype(name: str) -> str:
    """The canonical spelling of a dtype (``float32`` -> ``fp32``), or a WorkloadError listing them."""
    canon = _ALIASES.get(_key(name)) if isinstance(name, str) and len(name) < 40 else None
    if canon is None:
        from ..errors import shown

        raise WorkloadError(f"unknown dtype {shown(name)}; use one of {dtype_choices()}")
    return canon


TRAINING_STATE = {"weights (bf16)": 2, "gradients (bf16)": 2, "master weights (fp32)": 4,
                  "Adam first moment (fp32)": 4, "Adam second moment (fp32)": 4}


def dtype_bytes(dtype: str) -> Fraction:
    return DTYPES[canonical_dtype(dtype)][0]


def nbytes(elements: int, dtype: str) -> int:
    """Exact bytes for ``elements`` values of ``dtype``, rounded up to whole bytes."""
    b = elements * dtype_bytes(dtype)
    return -(-b.numerator // b.denominator)


def kv_tokens(a: Architecture, context: int) -> int:
    return min(context, a.sliding_window) if a.sliding_window else context


def kv_cache_per_token_per_block(a: Architecture, dtype: str) -> int:
    return nbytes(2 * a.kv_heads * a.head_dim, dtype)


def memory_summary(a: Architecture, summary: dict[str, Any], *, dtype: str, batch: int,
                   context: int, kv_dtype: str | None = None) -> dict[str, Any]:
    dtype = canonical_dtype(dtype)
    kv_dtype = canonical_dtype(kv_dtype or dtype)
    per_block_token = kv_cache_per_token_per_block(a, kv_dtype)
    kept = kv_tokens(a, context)
    kv_block = per_block_token * batch * kept
    per_param_training = sum(TRAINING_STATE.values())
    return {
        "dtype": dtype,
        "weights": {"total": nbytes(summary["total"], dtype), "per_block": nbytes(summary["per_block"], dtype)},
        "kv_cache": {
            "dtype": kv_dtype, "batch": batch, "context": context, "tokens_kept": kept,
            "per_token": per_block_token * a.n_layers, "per_token_per_block": per_block_token,
            "per_block": kv_block, "total": kv_block * a.n_layers,
        },
        "training": {
            "bytes_per_param": per_param_training,
            "breakdown": {k: v * summary["total"] for k, v in TRAINING_STATE.items()},
            "per_block": per_param_training * summary["per_block"],
            "total": per_param_training * summary["total"],
        },
    }
