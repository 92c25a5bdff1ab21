"""`explain` and `count` for the linear-attention and short-convolution mixers of the 2026 wave
(issue 20; core.parts.deltanet, core.parts.shortconv): each matrix's shape and product, the state a
layer keeps per sequence (instead of a KV cache, whatever the context), the chunks the chunked form
runs over and the products counted per chunk. Registered in present.mixers' per-mixer registry
(``register_explain``); every number is read from the Report's trees, or is the arithmetic the
steps write out."""

from __future__ import annotations

from ..core.report import Report
from ..core.tree import Node
from ..dtypes import dtype_bytes, nbytes
from .explain import Step, n
from .state_steps import forward_steps, matrix_steps


def _chunk_steps(report: Report) -> list[Step]:
    """The chunks the chunked form runs over (its products per chunk and head are in the forward
    steps, "chunks of C")."""
    c, seq = report.arch.linear_chunk, report.flops.workload.seq
    return [Step(f"chunks per sequence = ⌈seq / {c}⌉ (the last padded to {c} positions, as transformers' torch path "
                 "computes it)", f"⌈{n(seq)} / {c}⌉", -(-seq // c))]


def _mixer_steps(report: Report, layers: int, node: Node, name: str, word: str, state: tuple[str, str, int]
                 ) -> list[Step]:
    kv = report.memory.kv_cache
    b = dtype_bytes(kv.dtype)
    text, factors, numbers = state
    steps = matrix_steps(node, layers, word)
    steps.append(Step(f"{text} = {numbers:,} numbers per layer and sequence (no KV cache)", factors, numbers))
    steps.append(Step(f"state per sequence, all {word}s × bytes ({kv.dtype})", f"{layers} × {n(numbers)} × {b}",
                      nbytes(layers * numbers, kv.dtype)))
    return steps + forward_steps(report, name, "layer")


def _deltanet(report: Report, layers: int, node: Node) -> tuple[str, list[Step]]:
    a = report.arch
    hk, hv, dk, dv, k = a.linear_heads, a.linear_v_heads, a.linear_key_dim, a.linear_v_dim, a.linear_conv
    ch = 2 * hk * dk + hv * dv
    state = ("recurrent state h_v × d_k × d_v + conv window (2 h_k d_k + h_v d_v) × d_conv",
             f"{hv} × {dk} × {dv} + {n(ch)} × {k}", hv * dk * dv + ch * k)
    steps = _mixer_steps(report, layers, node, "deltanet", "gated DeltaNet layer", state)
    steps += _chunk_steps(report)
    steps.append(Step("a decode step runs the recurrent form: decay, S·k, update, S·q, element-wise on each head's "
                      "d_k × d_v state (no matmul; --ops all counts them)", f"{hv} × {dk} × {dv}", hv * dk * dv))
    return "gated DeltaNet (linear attention, hybrid)", steps


def _kda(report: Report, layers: int, node: Node) -> tuple[str, list[Step]]:
    a = report.arch
    h, d, k = a.linear_heads, a.linear_key_dim, a.linear_conv
    state = ("recurrent state h × d × d + conv window 3 h d × d_conv", f"{h} × {d} × {d} + {n(3 * h * d)} × {k}",
             h * d * d + 3 * h * d * k)
    steps = _mixer_steps(report, layers, node, "kda", "Kimi Delta Attention layer", state)
    steps += _chunk_steps(report)
    steps.append(Step("KDA's per-channel decay makes the intra-chunk k·kᵀ and q·kᵀ element-wise (not matmuls; "
                      "--ops all counts them); a decode step is element-wise on each head's d × d state",
                      f"{h} × {d} × {d}", h * d * d))
    return "Kimi Delta Attention (linear attention, hybrid)", steps


def _short_conv(report: Report, layers: int, node: Node) -> tuple[str, list[Step]]:
    a = report.arch
    state = ("conv window d_model × d_conv", f"{n(a.d_model)} × {a.linear_conv}", a.d_model * a.linear_conv)
    steps = _mixer_steps(report, layers, node, "short_conv", "short-convolution layer", state)
    return "short convolution (LFM2 conv blocks)", steps


# Registered in present.mixers' per-mixer registry: (its steps, what one layer keeps per sequence in names).
LINEAR_EXPLAIN = {
    "deltanet": (_deltanet, "h_v × d_k × d_v + (2 h_k d_k + h_v d_v) × d_conv per gated DeltaNet layer"),
    "kda": (_kda, "h × d × d + 3 h d × d_conv per KDA layer"),
    "short_conv": (_short_conv, "d_model × d_conv per short-convolution layer"),
}
