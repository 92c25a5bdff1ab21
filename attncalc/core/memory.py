"""Bytes: weights for a dtype, the KV cache, and mixed-precision Adam training state.

- Weights: parameters x bytes per element of the dtype (int4 packs two per byte, rounded up).
- KV cache: per token, every block keeps what its description marks as cached: for multi-head and
  grouped-query attention a key and a value per key/value head, 2 x n_kv_heads x d_head numbers
  (Pope et al. 2022, "Efficiently Scaling Transformer Inference", sec. 2), times bytes per number;
  a sliding window (or a chunk) caps the tokens a block keeps.
- Training state, mixed precision with Adam: 16 bytes per parameter, 2 (bf16/fp16 weights) + 2
  (gradients) + 4 (fp32 master weights) + 4 + 4 (Adam moments): Rajbhandari et al. 2020 (ZeRO),
  sec. 3.1.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING

from ..errors import WorkloadError
from ..spec.arch import Architecture
from .evaluate import cached_numbers, kinds
from .workload import Mask

if TYPE_CHECKING:
    from .report import Params

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


@dataclass(frozen=True)
class Weights:
    total: int
    per_block: int


@dataclass(frozen=True)
class KvCache:
    dtype: str
    batch: int
    context: int
    tokens_kept: int
    per_token: int
    per_token_per_block: int
    per_block: int
    total: int


@dataclass(frozen=True)
class TrainingState:
    bytes_per_param: int
    breakdown: dict[str, int]
    per_block: int
    total: int


@dataclass(frozen=True)
class Memory:
    dtype: str
    weights: Weights
    kv_cache: KvCache
    training: TrainingState


def kv_cache(a: Architecture, *, dtype: str, batch: int, context: int) -> KvCache:
    """The KV cache of ``batch`` sequences at ``context`` tokens, block kind by block kind."""
    per_token = per_block = total = 0
    first = None
    for kind in kinds(a):
        p = kind.pattern
        kept = Mask(True, p.window if p else None, p.chunk if p else None).kept(context)
        b = nbytes(cached_numbers(kind), dtype)
        per_token += kind.count * b
        total += kind.count * b * batch * kept
        if first is None:
            first = (kept, b, b * batch * kept)
    kept, per_token_per_block, per_block = first
    return KvCache(dtype, batch, context, kept, per_token, per_token_per_block, per_block, total)


def memory_of(a: Architecture, p: "Params", *, dtype: str, batch: int, context: int,
              kv_dtype: str | None = None) -> Memory:
    per_param = sum(TRAINING_STATE.values())
    return Memory(
        dtype=dtype,
        weights=Weights(nbytes(p.total, dtype), nbytes(p.per_block, dtype)),
        kv_cache=kv_cache(a, dtype=kv_dtype or dtype, batch=batch, context=context),
        training=TrainingState(per_param, {k: v * p.total for k, v in TRAINING_STATE.items()},
                               per_param * p.per_block, per_param * p.total),
    )
