"""A model, described once: the embedding, an ordered stack of block kinds (each with its count),
the final norm, the unembedding and the pooler.

A block is attention + MLP + its norms + two residual adds (pre-norm: Radford et al. 2019; a
parallel block, GPT-J / GPT-NeoX / Falcon, reads one norm's output into both). Layers differ by
- their attention's reach: every k-th layer full and the others local (a sliding window or a
  chunk): Gemma 2/3 (``sliding_window_pattern``), gpt-oss (``layer_types``), Llama 4 (chunked
  attention, full attention on its NoPE layers);
- their MLP: dense layers before the first mixture-of-experts layer (DeepSeek's
  ``first_k_dense_replace``), then experts every k-th layer (``moe_layer_freq``,
  ``decoder_sparse_step``, ``interleave_moe_layer_step``: layer i when i % k == offset);
- their mixer: attention, or a Mamba layer (core.parts.mamba) in a hybrid: Jamba's layer i is an
  attention layer when i % attn_layer_period == attn_layer_offset (Lieber et al. 2024, sec. 2);
- dense layers after the last MoE layer too (ERNIE 4.5's ``moe_layer_end_index``,
  ``modeling_ernie4_5_moe.py`` ``Ernie4_5_MoeDecoderLayer``);
- whether their attention applies rotary positions: NoPE layers (SmolLM3's ``no_rope_layers``,
  ``modeling_smollm3.py`` ``SmolLM3Attention.use_rope``; Cohere 2 and EXAONE 4 apply none on their
  full-attention layers). No parameter or FLOP changes, but ``count`` and ``explain`` name them.
An encoder-decoder model (T5) is described by core.parts.encdec: an encoder kind and a decoder kind.
Layers that agree on both are one block kind; the stack lists each kind once with its count, in
the order of its first layer. A model of one kind is ``block`` x n_layers.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Callable
from math import lcm

from ...errors import ConfigError
from ...spec.arch import Architecture
from ..workload import Pattern
from .altup import input_parts, layer_parts, output_part
from .attention import attention
from .base import Op, Part, Weight, part
from .encdec import encoder_decoder
from .ends import block_norms, embedding, final_norm, norm_of, pooler, unembedding
from .mamba import mamba
from .mlp import mlp

MAX_PERIOD = 1 << 16  # layer patterns repeat within this many layers


@dataclass(frozen=True)
class Layer:
    """What a layer is, as far as counting goes."""

    reach: str  # full | sliding | chunked
    moe: bool
    mixer: str = "attention"  # a key of MIXERS (spec.arch.MIXER_CODES names them)
    kv_shared: bool = False  # reads an earlier layer's keys and values, caches none (Gemma 3n)
    rope: bool = True  # False: a NoPE layer (its attention applies no rotary embedding)
    mlp: bool = True  # False: a block without a feed-forward (Nemotron-H's Mamba and attention blocks)

    def pattern(self, a: Architecture) -> Pattern:
        if self.reach == "sliding":
            return Pattern(window=a.sliding_window)
        if self.reach == "chunked":
            return Pattern(chunk=a.attention_chunk)
        return Pattern(topk=a.index_topk) if a.index_heads else Pattern()


def layer_at(a: Architecture, i: int) -> Layer:
    local = "sliding" if a.sliding_window else ("chunked" if a.attention_chunk else "full")
    k = a.sliding_window_pattern
    reach = "full" if (k and (i + 1) % k == 0) else local
    if a.ffn_pattern:
        moe, has_mlp = a.ffn_pattern[i] == "E", a.ffn_pattern[i] != "-"
    else:
        moe = a.is_moe and a.first_dense_layers <= i < a.n_layers - a.last_dense_layers and i % a.moe_every == a.moe_offset
        has_mlp = True
    mixer = a.mixer_at(i)
    rope = not (a.no_rope_every and (i + 1) % a.no_rope_every == 0)
    kv_shared = i >= a.n_layers - a.kv_shared_layers if a.kv_shared_layers else False
    return Layer(reach, moe, mixer, kv_shared, rope, has_mlp)


def pattern_period(a: Architecture) -> int:
    """Layers after which the kinds repeat (between the first and last dense layers); a pattern
    written out layer by layer (``mixer_pattern``, ``ffn_pattern``) makes the whole stack one period."""
    period = lcm(a.sliding_window_pattern or 1, a.moe_every, a.attention_every, a.no_rope_every or 1)
    return lcm(period, a.n_layers) if (a.mixer_pattern or a.ffn_pattern) else period


def layer_counts(a: Architecture, lo: int = 0, hi: int | None = None) -> list[tuple[Layer, int, int]]:
    """(layer kind, count, first layer index) of the decoder layers lo..hi-1 (default: all), in order
    of first appearance; counted by arithmetic over one period of the pattern, so a model of a
    billion layers costs no more than one of 32."""
    hi = a.n_layers if hi is None else min(hi, a.n_layers)
    lo = max(lo, 0)
    period = pattern_period(a)
    if period > MAX_PERIOD:
        raise ConfigError(f"layer pattern repeats every {period:,} layers; at most {MAX_PERIOD:,} supported",
                          source=a._origin or None, field="sliding_window_pattern")
    found: dict[Layer, list[int]] = {}

    def add(lo: int, hi: int) -> None:  # layers lo..hi-1, within which a layer's kind depends on i % period only
        if hi <= lo:
            return
        for r in range(period):
            first = lo + (r - lo) % period
            if first < hi:
                entry = found.setdefault(layer_at(a, first), [0, first])
                entry[0] += (hi - 1 - first) // period + 1
                entry[1] = min(entry[1], first)

    # the pattern repeats except at boundaries: the first dense layers and the last dense layers
    # (a dense MLP whatever the pattern says) and the last KV-sharing layers; count each stretch apart
    dense_head = min(a.first_dense_layers, a.n_layers)
    dense_tail = max(dense_head, a.n_layers - a.last_dense_layers)
    shared = a.n_layers - a.kv_shared_layers
    cuts = sorted({lo, hi} | {min(max(c, lo), hi) for c in (dense_head, dense_tail, shared)})
    for s_lo, s_hi in zip(cuts, cuts[1:]):
        add(s_lo, s_hi)
    return sorted(((k, n, first) for k, (n, first) in found.items()), key=lambda t: t[2])


def kind_name(layer: Layer, varies: set[str]) -> tuple[str, str]:
    """A name and label that say what sets this kind apart from the model's other kinds."""
    words = []
    if "mixer" in varies:
        words.append(layer.mixer)
    if "reach" in varies:
        words.append(layer.reach)
    if "mlp" in varies and not layer.mlp:
        words.append("no_mlp")
    elif "moe" in varies or "mlp" in varies:
        words.append("moe" if layer.moe else "dense")
    if "kv_shared" in varies:
        words.append("shared_kv" if layer.kv_shared else "own_kv")
    if "rope" in varies:
        words.append("rope" if layer.rope else "nope")
    name = "_".join(words) or "block"
    label = {"block": "block"}.get(name, " ".join(words).replace("moe", "MoE").replace("_kv", " KV")
                                   .replace("nope", "NoPE").replace("rope", "RoPE").replace("no_mlp", "no MLP")
                                   .replace("_", " ") + " block")
    return name, label


# Each mixer a layer can have, built from the architecture and the layer (spec.arch.MIXER_CODES
# names them). A new mixer kind is one module in core.parts and one entry here.
MIXERS: dict[str, Callable[[Architecture, Layer], Part | None]] = {
    "attention": lambda a, layer: attention(a, layer.kv_shared),
    "mamba": lambda a, layer: mamba(a),
    "none": lambda a, layer: None,
}


def block(a: Architecture, layer: Layer, count: int, name: str = "block", label: str = "block") -> Part:
    return part(
        name, label,
        MIXERS[layer.mixer](a, layer),
        mlp(a, layer.moe) if layer.mlp else None,
        block_norms(a, a.norms_per_block),
        Op("residual", "residual adds", "tokens", 2 * a.d_model, "residual"),
        *layer_parts(a),  # Gemma 3n: AltUp, LAuReL, per-layer input
        count=count, pattern=layer.pattern(a),
    )


def _names(a: Architecture) -> dict[Layer, tuple[str, str]]:
    counts = layer_counts(a)
    varies = {f for f in ("mixer", "reach", "moe", "kv_shared", "rope", "mlp") if len({getattr(k, f) for k, _, _ in counts}) > 1}
    return {k: kind_name(k, varies) for k, _, _ in counts}


def stack(a: Architecture) -> tuple[Part, ...]:
    names = _names(a)
    return tuple(block(a, k, n, *names[k]) for k, n, _ in layer_counts(a))


def stack_layers(a: Architecture) -> int:
    """Layers of the whole stack in execution order: an encoder-decoder's encoder layers, then its
    decoder layers (the order a pipeline deals them to stages)."""
    return a.encoder_layers + a.n_layers


def kinds_in(a: Architecture, lo: int, hi: int) -> dict[str, int]:
    """How many layers of each block kind (by its name in ``describe``) the layers lo..hi-1 of the
    stack hold: what a pipeline stage holding those layers holds. By arithmetic over the pattern."""
    if a.is_encoder_decoder:
        enc = a.encoder_layers
        out = {"encoder": max(0, min(hi, enc) - max(lo, 0)), "decoder": max(0, min(hi, enc + a.n_layers) - max(lo, enc))}
        return {k: n for k, n in out.items() if n}
    names = _names(a)
    return {names[k][0]: n for k, n, _ in layer_counts(a, lo, hi)}


@lru_cache(maxsize=64)
def describe(a: Architecture) -> Part:
    """The whole model; ``blocks`` holds one Part per block kind, in order, each with its count."""
    if a.is_encoder_decoder:
        return encoder_decoder(a)
    emb = embedding(a)
    extra = input_parts(a)  # Gemma 3n: per-layer embeddings and AltUp streams, with the embedding
    return part(
        "model", a.name,
        replace(emb, children=emb.children + tuple(extra)) if extra else emb,
        part("blocks", "blocks", *stack(a)),
        output_part(a),
        final_norm(a),
        unembedding(a),
        pooler(a),
    )


@lru_cache(maxsize=64)
def describe_mtp(a: Architecture) -> Part | None:
    """DeepSeek-V3's multi-token prediction modules (sec. 2.2): per module two RMSNorms (of the
    previous depth's hidden state and of the next token's embedding), a projection of their
    concatenation (d_model x 2 d_model), one transformer block (a MoE block) and its output norm.
    The embedding and output head are shared with the main model in use, but the checkpoint stores a
    copy of each with every module (``model.layers.61.embed_tokens``, ``.shared_head.head``), and
    its 685B (DeepSeek-V3 README_WEIGHTS: 671B main + 11.5B unique MTP + the two 0.9B copies)
    counts them: so does this. Not part of ``describe``: the main model runs without them, and
    transformers does not build them."""
    if not a.mtp_layers:
        return None
    moe_layer = Layer("full" if not (a.sliding_window or a.attention_chunk) else "sliding", a.is_moe)
    return part(
        "mtp", "multi-token prediction",
        part("module", "module",
             part("norms", "input norms", norm_of(a, "norm", "norm"), count=2),
             Weight("projection", "projection (M)", a.d_model, 2 * a.d_model, "d_model × 2 d_model"),
             block(a, moe_layer, 1),
             norm_of(a, "output_norm", "output norm"),
             Weight("embedding_copy", "embedding (checkpoint copy)", a.vocab_size, a.d_model, "vocab_size × d_model",
                    "embedding", over=None),
             Weight("head_copy", "output head (checkpoint copy)", a.vocab_size, a.d_model, "vocab_size × d_model",
                    "unembedding")),
        count=a.mtp_layers,
    )


def block_kinds(model: Part) -> tuple[Part, ...]:
    return next(c for c in model.children if c.name == "blocks").children
