"""What a training step is made of, read ONCE off the model's description (core.parts) and its FLOP
tree (core.evaluate.forward): per block kind, the matrix products of one layer with their shapes
and how tensor parallelism splits them (``Weight.split``), the attention core's FLOPs, the
element-wise traffic, the key/value bytes a context-parallel ring passes, and the tokens a routed
part dispatches. ``core.time.step`` prices these for a layout; nothing here depends on the layout.

Matrix products (Shoeybi et al. 2019, Megatron-LM sec. 3): a per-head leaf is one GEMM over all
heads of the layer (heads concatenated along the output, or along the input when the output is the
residual stream, as ``core.time.passes`` does); ``col`` and ``vocab`` weights split their outputs
t ways, ``row`` weights their inputs (and their output is all-reduced), ``none`` is replicated;
a routed expert is one grouped GEMM over the rank's experts (Megatron-Core GroupedMLP), its
weights whole on the rank (expert tensor parallelism 1).
Element-wise kernels: the ``fused`` recipe of core.time.passes (one kernel per element-wise leaf,
norms fused with their residual add), as Megatron-LM / Transformer Engine run them.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from ...dtypes import canonical_dtype, dtype_bytes, nbytes
from ...spec.arch import Architecture
from ...spec.hardware import Hardware
from ..evaluate import count_params, forward, kinds
from ..memory.cache import cache_kinds
from ..parts.base import Part, Weight
from ..parts.model import describe
from ..workload import Convention, positive
from . import kernels as K
from . import passes


@dataclass(frozen=True)
class Gemm:
    """One matrix product of one layer (forward): ``tokens_per_token`` x M rows of input, N outputs
    (``rows``), K inputs (``cols``); ``split`` how TP splits it; ``experts`` > 0: a routed part's
    grouped GEMM over that many experts."""

    name: str
    rows: int
    cols: int
    per_token: Fraction  # input rows per token of the micro-batch (top-k for routed experts)
    split: str  # col | row | vocab | none | expert
    experts: int = 0


@dataclass(frozen=True)
class KindCost:
    """One layer of one block kind, per sequence of ``seq`` tokens (batch 1, no parallelism)."""

    name: str
    layers: int
    gemms: tuple[Gemm, ...]
    attention_flops: int  # forward, all heads of the layer, one sequence
    attention_bytes: int  # Q, K, V read and O written, one sequence (the kernel's I/O)
    attention_heads: int  # query heads of the layer's attention core (0: none)
    head_dim: int  # the scores' width
    elementwise_bytes: Fraction  # forward, one sequence
    elementwise_kernels: int
    row_outputs: int  # row-parallel outputs (TP all-reduces of the forward)
    kv_bytes_per_token: int  # K and V (or MLA's latent) of one token: what a CP ring passes
    routed_top_k: int  # tokens x top-k dispatched to experts (0: no routed part)
    heads: int


@dataclass(frozen=True)
class Prepared:
    """A model on a hardware at a sequence length and dtype: everything a step time needs but the
    layout (``core.time.step.prepare``)."""

    arch: Architecture
    hw: Hardware
    seq: int
    dtype: str
    act_bytes: Fraction
    kinds: tuple[KindCost, ...]
    top: tuple[Gemm, ...]  # outside the blocks: the logits (vocab-parallel)
    top_elementwise_bytes: Fraction
    d_model: int
    model_flops_per_seq: int  # training: 3 x the exact causal forward (core/time/mfu.py 'exact_causal')
    forward_flops_per_seq: int
    peak: int  # dense FLOP/s of the matmuls' dtype
    attention_peak: int  # attention runs in bf16 under fp8 training (Transformer Engine's recipe)
    efficiency: Fraction  # the one fitted constant of the generation
    efficiency_source: str
    attention_efficiency: Fraction  # forward
    attention_backward: Fraction  # backward
    attention_source: str
    overlap: str
    engine: K.Engine
    attention: str  # flash | materialized
    cache: dict  # shape -> kernel seconds, filled by step_time


def _weights_by_path(node: Part, prefix: str, out: dict[str, Weight]) -> None:
    for c in node.children:
        if isinstance(c, Weight):
            out[f"{prefix}.{c.name}"] = c
        elif isinstance(c, Part):
            _weights_by_path(c, f"{prefix}.{c.name}", out)


def build(a: Architecture, hw: Hardware, seq: int, dtype: str, efficiency: Fraction, efficiency_source: str,
          attention: tuple[Fraction, Fraction, str], overlap: str, engine: K.Engine, kernel: str) -> Prepared:
    positive("--seq", seq)
    dtype = canonical_dtype(dtype)
    ab = dtype_bytes(dtype)
    causal = Convention("causal", "all")
    tree = forward(a, 1, seq, causal)
    model_fwd = forward(a, 1, seq, Convention("causal")).total
    weights: dict[str, Weight] = {}
    _weights_by_path(describe(a), "forward", weights)
    nodes = {path: times for path, _, times in tree.walk()}
    kv_tok = {k.name: nbytes(k.per_token, dtype) for k in cache_kinds(a)}
    names = [k.name for k in kinds(a)]
    per: dict[str, dict] = {n: {"gemms": {}, "attn": 0, "io": Fraction(0), "ew": Fraction(0), "ewk": 0, "heads": 0,
                                "d_head": 0}
                            for n in names}
    top: dict[str, Gemm] = {}
    top_ew = Fraction(0)

    def sink(kernels: list[K.Kernel]) -> tuple[Fraction, int]:
        return Fraction(sum(k.bytes for k in kernels)), len(kernels)

    def elementwise(kind: str, elements: int, count: int = 1) -> list[K.Kernel]:  # passes' closure
        # an activation the recipe has no entry for (ReLU², xIELU): one kernel, read and write, like SiLU
        n, per_el, fixed = getattr(passes.FUSED, kind, passes.FUSED.silu)
        return [K.memory(elements * (per_el * ab + fixed) / n, hw, name=kind)] * (n * count) if n else []

    for path, n, times in tree.leaves():
        segs = path.split(".")
        in_block = "blocks" in segs[:-1]
        kind = segs[segs.index("blocks") + 1] if in_block else None
        count = times // nodes[".".join(segs[:segs.index("blocks") + 2])] if in_block else times
        if n.kind == "matmul" and n.shape:
            rows, cols = n.shape
            w = weights.get(path)
            expert = ".expert." in f".{path}."
            split = "expert" if expert else (w.split if w is not None else "none")
            per_token = Fraction(n.value, 2 * rows * cols * seq)
            if count > 1 and not expert:  # one GEMM over the layer's heads (module docstring)
                rows, cols = (rows, cols * count) if rows == a.d_model else (rows * count, cols)
            g = Gemm(n.name, rows, cols, per_token, split, a.n_experts if expert else 0)
            key = ".".join(segs[1:])
            if in_block:
                per[kind]["gemms"][key] = g
            else:
                top[key] = g
        elif n.kind == "attention" and in_block:
            per[kind]["attn"] += n.value * count
            if n.name == "scores":
                d_head = n.value // (2 * n.units) if n.units else a.head_dim
                per[kind]["io"] += 2 * count * seq * d_head * ab + seq * kv_tok.get(kind, 0)
                per[kind]["heads"] += count
                per[kind]["d_head"] = d_head
        elif n.kind == "elementwise":
            b, k = sink(passes._elementwise(a, n.name, n.value, count, seq, ab, passes.FUSED, elementwise, hw))
            if in_block:
                per[kind]["ew"] += b
                per[kind]["ewk"] += k
            else:
                top_ew += b
    out = []
    for k in kinds(a):
        p = per[k.name]
        rows = [c.name for c in k.children if isinstance(c, Part) and any(
            isinstance(w, Weight) and w.split == "row" for w in _all_weights(c))]
        row_outputs = len(rows) - (1 if a.parallel_block and {"attention", "mlp"} <= set(rows) else 0)
        routed = any(g.split == "expert" for g in p["gemms"].values())
        out.append(KindCost(k.name, k.count, tuple(p["gemms"].values()), p["attn"], int(p["io"]), p["heads"], p["d_head"],
                            p["ew"], p["ewk"],
                            row_outputs, kv_tok.get(k.name, 0), a.top_k if routed else 0, a.n_heads))
    from ...dtypes import compute_dtype
    peak = hw.peak(compute_dtype(dtype))
    attn_peak = hw.peak("bf16") if dtype_bytes(dtype) < 2 and "bf16" in hw.dense else peak
    return Prepared(a, hw, seq, dtype, ab, tuple(out), tuple(top.values()), top_ew, a.d_model, 3 * model_fwd,
                    model_fwd, peak, attn_peak, efficiency, efficiency_source, attention[0], attention[1], attention[2], overlap,
                    engine, kernel, {})


def _all_weights(node: Part | Weight):
    if isinstance(node, Weight):
        yield node
    elif isinstance(node, Part):
        for c in node.children:
            yield from _all_weights(c)


def dense_and_expert_params(a: Architecture) -> tuple[int, int]:
    """All parameters outside and inside routed parts (tied weights once)."""
    dense = expert = 0
    for path, n, times in count_params(a).leaves():
        if ".expert." in f".{path}.":
            expert += n.value * times
        else:
            dense += n.value * times
    return dense, expert
