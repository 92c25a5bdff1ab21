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
- :class:`Act`: an activation tensor one instance keeps for the backward pass. Korthikanti et al.
  2022 (sec. 4.1): every operation keeps its inputs, in 16 bits (dropout masks in one byte); each
  part declares the tensors its operations keep, once, and the activation memory of any model is a
  walk over them (``core.memory.activations``).

How tensor parallelism splits a weight (Shoeybi et al. 2019, Megatron-LM sec. 3) is part of its
description too (``Weight.split``): column-parallel matrices (Q, K, V, the MLP's first matrices)
split their output rows, row-parallel ones (the attention output, the MLP's last matrix) their input
columns, vocabulary tables their rows; norms, routers and row-parallel biases are replicated.
``Weight.module`` names the projection a weight belongs to (q, k, v, o, gate, up, down, …), as
LoRA targets it (Hu et al. 2021); one head's slice of ``q`` is a Weight of module ``q``.

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
        "cross_pairs",  # (decoder query, encoder key) pairs of one head: cross-attention reaches every encoder token
        "selected_pairs",  # pairs a sparse attention attends to: each query's top-k of its mask's keys (DeepSeek-V3.2)
        # a chunked scan (Mamba-2's SSD) pads each sequence up to a multiple of its chunk (Op.chunk) and
        # works on every padded position: ceil(seq / chunk) x chunk per sequence; 0 in a decode step
        "padded_positions",
        # its chunk-to-chunk state pass: (chunks + 1)^2 per sequence, the initial state counted as a
        # chunk (transformers' torch path, an einsum over the decay matrix); 0 in a decode step
        "chunk_pairs",
        # a linear attention's chunked form (gated DeltaNet, KDA): ceil(seq / chunk) chunks per sequence,
        # the last padded to a full chunk (Op.chunk); 0 in a decode step
        "chunks",
        "decode_tokens")  # tokens of a decode step (0 in a forward pass): work only the recurrent step does


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
    chunk: int = 0  # over padded_positions / chunk_pairs / chunks: the chunk length the sequence is padded to


# Where an activation tensor is kept (Korthikanti et al. 2022 sec. 4.2): inside the tensor-parallel
# regions it is split t ways; outside them (norm inputs, the inputs of the first linear layers,
# dropout masks after the row-parallel layers) only with sequence parallelism.
SHARDS = ("inner", "outer")
# When a tensor is kept: always; with dropout; when the S x S scores are materialised (no flash
# kernel, no selective recomputation); with a flash kernel (its softmax statistics).
KEEP = ("dropout", "scores", "flash")
# Bytes per element: the 16-bit activations, one-byte dropout masks, fp32 (router probabilities,
# softmax statistics), and the logits' dtype for the cross-entropy.
ACT_DTYPES = ("act", "mask", "fp32", "logits")


@dataclass(frozen=True)
class Act:
    name: str
    formula: str  # in Korthikanti's symbols (s, b, h, a, t ...), shown with the figure
    over: str  # tokens | scores (b (s/cp) s per head: the full score matrix, mask or not) | encoder_tokens | cross_scores
    width: int  # elements per unit of ``over``
    shard: str = "inner"
    dtype: str = "act"
    when: tuple[str, ...] = ()  # every condition must hold (KEEP)
    kind: str = "activation"  # activation | scores | mask | stats | input
    numbered: bool = False  # in a Part of count k: k tensors named name.format(i) (norm_1_input, norm_2_input)


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
    split: str = "col"  # tensor parallelism: col | row | vocab (split t ways) | none (replicated)
    whole: int = 0  # elements of this tensor every tensor-parallel rank keeps whole (a row-parallel bias in a fused bias vector)
    module: str = ""  # the projection it belongs to (LoRA targets), "" when not a linear layer
    saves: tuple[Act, ...] = ()  # tensors applying it keeps for the backward pass

    def tp_elements(self, t: int) -> int:
        """Elements of one instance on tensor-parallel rank 0 (ceil: rank 0 is the most loaded)."""
        n = self.rows * self.cols
        if t == 1 or self.split == "none":
            return n
        return -(-(n - self.whole) // t) + self.whole


@dataclass(frozen=True)
class Part:
    name: str
    label: str
    children: tuple["Part | Weight | Op | Act", ...]
    count: int = 1
    active: int | None = None  # routed: instances run per token (None: every instance runs)
    flop_label: str = ""
    pattern: Pattern | None = None  # a block kind: its attention's reach
    trained: bool = True  # the training loss reaches it, so a backward pass runs through it


def part(name: str, label: str, *children: "Part | Weight | Op | Act | None", count: int = 1,
         active: int | None = None, flop_label: str = "", pattern: Pattern | None = None,
         trained: bool = True) -> Part:
    """A Part; ``None`` children (absent parts) are dropped."""
    return Part(name, label, tuple(c for c in children if c is not None), count, active, flop_label, pattern,
                trained)


def bias(name: str, label: str, rows: int, formula: str, over: str = "tokens", kind: str = "bias",
         split: str = "col", whole: int = 0) -> Weight:
    """A bias vector (rows = 0: absent); applying it adds one per element. A column-parallel layer's
    bias is split with its outputs; a row-parallel layer's is added after the all-reduce, whole on
    every rank (``split="none"``)."""
    return Weight(name, label, rows, 1, formula, kind, over=None, work=Op(name, label, over, rows, "bias"),
                  split=split, whole=whole)


def norm(name: str, label: str, params: int, width: int, cost: str, formula: str,
         saves: tuple[Act, ...] = ()) -> Weight:
    """A LayerNorm / RMSNorm over ``width`` features with ``params`` parameters (scale, bias),
    replicated on every tensor-parallel rank."""
    return Weight(name, label, params, 1, formula, "norm", over=None, work=Op(name, label, "tokens", width, cost),
                  split="none", saves=saves)
