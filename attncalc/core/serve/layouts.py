"""How each engine lays out one token of one layer's cache: named KV formats, per block kind.

Read off the one description (``core.memory.cache.cache_kinds`` and each kind's pattern), never off
raw layer counts: a block kind that keeps keys and values per token is an attention layer (full, a
sliding window, or a chunk), one that keeps a latent is multi-head latent attention, one that keeps
numbers per sequence only is a Mamba / linear-attention state.

Bytes per token per layer on one tensor-parallel rank, by format (each a named layout):

- ``bf16`` / ``fp16`` / ``fp32``: K and V of the rank's key/value heads, 2 × h_kv/t × d_head × bytes
  (vLLM ``AttentionSpec.real_page_size_bytes``; SGLang ``profile_max_num_token`` cell; TensorRT-LLM
  ``get_cache_size_per_token``). h_kv/t is ``max(1, n_kv_heads // tp)``: with tp > n_kv_heads each
  rank keeps one replicated head (vLLM ``ModelConfig.get_num_kv_heads``, SGLang
  ``get_num_kv_heads``).
- ``fp8``: one byte per number; the scales are one fp32 per layer (``k_scale``, ``v_scale``), not per
  token (vLLM ``--kv-cache-dtype fp8``; SGLang ``fp8_e4m3`` / ``fp8_e5m2``; TensorRT-LLM FP8 KV).
- ``nvfp4``: FP4 E2M1 values with one E4M3 scale per 16 (TensorRT-LLM's NVFP4 KV cache; NVIDIA,
  "Introducing NVFP4", 2025): 1/2 + 1/16 byte per number; the per-tensor fp32 scale is per layer.
- MLA (DeepSeek-V2 sec. 2.1.2): one latent of kv_lora_rank plus the rotary key of qk_rope_head_dim per
  token, whole on every rank (no head to split): (r + d_rope) × bytes.
- ``fp8_ds_mla`` (vLLM ``MLAAttentionSpec``, ``flashmla_sparse.py``) and SGLang's NSA pool
  (``NSATokenToKVPool.kv_cache_dim = 656``): the latent in fp8 with one fp32 scale per 128 values and
  the rotary key in bf16: r + r/128 × 4 + 2 d_rope = 512 + 16 + 128 = 656 bytes for DeepSeek-V3.2.
- DeepSeek Sparse Attention's indexer keys (SGLang ``profile_max_num_token``; vLLM
  ``DeepseekV32IndexerCache``): index_head_dim fp8 values and one fp32 scale per 128:
  128 + 4 = 132 bytes per layer per token.
- Mamba / linear-attention state: the kind's per-sequence numbers (conv window and SSM state) in the
  model dtype (vLLM ``MambaSpec.page_size_bytes``; SGLang ``mamba2_cache_params``). A layer with both
  (Falcon-H1: attention and Mamba-2 side by side) gives two specs of the same kind, one of each, as
  vLLM registers the attention module's and the mixer's spec apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from ...dtypes import canonical_dtype, dtype_bytes
from ...errors import WorkloadError
from ...spec.arch import Architecture
from ..evaluate import kinds
from ..memory.cache import KindCache, cache_kinds

KV_FORMATS = ("auto", "bf16", "fp16", "fp32", "fp8", "fp8_e4m3", "fp8_e5m2", "fp8_ds_mla", "nvfp4")


@dataclass(frozen=True)
class LayerSpec:
    """One block kind's cache on one tensor-parallel rank, as an engine stores it."""

    kind: str  # block kind name (core.parts.model)
    spec: str  # full | sliding | chunked | mla | mamba
    layers: int  # layers of this kind in the whole model
    token_bytes: Fraction  # one token, one layer, this rank (0 for a state)
    sequence_bytes: int  # one sequence, one layer (a Mamba / linear-attention state)
    window: int | None  # tokens kept at most (sliding window or chunk)
    layout: str  # the named format
    formula: str
    indexer_bytes: int = 0  # DeepSeek Sparse Attention: the indexer key per token, its own cache
    budget_token_bytes: Fraction | None = None  # what the engine's budget charges, when it differs from the store

    def as_dict(self) -> dict:
        d = {"kind": self.kind, "spec": self.spec, "layers": self.layers, "token_bytes": _num(self.token_bytes),
             "sequence_bytes": self.sequence_bytes, "window": self.window, "layout": self.layout,
             "formula": self.formula}
        if self.indexer_bytes:
            d["indexer_bytes"] = self.indexer_bytes
        if self.budget_token_bytes is not None:
            d["budget_token_bytes"] = _num(self.budget_token_bytes)
        return d


def _num(x: Fraction | int):
    x = Fraction(x)
    return x.numerator if x.denominator == 1 else str(x)


def kv_format(kv_dtype: str, model_dtype: str) -> str:
    """The KV cache format a ``--kv-cache-dtype`` names ('auto': the model's dtype)."""
    t = kv_dtype.strip().lower()
    if t not in KV_FORMATS:
        try:
            t = canonical_dtype(t)
        except WorkloadError:
            raise WorkloadError(f"--kv-cache-dtype: unknown {kv_dtype!r}; use one of {', '.join(KV_FORMATS)}") from None
    if t == "auto":
        return canonical_dtype(model_dtype)
    if t in ("fp8_e4m3", "fp8_e5m2"):
        return "fp8"
    return t


def number_bytes(fmt: str) -> Fraction:
    """Bytes per cached number in a plain format (nvfp4: the value and its share of the block scale)."""
    if fmt == "nvfp4":
        return Fraction(1, 2) + Fraction(1, 16)
    if fmt == "fp8_ds_mla":
        return Fraction(1)
    return dtype_bytes(fmt)


def indexer_numbers(a: Architecture) -> int:
    """Numbers per token of DeepSeek Sparse Attention's indexer key (0 without an indexer). The
    description keeps it beside the latent when the model has one (``index_heads``)."""
    return getattr(a, "index_head_dim", 0) if getattr(a, "index_heads", 0) else 0


def heads_per_rank(a: Architecture, tp: int) -> int:
    """Key/value heads one rank keeps: max(1, n_kv_heads // tp) (vLLM ``get_num_kv_heads``)."""
    return max(1, a.kv_heads // tp)


def layer_specs(a: Architecture, engine: str, *, tp: int, kv_dtype: str, model_dtype: str = "bf16") -> list[LayerSpec]:
    """Every block kind that keeps a cache, as ``engine`` stores it on one tensor-parallel rank."""
    if a.is_encoder_decoder:
        raise WorkloadError(f"{a.name}: an encoder-decoder model; the engine rules here cover decoder-only models")
    fmt = kv_format(kv_dtype, model_dtype)
    out = []
    for kc, kind in zip(cache_kinds(a), kinds(a)):
        if kc.per_token == 0 and kc.per_sequence == 0:
            continue
        if kc.per_token:
            out.append(_attention_spec(a, engine, kc, kind.pattern, tp, fmt))
        if kc.per_sequence:  # a state mixer; Falcon-H1's layers keep both (vLLM registers each module's own spec)
            state_dtype = canonical_dtype(model_dtype)
            b = kc.per_sequence * dtype_bytes(state_dtype)
            out.append(LayerSpec(kc.name, "mamba", kc.count, Fraction(0), int(-(-b // 1)), None,
                                 f"state ({state_dtype})", f"{kc.per_sequence:,} state numbers × {dtype_bytes(state_dtype)} B"))
    return out


def _attention_spec(a: Architecture, engine: str, kc: KindCache, pattern, tp: int, fmt: str) -> LayerSpec:
    spec = "full"
    window = None
    if pattern is not None and pattern.window:
        spec, window = "sliding", pattern.window
    elif pattern is not None and pattern.chunk:
        spec, window = "chunked", pattern.chunk
    if a.is_latent:
        idx = indexer_numbers(a)
        latent = kc.per_token - idx
        r, rope = a.kv_lora_rank, a.rope_dim
        idx_bytes = idx + idx // 128 * 4 if idx else 0
        if fmt == "fp8_ds_mla" or (engine == "sglang" and idx and fmt == "fp8"):
            if r + rope != latent:
                raise WorkloadError(f"{a.name}: the fp8_ds_mla layout needs the latent to be kv_lora_rank + "
                                    f"qk_rope_head_dim numbers")
            b = Fraction(r + r // 128 * 4 + 2 * rope)
            name = "fp8_ds_mla" if engine != "sglang" else "NSA fp8 latent (NSATokenToKVPool)"
            formula = f"{r} fp8 latent + {r // 128} fp32 scales + {rope} bf16 rotary = {b} B"
            budget = Fraction(latent) if engine == "sglang" else None  # 0.5.4's cell: (r + d_rope) × 1
            return LayerSpec(kc.name, "mla", kc.count, b, 0, window, name, formula, idx_bytes, budget)
        if fmt == "nvfp4":
            raise WorkloadError("--kv-cache-dtype nvfp4: no engine stores an MLA latent in NVFP4 in these rules")
        nb = number_bytes(fmt)
        return LayerSpec(kc.name, "mla", kc.count, latent * nb, 0, window, f"MLA latent ({fmt})",
                         f"({r} latent + {rope} rotary) × {nb} B", idx_bytes)
    if fmt == "fp8_ds_mla":
        raise WorkloadError("--kv-cache-dtype fp8_ds_mla applies to latent attention (DeepSeek-V3.2) only")
    heads = heads_per_rank(a, tp)
    numbers = Fraction(kc.per_token * heads, a.kv_heads)
    nb = number_bytes(fmt)
    per_head = Fraction(kc.per_token, 2 * a.kv_heads)
    return LayerSpec(kc.name, spec, kc.count, numbers * nb, 0, window, f"K+V ({fmt})",
                     f"2 × {heads} KV heads × {per_head} × {nb} B")
