"""The parts of a pass as the roofline sees them: every leaf of a FLOP tree with the bytes it moves
(weights, activations, KV cache), read off the one description (core.evaluate's trees, the block
kinds' caches). See ``core.time.roofline`` for the model and its references."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from ...dtypes import nbytes
from ...spec.arch import Architecture
from ..memory.cache import cache_kinds
from ..tree import Node
from .setup import Setup


def ceil(x: Fraction | int) -> int:
    x = Fraction(x)
    return -(-x.numerator // x.denominator)


@dataclass(frozen=True)
class Part:
    """One leaf of the FLOP tree, all its instances together (heads x layers)."""

    name: str  # dotted path below the pass, e.g. blocks.block.attention.heads.head.query
    label: str
    kind: str  # matmul | attention | elementwise
    count: int  # instances in the whole model
    per_block: int  # instances in one block (heads); 1 outside the blocks
    flops: int  # all instances
    weight_bytes: int
    activation_bytes: int
    kv_bytes: int

    @property
    def bytes(self) -> int:
        return self.weight_bytes + self.activation_bytes + self.kv_bytes

    @property
    def intensity(self) -> Fraction | None:
        return Fraction(self.flops, self.bytes) if self.bytes else None

    @property
    def in_block(self) -> bool:
        return "blocks" in self.name.split(".")[:-1]


def parts(a: Architecture, tree: Node, setup: Setup, queries: int, keys: int | None = None) -> list[Part]:
    """Every leaf of a forward or decode FLOP tree with its bytes moved.

    ``queries``: tokens through the projections (batch x seq, or batch in a decode step);
    ``keys``: (sequence, key) positions whose K and V the attention core reads, all sequences
    together: the tokens of a prefill; None for a decode step, where each head's keys are its
    (query, key) pairs, read off the leaf (so each block kind's window or chunk applies).
    """
    wdt, ab = setup.dtype, setup.act_bytes
    d = a.d_model
    # K and V of every key/value head (or MLA's latent), one token, one layer of each block kind
    # (an encoder keeps no cache, but its attention reads keys and values of the same size)
    kv_tok_layer = {k.name: nbytes(k.per_token, setup.kv) for k in cache_kinds(a)}
    widest = max(kv_tok_layer.values(), default=0)
    nodes = {path: times for path, _, times in tree.walk()}
    out = []
    for path, n, times in tree.leaves():
        name = path.split(".", 1)[1] if "." in path else path
        segs = path.split(".")
        in_block = "blocks" in segs[:-1]
        per_block = times
        kind = ""
        if in_block:  # instances in one block: the leaf's multiplicity over its block kind's
            i = segs.index("blocks")
            kind = segs[i + 1]
            kind_times = nodes.get(".".join(segs[:i + 2]), 1)
            per_block = times // kind_times if kind_times and times % kind_times == 0 else times
        w = act = kv = 0
        if n.kind == "matmul" and n.shape:
            rows, cols = n.shape
            tokens = n.value // (2 * rows * cols)  # leaf value = 2 x tokens x rows x cols (core.evaluate)
            copies = 1
            if a.is_moe and ".expert." in f".{name}.":
                # Routed tokens reach at most n_experts distinct experts; assumes balanced routing
                # (Fedus et al. 2021, Switch Transformers, sec. 2.2 load balancing), so min(E, T k).
                copies = min(a.n_experts, tokens)
            w = copies * nbytes(rows * cols, wdt)

            def side(width: int) -> Fraction:
                shared = per_block if width == d else 1  # the residual stream, read once per block
                return Fraction(tokens * width) * ab / shared

            act = ceil(side(cols) + side(rows))
        elif n.kind == "attention" and n.name in ("scores", "weighted_values") and ".relative." not in f".{name}.":
            # One query head: Q in (scores) or O out (weighted values), queries x its width; and its
            # share of K (scores) or V (weighted values), stored once per key/value head (or MLA's
            # latent, shared by the heads). The leaf is 2 x pairs x width (core.evaluate).
            width = n.value // (2 * n.units) if n.units else a.head_dim
            read = keys if keys is not None else n.units  # decode: the pairs of one head = keys read
            act = ceil(queries * width * ab)
            kv = ceil(Fraction(read * (kv_tok_layer.get(kind) or widest), 2 * a.n_heads))
        out.append(Part(name, n.label or n.name, n.kind, times, per_block, n.value * times, w * times,
                        act * times, kv * times))
    return out
