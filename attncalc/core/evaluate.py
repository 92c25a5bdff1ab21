"""Evaluations of one model description (core.parts): parameters, FLOPs of a pass, KV numbers per
token, and the counting conventions. Each returns a ``Node`` tree or plain exact integers.

FLOP conventions (each a named option, shown in every output header):
- A multiply-accumulate is 2 FLOPs (``--macs`` reports multiply-accumulates instead). A matmul of
  a (tokens x cols) input by a (cols -> rows) matrix is 2 x tokens x rows x cols FLOPs, as in
  Kaplan et al. 2020 Table 1 and PyTorch's ``torch.utils.flop_counter`` (``mm``: 2 m n k).
- The attention core costs 2 d_head per (query, key) pair for the score and 2 d_head for the
  weighted value (Vaswani et al. 2017 eq. 1); the pairs are the mask's (core.workload).
- ``ops="matmul"`` counts matrix products only; ``ops="all"`` adds the element-wise work priced by
  ``workload.ELEMENTWISE`` (softmax, norms, activations, biases, residual adds).
- Embedding lookups cost nothing; the logits are a matmul even when tied.
- Mixture of experts: each token runs the router and top_k experts (Fedus et al. 2021).
- Encoder-decoder (T5): the encoder stack and the cross-attention's K and V run over the encoder's
  tokens (``encoder_seq`` per sequence); cross-attention pairs are decoder tokens x encoder tokens.
  A decode step runs the decoder only: one new token per sequence attends over the decoder's cache
  (self) and over the encoder's cached keys and values (cross); nothing runs over the encoder.
- Mamba layers (hybrids): see core.parts.mamba and core.parts.mamba2; products of two activations
  (the scan's readout, Mamba-2's chunked SSD) are counted like matmuls; Mamba-2's chunked scan runs
  over each sequence padded up to a multiple of its chunk (``padded_positions``, ``chunk_pairs``).
- Linear attention (gated DeltaNet, Kimi Delta Attention: core.parts.deltanet): a prefill runs the
  chunked form, its products per chunk (``chunks``: each sequence padded up to a multiple of the
  chunk); a decode step runs the recurrent form, element-wise per token (``decode_tokens``).
- Training = forward + backward, the backward 2 x forward (Kaplan et al. 2020 sec. 2.1), plus one
  more forward with full activation recomputation (Korthikanti et al. 2022).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Iterator

from ..spec.arch import Architecture
from .parts.base import Act, Op, Part, Weight
from .parts.model import block_kinds, describe
from .tree import Node, group, leaf
from .workload import ELEMENTWISE, Convention, Mask, Pattern, positive

# --- parameters ---------------------------------------------------------------------------------


def params(node: Part | Weight | Op | Act) -> Node | None:
    """The parameter tree: weights with their shapes; tied weights are counted where they live."""
    if isinstance(node, Weight):
        return None if node.shared else leaf(node.name, node.label, node.rows, node.cols, node.formula, node.kind)
    if isinstance(node, (Op, Act)):
        return None
    return group(node.name, node.label, *(params(c) for c in node.children), count=node.count)


@lru_cache(maxsize=64)
def count_params(a: Architecture) -> Node:
    """The whole model's parameter tree (tied weights counted once)."""
    return params(describe(a))


def weights(node: Part | Weight | Op, times: int = 1) -> Iterator[tuple[Weight, int]]:
    """Every weight of the description (tied ones too) with how many copies the model holds."""
    if isinstance(node, Weight):
        yield node, times
    elif isinstance(node, Part):
        for c in node.children:
            yield from weights(c, times * node.count)


def inactive_params(node: Part | Weight | Op | Act, times: int = 1) -> int:
    """Parameters held but not run per token: the experts a router does not pick (Fedus et al. 2021)."""
    if not isinstance(node, Part):
        return 0
    own = 0
    if node.active is not None:
        each = sum(w.rows * w.cols * t for w, t in weights(replace(node, count=1)) if not w.shared)
        own = times * (node.count - node.active) * each
    return own + sum(inactive_params(c, times * node.count) for c in node.children)


def cached_numbers(kind: Part) -> int:
    """Numbers one block of this kind keeps in the KV cache per token (keys and values of every
    key/value head: 2 x n_kv_heads x d_head for grouped-query attention). An encoder block keeps
    none: the encoder runs once, before decoding."""
    if kind.pattern is not None and kind.pattern.encoder:
        return 0
    return sum(w.rows * t for w, t in weights(replace(kind, count=1)) if w.cached and w.over == "tokens")


def cross_cached_numbers(kind: Part) -> int:
    """Numbers one decoder block keeps per ENCODER token: its cross-attention keys and values,
    computed once per sequence (2 x n_heads x d_head for T5)."""
    return sum(w.rows * t for w, t in weights(replace(kind, count=1)) if w.cached and w.over == "encoder_tokens")


def ops(node: Part | Weight | Op, times: int = 1) -> Iterator[tuple[Op, int]]:
    """Every op of the description (element-wise work of weights too) with how many copies run."""
    if isinstance(node, Op):
        yield node, times
    elif isinstance(node, Weight):
        if node.work is not None:
            yield node.work, times
    elif isinstance(node, Part):
        for c in node.children:
            yield from ops(c, times * node.count)


def state_numbers(kind: Part) -> int:
    """Numbers one block of this kind keeps per sequence between decode steps, whatever the context:
    a Mamba layer's SSM state and conv window (d_inner x (d_state + d_conv))."""
    return sum(o.width * t for o, t in ops(replace(kind, count=1)) if o.kind == "state")


# --- FLOPs --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Pass:
    """The sizes a pass runs over; ``pairs`` and ``positions`` are set per block kind by its mask."""

    mode: str  # forward | decode
    batch: int
    length: int  # forward: tokens per sequence; decode: tokens already cached
    tokens: int  # tokens through the projections and MLP (routed parts: times the experts run)
    sequences: int  # rows through the pooler (0 when decoding)
    pairs: int = 0
    positions: int = 0
    enc_length: int = 0  # encoder-decoder: tokens per encoder sequence
    enc_tokens: int = 0  # tokens through the encoder (0 when decoding: it ran before)
    cross_pairs: int = 0  # (decoder query, encoder key) pairs of one head
    selected: int = 0  # pairs a sparse attention attends to (DeepSeek Sparse Attention's top-k)

    def units(self, over: str, chunk: int = 0) -> int:
        if over in ("padded_positions", "chunk_pairs", "chunks", "decode_tokens"):
            return self.chunked(over, chunk)
        return {"tokens": self.tokens, "pairs": self.pairs, "positions": self.positions,
                "sequences": self.sequences, "encoder_tokens": self.enc_tokens,
                "cross_pairs": self.cross_pairs, "selected_pairs": self.selected}[over]

    def chunked(self, over: str, chunk: int) -> int:
        """A chunked scan's units (core.parts.base.OVER): none in a decode step but its tokens."""
        if self.mode != "forward":
            return self.tokens if over == "decode_tokens" else 0
        if over == "decode_tokens":
            return 0
        chunks = -(-self.length // chunk)
        if over == "chunks":
            return self.batch * chunks
        return self.batch * (chunks * chunk if over == "padded_positions" else (chunks + 1) ** 2)

    def encoder(self) -> "_Pass | None":
        """The pass through an encoder stack: its tokens, its length; none when decoding."""
        if self.mode != "forward":
            return None
        return replace(self, tokens=self.enc_tokens, length=self.enc_length)

    def under(self, mask: Mask, conv: Convention = Convention(), pattern: Pattern | None = None) -> "_Pass":
        """Per-head pairs and position rows under one block kind's mask (and the pairs its sparse
        attention selects, where it has one)."""
        decode = self.mode != "forward"
        selected = self.batch * conv.selected(mask, pattern, self.length, decode)
        if not decode:
            return replace(self, pairs=self.batch * mask.pairs(self.length), positions=self.length, selected=selected)
        keys = mask.keys_at(self.length)
        return replace(self, pairs=self.batch * keys, positions=keys, selected=selected)


def _flops(node: Part | Weight | Op | Act, w: _Pass, a: Architecture, conv: Convention) -> Node | None:
    k = conv.per_mac
    if isinstance(node, Act):
        return None
    if isinstance(node, Weight):
        if node.rows * node.cols == 0:
            return None
        if node.over is None:
            return _flops(node.work, w, a, conv) if node.work else None
        n, r, c = w.units(node.over), node.rows, node.cols
        return Node(node.name, node.flop_label or node.label, k * n * r * c, shape=(r, c),
                    formula=f"{k} × {n:,} tokens × {r:,} × {c:,}", kind="matmul")
    if isinstance(node, Op):
        if node.variant and node.variant != conv.latent:
            return None
        if node.kind == "state":
            return None
        if node.kind in ("attention", "product"):
            p, h = w.units(node.over, node.chunk), node.heads
            heads = f"{h} heads × " if h != 1 else ""
            unit = {"pairs": "pairs", "cross_pairs": "pairs", "selected_pairs": "selected pairs",
                    "chunks": f"chunks of {node.chunk}"}.get(node.over, node.over.replace("_", " "))
            return Node(node.name, node.label, k * h * p * node.width,
                        formula=f"{k} × {heads}{p:,} {unit} × {node.width if node.kind == 'attention' else f'{node.width:,}'}",
                        kind="attention" if node.kind == "attention" else "matmul", units=p)
        elements = w.units(node.over, node.chunk) * node.width
        if conv.ops != "all" or not elements:
            return None
        cost = ELEMENTWISE[node.cost]
        return Node(node.name, node.label, elements * cost, formula=f"{elements:,} × {cost} ({node.cost})",
                    kind="elementwise")
    count = node.count
    if node.pattern is not None and node.pattern.encoder:
        w = w.encoder()
        if w is None:
            return None
    if node.pattern is not None:
        w = w.under(conv.mask(a, node.pattern), conv, node.pattern)
    if node.active is not None:  # routed: one node for the experts a token runs
        w, count = replace(w, tokens=w.tokens * node.active), 1
    return group(node.name, node.flop_label or node.label, *(_flops(c, w, a, conv) for c in node.children),
                 count=count)


@lru_cache(maxsize=64)  # a command asks for the same pass more than once (training, scaling)
def _pass_tree(a: Architecture, w: _Pass, conv: Convention) -> Node:
    tree = _flops(describe(a), w, a, conv)
    return replace(tree, name=w.mode)


def forward(a: Architecture, batch: int, seq: int, conv: Convention = Convention(),
            encoder_seq: int | None = None) -> Node:
    """A forward pass over ``batch`` sequences of ``seq`` tokens (prefill); an encoder-decoder's
    encoder reads ``encoder_seq`` tokens per sequence (default ``seq``)."""
    positive("batch", batch), positive("seq", seq)
    enc = seq if encoder_seq is None else positive("encoder_seq", encoder_seq)
    enc = enc if a.is_encoder_decoder else 0
    return _pass_tree(a, _Pass("forward", batch, seq, batch * seq, batch, enc_length=enc, enc_tokens=batch * enc,
                               cross_pairs=batch * seq * enc), conv)


def decode(a: Architecture, batch: int, context: int, conv: Convention = Convention(),
           encoder_seq: int | None = None) -> Node:
    """One decode step: one new token per sequence, attending over a cache of ``context`` tokens
    (and, for an encoder-decoder, over the ``encoder_seq`` encoder tokens: default ``context``)."""
    positive("batch", batch), positive("context", context, 0)
    enc = context if encoder_seq is None else positive("encoder_seq", encoder_seq)
    enc = enc if a.is_encoder_decoder else 0
    return _pass_tree(a, _Pass("decode", batch, context, batch, 0, enc_length=enc, cross_pairs=batch * enc), conv)


def training(a: Architecture, tokens: int, seq: int, conv: Convention = Convention(),
             recompute: bool = False, encoder_seq: int | None = None) -> dict[str, int]:
    """Training on ``tokens`` tokens cut into sequences of ``seq``: forward + backward (2 x the
    forward of every part the loss reaches), plus one more forward with full activation
    recomputation. A last partial sequence is counted at its own length."""
    positive("tokens", tokens), positive("seq", seq)
    full, rest = divmod(tokens, seq)
    passes = ([forward(a, full, seq, conv, encoder_seq)] if full else []) + \
        ([forward(a, 1, rest, conv, encoder_seq)] if rest else [])
    untrained = untrained_paths(describe(a))
    fwd = sum(t.total for t in passes)
    reached = fwd - sum(n.each * times for t in passes for path, n, times in t.walk()
                        if path.partition(".")[2] in untrained)
    out = {"tokens": tokens, "seq": seq, "sequences": full + (1 if rest else 0), "forward": fwd,
           "backward": 2 * reached, "recompute": reached if recompute else 0}
    out["total"] = out["forward"] + out["backward"] + out["recompute"]
    return out


def untrained_paths(model: Part) -> set[str]:
    """Dotted paths (below the model) of the parts the training loss sends no gradient through: BERT's
    pooler, DeepSeek-V3.2's lightning indexer (transformers runs it under torch.no_grad)."""
    out: set[str] = set()

    def walk(node: Part, path: str) -> None:
        for c in node.children:
            if isinstance(c, Part):
                here = f"{path}.{c.name}" if path else c.name
                if not c.trained:
                    out.add(here)
                else:
                    walk(c, here)

    walk(model, "")
    return out


def kinds(a: Architecture) -> tuple[Part, ...]:
    """The model's block kinds, in order, each with its count."""
    return block_kinds(describe(a))
