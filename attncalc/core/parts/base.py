"""The vocabulary a model is described in, once, before anything is counted.

- :class:`Weight`: one parameter tensor of one instance (rows x cols), with everything any
  evaluation needs: its counting kind, what a matmul with it runs over, the element-wise work
  applying it implies (a norm, a bias add, a position add), whether it is tied to another weight
  (no parameters of its own; its matmul still runs) and whether its output is kept in the KV cache.
- :class:`Op`: work with no parameters of its own: the attention core over (query, key) pairs,
  or element-wise work (softmax, activations, residual adds).
- :class:`Part`: a named node holding ``count`` instances of its children, of which ``active`` run
  per token when routed (experts: 8 held, 2 run). A block kind is a Part with a ``pattern`` (how far
  its attention reaches).

``core.evaluate`` turns a description into parameter and FLOP trees (``core.tree.Node``), KV bytes
and the counting conventions; nothing else reads the architecture's dimensions again.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..workload import Pattern

# What a matmul or an element-wise op runs over, per pass:
OVER = ("tokens",  # every token through the pass (routed parts: the tokens routed to them)
        "pairs",  # (query, key) pairs of one head, all sequences together (the block kind's mask)
        "positions",  # relative position encodings, shared by the batch (Transformer-XL's R)
        "sequences",  # one row per sequence (BERT's pooler on the first token)
        "encoder_tokens",  # every token of the encoder's input (an encoder-decoder's encoder stack, cross K and V)
        "cross_pairs")  # (decoder query, encoder key) pairs of one head: cross-attention reaches every encoder token


@dataclass(frozen=True)
class Op:
    name: str
    label: str
    over: str
    width: int  # elements per unit of `over`; for the attention core, multiply-accumulates per pair
    cost: str = ""  # element-wise: a key of workload.ELEMENTWISE
    kind: str = "elementwise"  # or "attention" (the core's pair products, counted like matmuls), "product"
    # (a product of two activations, counted like a matmul: Mamba's C . state readout), "state" (no work:
    # numbers a sequence keeps between decode steps, `width` per sequence: Mamba's recurrent state)
    heads: int = 1  # the attention core written per head: heads x pairs x width
    variant: str = ""  # counted only under this latent-attention convention (naive | absorbed); "" always


@dataclass(frozen=True)
class Weight:
    name: str
    label: str
    rows: int
    cols: int
    formula: str  # the shape in names, e.g. "d_head × d_model"
    kind: str = "matrix"  # matrix | bias | norm | embedding | position | unembedding | vocab_bias
    over: str | None = "tokens"  # a matmul over these; None: applied without a matmul
    work: Op | None = None  # the element-wise work its application implies
    shared: bool = False  # tied to another weight: counted once, there
    cached: bool = False  # its output per token is kept in the KV cache
    flop_label: str = ""  # its label in FLOP trees, when it reads differently there


@dataclass(frozen=True)
class Part:
    name: str
    label: str
    children: tuple["Part | Weight | Op", ...]
    count: int = 1
    active: int | None = None  # routed: instances run per token (None: every instance runs)
    flop_label: str = ""
    pattern: Pattern | None = None  # a block kind: its attention's reach
    trained: bool = True  # the training loss reaches it, so a backward pass runs through it


def part(name: str, label: str, *children: "Part | Weight | Op | None", count: int = 1,
         active: int | None = None, flop_label: str = "", pattern: Pattern | None = None,
         trained: bool = True) -> Part:
    """A Part; ``None`` children (absent parts) are dropped."""
    return Part(name, label, tuple(c for c in children if c is not None), count, active, flop_label, pattern,
                trained)


def bias(name: str, label: str, rows: int, formula: str, over: str = "tokens", kind: str = "bias") -> Weight:
    """A bias vector (rows = 0: absent); applying it adds one per element."""
    return Weight(name, label, rows, 1, formula, kind, over=None, work=Op(name, label, over, rows, "bias"))


def norm(name: str, label: str, params: int, width: int, cost: str, formula: str) -> Weight:
    """A LayerNorm / RMSNorm over ``width`` features with ``params`` parameters (scale, bias)."""
    return Weight(name, label, params, 1, formula, "norm", over=None, work=Op(name, label, "tokens", width, cost))
