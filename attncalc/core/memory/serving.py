"""Serving memory per GPU and fit: weights + KV cache + the activation peak of a prefill chunk.

- Weights under tensor parallelism: the rank-0 share of ``layout.stage_params`` (matrices
  and vocab tables split t ways, norms/row-parallel biases/router replicated), in the weights
  format (a ``quant.QuantScheme``: bits counted with their scales, then split t ways).
- KV cache (Pope et al. 2022 §2): 2 (K and V) × blocks × KV heads on the rank × d_head × bytes per
  token kept. With t ≤ n_kv_heads each rank holds ceil(n_kv_heads / t) heads; with t > n_kv_heads
  the KV heads are replicated so every rank holds one (vLLM, Megatron: a query head's rank needs
  its K and V). A sliding window caps the tokens kept.
- Prefill activation peak: while a chunk of c tokens (of b sequences) passes one block, the live
  tensors are the residual stream (2cbh, not split) plus the largest of: the Q/K/V projection output
  2cb(a + 2 n_kv)d_head / t; the scores and softmax output of the rank's heads against the cached
  context (2 × 2·a/t·c·ctx·b, absent with a FlashAttention kernel, which keeps c·b·a/t fp32 row
  statistics); the MLP intermediate 2cb·d_ff·(2 if gated)/t (MoE: top_k × that). The logits of
  the last position only (fp32, b·v/t) are added (an engine samples from the last position).
  Nothing else (CUDA graphs, the engine's scratch) is counted: use the allowance.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from ...errors import WorkloadError
from ...spec.arch import Architecture
from .activations import whole
from ...dtypes import dtype_bytes
from ..evaluate import cached_numbers, cross_cached_numbers, kinds, state_numbers
from .cache import kept_tokens, kv_tokens
from .layout import Parallelism, check_pp, check_tp, placed, stage_kinds, stage_params
from .quant import QuantScheme, leaf_bits


@dataclass(frozen=True)
class ServingSetup:
    batch: int = 1
    context: int = 2048
    tp: int = 1
    pp: int = 1
    quant: QuantScheme = QuantScheme()
    kv_dtype: str = "bf16"
    prefill_chunk: int | None = None  # tokens per prefill chunk (default: the whole context)
    flash: bool = True
    act_bytes: int = 2
    allowance: int = 0


def kv_heads_per_rank(a: Architecture, tp: int) -> int:
    return max(1, -(-a.kv_heads // tp))


def _weights_bits(s: ServingSetup):
    def bits(w, elements: int, expert: bool = False) -> Fraction:
        return Fraction(leaf_bits(s.quant, w, expert) * elements, max(w.rows * w.cols, 1))
    return bits


def stage_weights(a: Architecture, s: ServingSetup) -> list[int]:
    """Weight bytes on tensor-parallel rank 0 of each pipeline stage: each weight's exact bits
    (scales included) times the share of its elements the rank holds."""
    return [whole(st.measured / 8) for st in stage_params(a, Parallelism(tp=s.tp, pp=s.pp), _weights_bits(s))]


def weights_per_gpu(a: Architecture, s: ServingSetup) -> int:
    """Rank 0 of the most-loaded stage."""
    return max(stage_weights(a, s))


def stage_kv(a: Architecture, s: ServingSetup, held: dict[str, int], context: int, batch: int) -> int:
    """The cache one tensor-parallel rank of a stage holding ``held`` layers (kind -> count) keeps:
    kind by kind (a window or chunk caps what a kind keeps), each key/value head on ceil(n_kv_heads /
    tp) ranks' worth; a latent-attention cache (one latent and rotary key per token, DeepSeek-V2
    sec. 2.1.2) is needed whole by every rank, so it is replicated, not split."""
    total = Fraction(0)
    for kind in kinds(a):
        n = held.get(kind.name, 0)
        if not n:
            continue
        numbers = cached_numbers(kind) if (a.is_latent or not cached_numbers(kind)) else \
            2 * kv_heads_per_rank(a, s.tp) * a.head_dim  # Mamba layers and an encoder keep no KV cache
        total += n * numbers * dtype_bytes(s.kv_dtype) * kept_tokens(kind.pattern, context) * batch
        # per sequence: cross-attention K, V of an encoder-decoder (at encoder_seq = context), split like the
        # key/value heads; a Mamba layer's recurrent state, whole on every rank (core.memory.cache.kv_cache)
        per_seq = Fraction(cross_cached_numbers(kind) * kv_heads_per_rank(a, s.tp), a.kv_heads) * context \
            + state_numbers(kind)
        total += n * per_seq * dtype_bytes(s.kv_dtype) * batch
    return whole(total)


def kv_cache_per_gpu(a: Architecture, s: ServingSetup, context: int | None = None, batch: int | None = None) -> int:
    """The cache of the stage that keeps the most, on one tensor-parallel rank."""
    ctx = s.context if context is None else context
    b = s.batch if batch is None else batch
    return max(stage_kv(a, s, held, ctx, b) for held in stage_kinds(a, s.pp))


@dataclass(frozen=True)
class PrefillPeak:
    """The live tensors while a prefill chunk passes the largest layer (bytes on one rank)."""

    chunk: int
    residual: int
    largest: str
    largest_bytes: int
    logits: int
    candidates: dict[str, int]

    @property
    def total(self) -> int:
        return self.residual + self.largest_bytes + self.logits


def _mlp_width(a: Architecture, t: int) -> int:
    """The widest MLP intermediate one token makes on a rank, over the block kinds: the outputs of
    the MLP's column-parallel matrices (gate and up), for the experts a token runs (top_k) and the
    shared experts."""
    widest = 0
    for kind in kinds(a):
        mlp = next((c for c in kind.children if c.name == "mlp"), None)
        if mlp is None:
            continue
        w = 0
        for weight, times, experts in placed(mlp):
            if weight.split == "col" and weight.module in ("gate", "up"):
                copies = times if experts is None else times // experts * next(
                    c.active for c in mlp.children if getattr(c, "active", None) is not None)
                w += copies * -(-weight.rows // t)
        widest = max(widest, w)
    return widest


def prefill_peak(a: Architecture, s: ServingSetup, context: int | None = None, batch: int | None = None) -> PrefillPeak:
    ctx = s.context if context is None else context
    b = s.batch if batch is None else batch
    c = min(ctx, s.prefill_chunk or ctx)
    t, B = s.tp, s.act_bytes
    heads = -(-a.n_heads // t)
    kv = kv_heads_per_rank(a, t)
    seen = kv_tokens(a, ctx)
    if a.is_latent:  # queries and the decompressed keys and values (DeepSeek-V2 sec. 2.1)
        qkv = heads * (a.head_dim + a.rope_dim) + heads * (a.head_dim + a.rope_dim) + heads * a.value_dim
    else:
        qkv = (heads + 2 * kv) * a.head_dim
    cands = {
        "qkv_output": B * c * b * qkv,
        "mlp_intermediate": B * c * b * _mlp_width(a, t),
    }
    if s.flash:
        cands["attention_stats"] = 4 * c * b * heads + B * c * b * heads * a.value_dim
    else:
        cands["scores_and_softmax"] = 2 * B * heads * c * seen * b
    largest = max(cands, key=cands.get)
    residual = B * c * b * a.d_model
    logits = 4 * b * -(-a.vocab_size // t) if a.unembedding != "none" else 0
    return PrefillPeak(c, residual, largest, cands[largest], logits, cands)


@dataclass(frozen=True)
class ServingMemory:
    """The most-loaded GPU serving a model (bytes)."""

    weights: int
    kv_cache: int
    activations: int
    allowance: int
    prefill: PrefillPeak
    kv_heads_per_gpu: int | None  # None: a latent cache, whole on every rank

    @property
    def total(self) -> int:
        return self.weights + self.kv_cache + self.activations + self.allowance


def serving_per_gpu(a: Architecture, s: ServingSetup, context: int | None = None,
                    batch: int | None = None) -> ServingMemory:
    """The most-loaded GPU: per pipeline stage, its weights and its layers' cache, plus the prefill
    activation peak; the stage with the largest total."""
    ctx = s.context if context is None else context
    b = s.batch if batch is None else batch
    act = prefill_peak(a, s, ctx, b)
    rows = [(w, stage_kv(a, s, held, ctx, b)) for w, held in zip(stage_weights(a, s), stage_kinds(a, s.pp))]
    w, kv = max(rows, key=lambda r: r[0] + r[1])
    return ServingMemory(w, kv, act.total, s.allowance, act, None if a.is_latent else kv_heads_per_rank(a, s.tp))


LIMIT = 1 << 40  # searching past 2^40 tokens or sequences means "no memory limit in sight"


def _largest(fits, low: int = 1) -> int | None:
    """Largest n >= low with fits(n) (fits monotone decreasing); None if even ``low`` fails;
    LIMIT if it never stops fitting."""
    if not fits(low):
        return None
    hi = low
    while hi < LIMIT and fits(hi * 2):
        hi *= 2
    if hi >= LIMIT:
        return LIMIT
    lo, hi = hi, min(hi * 2, LIMIT)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo


def max_context(a: Architecture, s: ServingSetup, memory: int) -> int | None:
    return _largest(lambda n: serving_per_gpu(a, s, context=n).total <= memory)


def max_batch(a: Architecture, s: ServingSetup, memory: int) -> int | None:
    return _largest(lambda n: serving_per_gpu(a, s, batch=n).total <= memory)


@dataclass(frozen=True)
class ServingFit:
    """Serving at a batch and context, and what fits in ``memory`` bytes per GPU."""

    setup: ServingSetup
    per_gpu: ServingMemory
    memory: int | None
    max_context: int | None  # LIMIT: no limit in sight; None: not even 1 fits (or no budget)
    max_batch: int | None
    n_ctx: int

    @property
    def fits(self) -> bool | None:
        return None if self.memory is None else self.per_gpu.total <= self.memory

    @property
    def fitting_context(self) -> int | None:
        """The largest context that fits (0 when not even one token does); None without a budget."""
        return None if self.memory is None else (self.max_context or 0)


def serving_fit(a: Architecture, s: ServingSetup, memory: int | None) -> ServingFit:
    """memory.serving: per GPU, and with a budget the largest context and batch that fit."""
    for name in ("batch", "context", "tp", "pp", "prefill_chunk"):
        v = getattr(s, name)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise WorkloadError(f"--{name.replace('_', '-')} must be an integer >= 1, got {v!r}")
    check_tp(a, s.tp)
    check_pp(a, s.pp)
    m = serving_per_gpu(a, s)
    mc = mb = None
    if memory is not None:
        mc, mb = max_context(a, s, memory), max_batch(a, s, memory)
    return ServingFit(s, m, memory, mc, mb, a.n_ctx)
