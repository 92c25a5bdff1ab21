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

Which projections a layer has, and their shapes, are read off the model's description, block kind
by block kind (a hybrid's Mamba layers have no q_proj; DeepSeek's dense layers no experts).

FLOPs of one fine-tuning step (convention, stated with the result): the forward of the base
(``flops.forward``) plus the adapters' 2·r·(d_in + d_out) per token each; the backward computes
input gradients only for frozen weight matmuls (1× their forward), both operand gradients for the
weightless attention products (2× their forward), and input and weight gradients for the adapters
(2× their forward). Step = 2 × base matmuls + 3 × attention core + 3 × adapters (+ one more
forward with full recomputation).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction

from ...errors import WorkloadError
from ...spec.arch import Architecture
from ..evaluate import count_params, kinds
from ..parts.base import Part, Weight

# Target names (ours and Hugging Face's module names) -> the projections they adapt (Weight.module).
ALIASES = {
    "q": ("q",), "q_proj": ("q",), "query": ("q",),
    "k": ("k",), "k_proj": ("k",), "key": ("k",),
    "v": ("v",), "v_proj": ("v",), "value": ("v",),
    "o": ("o",), "o_proj": ("o",), "dense": ("o",), "out_proj": ("o", "out_proj"),
    "qkv": ("qkv",), "query_key_value": ("qkv",), "c_attn": ("qkv",), "qkv_proj": ("qkv",), "Wqkv": ("qkv",),
    "gate": ("gate",), "gate_proj": ("gate",), "w1": ("gate",),
    "up": ("up",), "up_proj": ("up",), "w3": ("up",), "fc1": ("up",), "c_fc": ("up",), "dense_h_to_4h": ("up",),
    "down": ("down",), "down_proj": ("down",), "w2": ("down",), "fc2": ("down",), "dense_4h_to_h": ("down",),
    "gate_up": ("gate_up",), "gate_up_proj": ("gate_up",),
    # latent attention (DeepSeek-V2/V3 module names) and Mamba layers (Jamba)
    "q_a_proj": ("q_a",), "q_b_proj": ("q_b",), "kv_a_proj_with_mqa": ("kv_a",), "kv_b_proj": ("kv_b",),
    "in_proj": ("in_proj",), "x_proj": ("x_proj",), "dt_proj": ("dt_proj",),
    "attention": ("q", "k", "v", "o", "q_a", "q_b", "kv_a", "kv_b"), "mlp": ("gate", "up", "down"),
    # issue 20: DeepSeek-V3.2's indexer, Gemma 3n's LAuReL, per-layer input and AltUp linears
    "wq_b": ("indexer_q",), "wk": ("indexer_k",), "weights_proj": ("indexer_weights",),
    "linear_left": ("laurel_left",), "linear_right": ("laurel_right",), "per_layer_input_gate": ("ple_gate",),
    "per_layer_projection": ("ple_projection",), "modality_router": ("altup_router",),
    "prediction_coefs": ("altup_prediction",), "correction_coefs": ("altup_correction",),
    # issue 20: gated DeltaNet's and Kimi Delta Attention's own projections (their checkpoint names)
    "in_proj_qkvz": ("in_proj_qkvz",), "in_proj_ba": ("in_proj_ba",), "b_proj": ("b_proj",),
    "f_a_proj": ("f_a_proj",), "f_b_proj": ("f_b_proj",), "g_a_proj": ("g_a_proj",), "g_b_proj": ("g_b_proj",),
    "all-linear": ("q", "k", "v", "o", "q_a", "q_b", "kv_a", "kv_b", "gate", "up", "down",
                   "in_proj", "x_proj", "dt_proj", "out_proj", "indexer_q", "indexer_k", "indexer_weights",
                   "laurel_left", "laurel_right", "ple_gate", "ple_projection", "altup_router", "altup_prediction",
                   "altup_correction", "in_proj_qkvz", "in_proj_ba", "b_proj", "f_a_proj", "f_b_proj", "g_a_proj",
                   "g_b_proj"),
}
FUSED = {"qkv": ("q", "k", "v"), "gate_up": ("gate", "up")}
# Parts that split one projection into heads: a head's slice belongs to the projection of the layer.
HEAD_PARTS = ("heads", "head", "kv_groups", "group")


@dataclass(frozen=True)
class Projection:
    """One adaptable projection of one layer of a block kind."""

    key: str  # module, or "part.module" where a module occurs in several parts (shared experts)
    module: str
    d_in: int
    d_out: int
    copies: int  # instances per layer (experts)
    routed: int | None  # of which this many run per token (top_k), None when all run


def projections(kind: Part) -> dict[str, Projection]:
    """The adaptable projections of one layer of ``kind``, read off its description: a projection's
    weights concatenate along their outputs (column-parallel) or inputs (row-parallel)."""
    found: dict[tuple[str, str], list] = {}

    def walk(node, heads: int, copies: int, routed: int | None, where: str) -> None:
        if isinstance(node, Weight):
            if node.module:
                entry = found.setdefault((where, node.module), [0, 0, node, copies, routed])
                if node.split == "row":
                    entry[0] += node.cols * heads
                    entry[1] = node.rows
                else:
                    entry[0] = node.cols
                    entry[1] += node.rows * heads
        elif isinstance(node, Part):
            if node.name in HEAD_PARTS:
                for c in node.children:
                    walk(c, heads * node.count, copies, routed, where)
            else:
                r = node.active if node.active is not None else routed
                for c in node.children:
                    walk(c, heads, copies * node.count, r, node.name)

    for c in replace(kind, count=1).children:
        walk(c, 1, 1, None, c.name)
    seen: dict[str, int] = {}
    for (_, m) in found:
        seen[m] = seen.get(m, 0) + 1
    out: dict[str, Projection] = {}
    for (where, m), (d_in, d_out, _, copies, routed) in found.items():
        key = m if seen[m] == 1 or where in ("attention", "mlp", "mamba") else f"{where}.{m}"
        out[key] = Projection(key, m, d_in, d_out, copies, routed)
    for fused, members in FUSED.items():
        parts = [p for p in out.values() if p.module in members and "." not in p.key]
        if len(parts) == len(members) and len({p.d_in for p in parts}) == 1:
            p0 = parts[0]
            out[fused] = Projection(fused, fused, p0.d_in, sum(p.d_out for p in parts), p0.copies, p0.routed)
    return out


def resolve_targets(a: Architecture, targets: list[str]) -> tuple[str, ...]:
    have = {p.module for k in kinds(a) for p in projections(k).values()}
    got: list[str] = []
    for t in targets:
        t = t.strip()
        if t not in ALIASES:
            raise WorkloadError(f"--lora-targets: unknown target {t!r}; use e.g. q_proj,v_proj, query_key_value, all-linear")
        for p in ALIASES[t]:
            if p not in have:
                if t in ("all-linear", "mlp", "attention", "out_proj"):
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


def adapted(a: Architecture, setup: LoraSetup) -> dict[str, list[Projection]]:
    """The adapted projections of one layer of each block kind (by the kind's name)."""
    names = resolve_targets(a, list(setup.targets))
    return {k.name: [p for p in projections(k).values() if p.module in names] for k in kinds(a)}


@dataclass(frozen=True)
class LoraMatrix:
    """One adapted projection: A is r x d_in, B is d_out x r (Hu et al. 2021 sec. 4)."""

    d_in: int
    d_out: int
    A: int
    B: int
    params: int
    copies_per_block: int  # instances per layer (experts)
    layers: int  # layers that have it
    per_head: dict[str, int]  # per_head_B (q), per_head_A (o), per_kv_head_B (k, v)


@dataclass(frozen=True)
class LoraParams:
    rank: int
    targets: list[str]
    per_matrix: dict[str, LoraMatrix]
    per_block: int  # one layer of the kind most layers have
    per_kind: dict[str, int]  # one layer of each kind
    total: int
    base_params: int

    @property
    def all_params(self) -> int:
        return self.base_params + self.total

    @property
    def trainable_share(self) -> Fraction:
        """peft's print_trainable_parameters: trainable / (frozen + trainable)."""
        return Fraction(self.total, self.all_params)


def lora_params(a: Architecture, setup: LoraSetup) -> LoraParams:
    """Adapter parameters, block kind by block kind: ``per_block`` for one layer of the kind most
    layers have, ``per_kind`` for one layer of each, ``total`` over every layer."""
    r = setup.rank
    if isinstance(r, bool) or not isinstance(r, int) or r < 1:
        raise WorkloadError(f"--lora (the adapter rank) must be an integer >= 1, got {r!r}")
    per_kind_proj = adapted(a, setup)
    counts = {k.name: k.count for k in kinds(a)}
    found: dict[str, Projection] = {}
    layers: dict[str, int] = {}
    for name, projs in per_kind_proj.items():
        for p in projs:
            found.setdefault(p.key, p)
            layers[p.key] = layers.get(p.key, 0) + counts[name]
    per_matrix = {}
    for key, p in found.items():
        per_head = {"q": {"per_head_B": r * a.head_dim}, "o": {"per_head_A": r * a.head_dim},
                    "k": {"per_kv_head_B": r * a.head_dim}, "v": {"per_kv_head_B": r * a.head_dim}}.get(key, {})
        per_matrix[key] = LoraMatrix(p.d_in, p.d_out, r * p.d_in, r * p.d_out, r * (p.d_in + p.d_out), p.copies,
                                     layers[key], per_head)
    per_kind = {name: sum(r * (p.d_in + p.d_out) * p.copies for p in projs) for name, projs in per_kind_proj.items()}
    main = max(kinds(a), key=lambda k: k.count).name
    return LoraParams(r, list(dict.fromkeys(p.module for ps in per_kind_proj.values() for p in ps)), per_matrix,
                      per_kind[main], per_kind, sum(per_kind[k] * n for k, n in counts.items()), count_params(a).total)


def adapter_outputs(a: Architecture, setup: LoraSetup) -> dict[str, int]:
    """Per layer of each kind: the adapters' r-wide intermediates (x·A) a token passes through."""
    return {name: sum(p.copies for p in projs) for name, projs in adapted(a, setup).items()}


@dataclass(frozen=True)
class LoraFlops:
    convention: str
    forward: int
    base_matmuls: int
    attention_core: int
    adapters: int
    recompute: bool
    step: int
    batch: int
    seq: int


def lora_flops(a: Architecture, setup: LoraSetup, batch: int, seq: int, recompute: bool = False) -> LoraFlops:
    from ..evaluate import forward
    from ..workload import Convention

    tree = forward(a, batch, seq, Convention())
    mm = sum(n.value * t for _, n, t in tree.leaves() if n.kind == "matmul")
    core = sum(n.value * t for _, n, t in tree.leaves() if n.kind == "attention")
    tokens = batch * seq
    lora_params(a, setup)  # validates the rank
    r = setup.rank
    # Each routed token passes top_k experts' adapters; every other adapter runs for every token.
    counts = {k.name: k.count for k in kinds(a)}
    active = sum(counts[name] * sum(r * (p.d_in + p.d_out) * (p.routed if p.routed is not None else p.copies)
                                    for p in projs) for name, projs in adapted(a, setup).items())
    adapters = 2 * tokens * active
    fwd = mm + core + adapters
    step = 2 * mm + 3 * core + 3 * adapters + (fwd if recompute else 0)
    return LoraFlops("forward + backward with input gradients only for frozen weights (1×), both operands "
                     "for attention products (2×), input and weight gradients for adapters (2×); "
                     "2 FLOPs per multiply-accumulate; matmuls only",
                     fwd, mm, core, adapters, recompute, step, batch, seq)
