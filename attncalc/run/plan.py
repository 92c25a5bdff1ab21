"""What `attncalc run` executes, counted by the core: one attention block (projections, scores,
softmax-weighted values; no biases) for all of a model's heads or a subset of them.

Pure and light (no numpy): the FLOPs come from the same tree as `count`, with the same convention,
so achieved GFLOP/s is counted FLOPs over measured seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..spec.arch import Architecture
from ..errors import WorkloadError
from ..core.evaluate import forward
from ..core.figures import main_block
from ..core.workload import Convention, positive


@dataclass(frozen=True)
class Plan:
    arch: Architecture  # the executed block's shape (heads subset, no biases)
    heads: int
    kv_heads: int
    layers: int
    flops: int  # counted FLOPs of everything executed (layers x one block), exact
    model_flops: int  # all of the model's attention blocks at this shape, exact
    causal: bool
    window: int | None


def attention_flops(a: Architecture, batch: int, seq: int, conv: Convention) -> int:
    """Matmul FLOPs of one attention block (no biases): projections + scores + weighted values."""
    bare = a.replace(qkv_bias=False, out_bias=False)
    return main_block(forward(bare, batch, seq, Convention(conv.attention, "matmul"))).child("attention").each


def plan(a: Architecture, *, batch: int, seq: int, conv: Convention, heads: int | None = None,
         layers: int = 1) -> Plan:
    positive("--batch", batch), positive("--seq", seq), positive("--layers", layers)
    if a.is_encoder_decoder or a.has_mamba:
        raise WorkloadError("`run` executes a model of one kind of attention block; encoder-decoder (cross-attention) "
                            "and hybrid (Mamba) models are counted by `count`, not executed")
    g = a.group_size
    h = a.n_heads if heads is None else positive("--heads", heads)
    if h > a.n_heads:
        raise WorkloadError(f"--heads {h} is more than the model's {a.n_heads} heads")
    if h % g and h > g:
        raise WorkloadError(f"--heads must be a multiple of the key/value group size {g} (or fewer than {g})")
    if layers > a.n_layers:
        raise WorkloadError(f"--layers {layers} is more than the model's {a.n_layers} layers")
    kv = max(1, h // g)
    run = a.replace(n_heads=h, n_kv_heads=kv, d_head=a.head_dim, qkv_bias=False, out_bias=False)
    causal = conv.causal(a)
    window = a.sliding_window if causal else None
    return Plan(run, h, kv, layers, layers * attention_flops(run, batch, seq, conv),
                a.n_layers * attention_flops(a, batch, seq, conv), causal, window)
