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

DTYPE_BYTES: dict[str, Fraction] = {
    "fp32": Fraction(4), "float32": Fraction(4), "tf32": Fraction(4),
    "bf16": Fraction(2), "fp16": Fraction(2), "float16": Fraction(2), "bfloat16": Fraction(2),
    "fp8": Fraction(1), "int8": Fraction(1), "int4": Fraction(1, 2),
}
TRAINING_STATE = {"weights (bf16)": 2, "gradients (bf16)": 2, "master weights (fp32)": 4,
                  "Adam first moment (fp32)": 4, "Adam second moment (fp32)": 4}


def dtype_bytes(dtype: str) -> Fraction:
    try:
        return DTYPE_BYTES[dtype.lower()]
    except KeyError:
        raise WorkloadError(f"unknown dtype {dtype!r}; use one of {', '.join(DTYPE_BYTES)}") from None


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
    kv_dtype = kv_dtype or dtype
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
