"""LoRA / QLoRA: adapter parameters, trainable share, memory and FLOPs of a fine-tuning step.

LoRA (Hu et al. 2021, §4): a frozen matrix W (d_out × d_in) gains B·A with A: r × d_in and
B: d_out × r, so r·(d_in + d_out) trainable parameters per adapted matrix. A target names a whole
projection, as peft's ``target_modules`` does: ``q_proj`` adapts the (n_heads·d_head × d_model)
query projection with one A shared by all heads and a B whose rows split per head (r·d_head per
head). A fused projection (``query_key_value``, ``c_attn``, ``gate_up_proj``) gets ONE adapter over
the fused matrix, fewer parameters than adapting its parts separately. MoE experts each get their
own adapter. peft's ``print_trainable_parameters`` reports trainable / (frozen + trainable).

QLoRA (Dettmers et al. 2023): the frozen base in a quantized format (``quant.QuantScheme``, NF4
with double quantization by default for QLoRA), the adapters and their optimizer state in 16/32
bits; no gradients or optimizer state for the base.

FLOPs of one fine-tuning step (convention, stated with the result): the forward of the base
(``flops.forward``) plus the adapters' 2·r·(d_in + d_out) per token each; the backward computes
input gradients only for frozen weight matmuls (1× their forward), both operand gradients for the
weightless attention products (2× their forward), and input and weight gradients for the adapters
(2× their forward). Step = 2 × base matmuls + 3 × attention core + 3 × adapters (+ one more
forward with full recomputation).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from ...errors import WorkloadError
from ...spec.arch import Architecture
from ..evaluate import count_params

# Target names (ours and Hugging Face's module names) -> the projections they adapt.
ALIASES = {
    "q": ("q",), "q_proj": ("q",), "query": ("q",),
    "k": ("k",), "k_proj": ("k",), "key": ("k",),
    "v": ("v",), "v_proj": ("v",), "value": ("v",),
    "o": ("o",), "o_proj": ("o",), "dense": ("o",), "out_proj": ("o",),
    "qkv": ("qkv",), "query_key_value": ("qkv",), "c_attn": ("qkv",), "qkv_proj": ("qkv",), "Wqkv": ("qkv",),
    "gate": ("gate",), "gate_proj": ("gate",), "w1": ("gate",),
    "up": ("up",), "up_proj": ("up",), "w3": ("up",), "fc1": ("up",), "c_fc": ("up",), "dense_h_to_4h": ("up",),
    "down": ("down",), "down_proj": ("down",), "w2": ("down",), "fc2": ("down",), "dense_4h_to_h": ("down",),
    "gate_up": ("gate_up",), "gate_up_proj": ("gate_up",),
    "attention": ("q", "k", "v", "o"), "mlp": ("gate", "up", "down"), "all-linear": ("q", "k", "v", "o", "gate", "up", "down"),
}


def projections(a: Architecture) -> dict[str, tuple[int, int, int]]:
    """Each adaptable projection of one block: name -> (d_in, d_out, copies per block)."""
    d, dh, n, kv, f = a.d_model, a.head_dim, a.n_heads, a.kv_heads, a.ff_dim
    experts = a.n_experts
    out = {"q": (d, n * dh, 1), "k": (d, kv * dh, 1), "v": (d, kv * dh, 1), "o": (n * dh, d, 1),
           "qkv": (d, (n + 2 * kv) * dh, 1), "up": (d, f, experts), "down": (f, d, experts)}
    if a.mlp == "gated":
        out["gate"] = (d, f, experts)
        out["gate_up"] = (d, 2 * f, experts)
    return out


def resolve_targets(a: Architecture, targets: list[str]) -> tuple[str, ...]:
    have = projections(a)
    got: list[str] = []
    for t in targets:
        t = t.strip()
        if t not in ALIASES:
            raise WorkloadError(f"--lora-targets: unknown target {t!r}; use e.g. q_proj,v_proj, query_key_value, all-linear")
        for p in ALIASES[t]:
            if p not in have:
                if t == "all-linear" or t == "mlp":
                    continue
                raise WorkloadError(f"--lora-targets: {t!r} does not exist in {a.name} (mlp = {a.mlp})")
            if p not in got:
                got.append(p)
    if {"qkv", "q", "k", "v"} & set(got) and "qkv" in got and len({"q", "k", "v"} & set(got)):
        raise WorkloadError("--lora-targets: the fused qkv projection and q/k/v are the same matrices")
    if "gate_up" in got and ({"gate", "up"} & set(got)):
        raise WorkloadError("--lora-targets: the fused gate_up projection and gate/up are the same matrices")
    if not got:
        raise WorkloadError("--lora-targets: no target matrices")
    return tuple(got)


@dataclass(frozen=True)
class LoraSetup:
    rank: int = 8
    targets: tuple[str, ...] = ("q_proj", "v_proj")  # peft's defaults for LLaMA (peft TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING)


def lora_params(a: Architecture, setup: LoraSetup) -> dict:
    r = setup.rank
    if isinstance(r, bool) or not isinstance(r, int) or r < 1:
        raise WorkloadError(f"--lora (the adapter rank) must be an integer >= 1, got {r!r}")
    names = resolve_targets(a, list(setup.targets))
    proj = projections(a)
    per_matrix, per_block = {}, 0
    for p in names:
        din, dout, copies = proj[p]
        each = r * (din + dout)
        per_matrix[p] = {"d_in": din, "d_out": dout, "A": r * din, "B": r * dout, "params": each,
                         "copies_per_block": copies}
        if p in ("q", "o"):
            per_matrix[p]["per_head_B" if p == "q" else "per_head_A"] = r * a.head_dim
        if p in ("k", "v"):
            per_matrix[p]["per_kv_head_B"] = r * a.head_dim
        per_block += each * copies
    total = per_block * a.n_layers
    base = count_params(a).total
    share = Fraction(total, base + total)
    return {"rank": r, "targets": list(names), "per_matrix": per_matrix, "per_block": per_block, "total": total,
            "base_params": base, "all_params": base + total,
            "trainable_share": {"numerator": share.numerator, "denominator": share.denominator,
                                "percent": float(share * 100)}}


def lora_flops(a: Architecture, setup: LoraSetup, batch: int, seq: int, recompute: bool = False) -> dict:
    from ..evaluate import forward
    from ..workload import Convention

    tree = forward(a, batch, seq, Convention())
    mm = sum(n.value * t for _, n, t in tree.leaves() if n.kind == "matmul")
    core = sum(n.value * t for _, n, t in tree.leaves() if n.kind == "attention")
    tokens = batch * seq
    p = lora_params(a, setup)
    # Each routed token passes top_k experts: per_block counts all experts' adapters.
    active = 0
    for name, m in p["per_matrix"].items():
        copies = a.top_k if m["copies_per_block"] > 1 else 1
        active += m["params"] * copies
    adapters = 2 * tokens * active * a.n_layers
    fwd = mm + core + adapters
    step = 2 * mm + 3 * core + 3 * adapters + (fwd if recompute else 0)
    return {"convention": "forward + backward with input gradients only for frozen weights (1×), both operands "
                          "for attention products (2×), input and weight gradients for adapters (2×); "
                          "2 FLOPs per multiply-accumulate; matmuls only",
            "forward": fwd, "base_matmuls": mm, "attention_core": core, "adapters": adapters,
            "recompute": recompute, "step": step, "batch": batch, "seq": seq}
