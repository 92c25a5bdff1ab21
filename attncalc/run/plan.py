"""What `attncalc run` executes, counted by the core: one attention block (projections, scores,
softmax-weighted values; no biases) for all of a model's heads or a subset of them.

Pure and light (no numpy): the FLOPs come from the same tree as `count`, with the same convention,
so achieved GFLOP/s is counted FLOPs over measured seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..spec.arch import Architecture
from ..errors import WorkloadError
from ..core.evaluate import forward, kinds
from ..core.figures import main_block
from ..core.parts.model import MIXER_PARTS, state_mixers
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
    """Matmul FLOPs of one attention block (no biases) of a single-kind model: projections +
    scores + weighted values."""
    bare = a.replace(qkv_bias=False, out_bias=False)
    return main_block(forward(bare, batch, seq, Convention(conv.attention, "matmul"))).child("attention").each


def model_attention_flops(a: Architecture, batch: int, seq: int, conv: Convention) -> int:
    """Matmul FLOPs of every attention block of the model (no biases), kind by kind: each kind's
    layers at its own reach (Gemma's local and global layers); a hybrid's Mamba layers have none."""
    bare = a.replace(qkv_bias=False, out_bias=False)
    tree = forward(bare, batch, seq, Convention(conv.attention, "matmul"))
    return sum(k.count * k.child("attention").each for k in tree.get("blocks").children if k.get("attention"))


def executed_kind(a: Architecture):
    """The block kind `run` executes: the one most attention layers have."""
    attending = [k for k in kinds(a) if any(c.name == "attention" for c in k.children)]
    return max(attending, key=lambda k: k.count)


def plan(a: Architecture, *, batch: int, seq: int, conv: Convention, heads: int | None = None,
         layers: int = 1) -> Plan:
    positive("--batch", batch), positive("--seq", seq), positive("--layers", layers)
    if a.is_encoder_decoder or a.has_mamba:
        state = sorted({MIXER_PARTS[c.name] for k in kinds(a) for c in state_mixers(k)})
        what = f"hybrid ({', '.join(state)})" if state else "hybrid (layers without attention)"
        raise WorkloadError(f"`run` executes a model of one kind of attention block; {a.name} is "
                            + ("an encoder-decoder (cross-attention) model" if a.is_encoder_decoder else f"a {what} model")
                            + ", counted by `count`, not executed")
    if a.is_latent:
        raise WorkloadError("`run` executes multi-head and grouped-query attention; multi-head latent attention "
                            f"({a.name}: kv_lora_rank {a.kv_lora_rank}) is counted by `count`, not executed")
    kind = executed_kind(a)
    if kind.pattern is not None and kind.pattern.chunk:
        raise WorkloadError(f"`run` executes full and sliding-window attention; {a.name}'s {kind.label}s attend "
                            f"within chunks of {kind.pattern.chunk:,} tokens, which the kernel does not execute")
    g = a.group_size
    h = a.n_heads if heads is None else positive("--heads", heads)
    if h > a.n_heads:
        raise WorkloadError(f"--heads {h} is more than the model's {a.n_heads} heads")
    if h % g and h > g:
        raise WorkloadError(f"--heads must be a multiple of the key/value group size {g} (or fewer than {g})")
    attention_layers = sum(k.count for k in kinds(a) if any(c.name == "attention" for c in k.children))
    if layers > attention_layers:
        raise WorkloadError(f"--layers {layers} is more than the model's {attention_layers} attention layers")
    kv = max(1, h // g)
    causal = conv.causal(a)
    window = kind.pattern.window if (causal and kind.pattern is not None) else None
    # the executed block, alone: one kind, its reach, these heads, no biases, no experts
    run = a.replace(n_heads=h, n_kv_heads=kv, d_head=a.head_dim, qkv_bias=False, out_bias=False, n_layers=1,
                    sliding_window=window, sliding_window_pattern=None, attention_chunk=None, n_experts=1, top_k=1,
                    n_shared_experts=0, first_dense_layers=0, moe_every=1, moe_offset=0, shared_expert_gate=False,
                    router_bias=False, kv_shared_layers=0, zero_experts=0, shortcut_moe=False,
                    router_correction="none", last_dense_layers=0)
    return Plan(run, h, kv, layers, layers * attention_flops(run, batch, seq, conv),
                model_attention_flops(a, batch, seq, conv), causal, window)
