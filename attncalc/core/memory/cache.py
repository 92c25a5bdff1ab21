"""Bytes: weights for a dtype, the KV cache, and mixed-precision Adam training state.

- Weights: parameters x bytes per element of the dtype (int4 packs two per byte, rounded up).
- KV cache: per token, every block keeps what its description marks as cached: for multi-head and
  grouped-query attention a key and a value per key/value head, 2 x n_kv_heads x d_head numbers
  (Pope et al. 2022, "Efficiently Scaling Transformer Inference", sec. 2), times bytes per number;
  a sliding window (or a chunk) caps the tokens a block keeps.
- Encoder-decoder (T5): the per-token cache is the decoder's self-attention keys and values; each
  decoder block also keeps its cross-attention keys and values of the encoder's tokens, computed
  once per sequence (``cross_per_sequence``: 2 x n_heads x d_head x encoder_seq per decoder block).
- Hybrids (Jamba): Mamba layers keep no KV cache but a recurrent state per sequence, whatever the
  context (``state_per_sequence``: d_inner x (d_state + d_conv) per Mamba layer, transformers'
  HybridMambaAttentionDynamicCache).
- ``total`` is every byte the cache holds for the batch: the per-token part at the context, plus
  the per-sequence parts.
- Training state, mixed precision with Adam: 16 bytes per parameter, 2 (bf16/fp16 weights) + 2
  (gradients) + 4 (fp32 master weights) + 4 + 4 (Adam moments): Rajbhandari et al. 2020 (ZeRO),
  sec. 3.1.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...spec.arch import Architecture
from ..evaluate import cached_numbers, cross_cached_numbers, kinds, state_numbers
from ..figures import Params
from ..workload import Mask
from ...dtypes import canonical_dtype, nbytes

TRAINING_STATE = {"weights (bf16)": 2, "gradients (bf16)": 2, "master weights (fp32)": 4,
                  "Adam first moment (fp32)": 4, "Adam second moment (fp32)": 4}


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
    cross_per_sequence: int = 0  # encoder-decoder: cross-attention K and V of the encoder's tokens, all decoder blocks
    state_per_sequence: int = 0  # hybrids: Mamba layers' recurrent state (SSM state and conv window)


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


@dataclass(frozen=True)
class KindCache:
    """What one layer of a block kind keeps between decode steps, read off its description."""

    name: str
    count: int  # layers of this kind
    per_token: int  # numbers per cached token (keys and values, or MLA's latent and rotary key)
    per_sequence: int  # numbers per sequence whatever the context (a Mamba layer's state)
    per_encoder_token: int  # numbers per encoder token (cross-attention keys and values)
    window: int | None  # tokens kept at most (a sliding window or chunk)


def cache_kinds(a: Architecture) -> list[KindCache]:
    """Every block kind with what one of its layers caches: the one walk `count`, `explain` and
    serving read."""
    out = []
    for kind in kinds(a):
        p = kind.pattern
        window = (p.window or p.chunk) if p is not None else None
        out.append(KindCache(kind.name, kind.count, cached_numbers(kind), state_numbers(kind),
                             cross_cached_numbers(kind), window))
    return out


def kept_tokens(kind_pattern, context: int) -> int:
    """Tokens a block kind's cache keeps at a context: its window or chunk caps it."""
    p = kind_pattern
    return Mask(True, p.window if p else None, p.chunk if p else None).kept(context)


def kv_tokens(a: Architecture, context: int) -> int:
    """Tokens the first block kind keeps (every block, for a model of one kind)."""
    return kept_tokens(kinds(a)[0].pattern, context)


def kv_cache(a: Architecture, *, dtype: str, batch: int, context: int, encoder_seq: int | None = None) -> KvCache:
    """The KV cache of ``batch`` sequences at ``context`` tokens, block kind by block kind (an
    encoder-decoder's cross-attention cache at ``encoder_seq`` encoder tokens, default ``context``)."""
    per_token = total = cross = state = 0
    first = None
    enc = context if encoder_seq is None else encoder_seq
    for kind in kinds(a):
        kept = kept_tokens(kind.pattern, context)
        b = nbytes(cached_numbers(kind), dtype)
        per_token += kind.count * b
        total += kind.count * b * batch * kept
        cross += kind.count * nbytes(cross_cached_numbers(kind) * enc, dtype)
        state += kind.count * nbytes(state_numbers(kind), dtype)
        if first is None and (b or kind is kinds(a)[-1]):  # the first kind that keeps a cache
            first = (kept, b, b * batch * kept)
    kept, per_token_per_block, per_block = first
    total += batch * (cross + state)
    return KvCache(dtype, batch, context, kept, per_token, per_token_per_block, per_block, total, cross, state)


def memory_of(a: Architecture, p: Params, *, dtype: str, batch: int, context: int,
              kv_dtype: str | None = None, encoder_seq: int | None = None) -> Memory:
    dtype = canonical_dtype(dtype)
    kv_dtype = canonical_dtype(kv_dtype or dtype)
    per_param = sum(TRAINING_STATE.values())
    return Memory(
        dtype=dtype,
        weights=Weights(nbytes(p.total, dtype), nbytes(p.per_block, dtype)),
        kv_cache=kv_cache(a, dtype=kv_dtype, batch=batch, context=context, encoder_seq=encoder_seq),
        training=TrainingState(per_param, {k: v * p.total for k, v in TRAINING_STATE.items()},
                               per_param * p.per_block, per_param * p.total),
    )
