"""One forward pass or decode step as the kernels an engine launches, read off the FLOP tree.

An adapter between the exact FLOP tree (core.evaluate.forward / decode) and core/time/kernels.py, so
the kernel model can be checked against whole-model measurements; the time report will read the
same kernels once it is wired. Each matmul leaf becomes one GEMM per layer (the heads of one
projection together: q, k, v concatenate their heads along N, the output projection along K; MoE
experts one GEMM each, as transformers' eager expert loop runs them); the attention core of a
layer one flash-style kernel; element-wise leaves the kernels the engine's recipe launches for them.

Recipes (bytes per element with the activations in ``a`` bytes; fp32 intermediates 4):

``transformers`` (PyTorch eager, the Hugging Face modeling code; transformers 4.4x-5.x):
- RMSNorm (``LlamaRMSNorm.forward``): to(fp32), pow, mean, +eps, rsqrt, multiply, to(dtype),
  times weight: 8 kernels, 6 of them full-size: (a+4) + 8 + 4 + 8 + (4+a) + 2a = 24 + 4a;
- LayerNorm (``nn.LayerNorm``, one native kernel): 2a; GELU (GPT-2's ``NewGELUActivation``: the tanh
  formula in Python, 8 kernels): 2 inputs in two of them, 18a; SiLU (``F.silu``, one kernel): 2a;
  the gate product and each residual add: 3a;
- rotary positions (``apply_rotary_pos_emb``: q cos, -x2, cat, sin, add, for q and for k):
  5 kernels each, (2 + 1 + 2 + 2 + 3)a = 10a per element; the cos/sin table (``LlamaRotaryEmbedding``)
  and the mask: 8 small kernels per pass;
- the attention output's transpose(1, 2).contiguous(): one copy, 2a; biases fused in the GEMM
  (addmm / cuBLASLt epilogue); the softmax inside the attention kernel;
- host-only operations (a view, transpose, slice, split, unsqueeze or expand: the dispatcher runs,
  no kernel): 16 per layer (``LlamaAttention.forward``: view+transpose of q, k, v; rotary's two
  unsqueezes and rotate_half's four slices; the mask slice; repeat_kv's two expands; the output
  transpose), each costing the engine's host time like a launch;
- grouped-query K and V repeated to every query head (``repeat_kv``) before SDPA: transformers 4.x
  always, 5.x only with a mask; ``repeat_kv=False`` is SDPA's native GQA; a decode step also writes
  its new K and V into the cache (2 index_copy_ kernels per layer).
``fused`` (vLLM / TensorRT-LLM style): one kernel per element-wise leaf (a norm fused with its
residual add), rotary fused with the attention, native GQA; issue with CUDA graphs.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from ...dtypes import dtype_bytes
from ...errors import WorkloadError
from ...spec.arch import Architecture
from ...spec.hardware import Hardware
from ..evaluate import decode, forward
from ..workload import Convention, positive
from . import kernels as K


@dataclass(frozen=True)
class Recipe:
    name: str
    rmsnorm: tuple[int, Fraction, Fraction]  # (kernels, bytes per element: x a, + fixed bytes)
    layernorm: tuple[int, Fraction, Fraction]
    gelu: tuple[int, Fraction, Fraction]
    silu: tuple[int, Fraction, Fraction]
    rope: tuple[int, Fraction]  # per q and per k tensor: kernels, x a bytes per element
    per_pass: int  # small kernels once per pass (rotary table, mask)
    output_copy: bool
    repeat_kv: bool
    cache_writes: int  # decode: kernels writing the new K, V per layer
    residual_fused: bool
    host_ops: int = 0  # per layer: operations that cost host time and launch no kernel


TRANSFORMERS = Recipe("transformers", (8, Fraction(4), Fraction(24)), (1, Fraction(2), Fraction(0)),
                      (8, Fraction(18), Fraction(0)), (1, Fraction(2), Fraction(0)), (5, Fraction(10)), 8, True,
                      True, 2, False, 16)
FUSED = Recipe("fused", (1, Fraction(3), Fraction(0)), (1, Fraction(3), Fraction(0)), (1, Fraction(2), Fraction(0)),
               (1, Fraction(2), Fraction(0)), (0, Fraction(0)), 0, False, False, 0, True)
RECIPES = {"transformers": TRANSFORMERS, "fused": FUSED}


@dataclass(frozen=True)
class Workload:
    batch: int
    seq: int  # prefill: tokens per sequence; decode: the context already cached
    decode: bool = False


def pass_kernels(a: Architecture, work: Workload, hw: Hardware, *, dtype: str = "bf16",
                 recipe: Recipe | str = "transformers", repeat_kv: bool | None = None,
                 conv: Convention = Convention()) -> list[K.Kernel]:
    """The kernels of one prefill (``batch`` x ``seq`` tokens) or one decode step (``batch`` new
    tokens over ``seq`` cached) for the engine's recipe: the pass-level ones, then each layer's in
    the FLOP tree's order (near the engine's own order: a layer's projections, attention, MLP)."""
    r = RECIPES[recipe] if isinstance(recipe, str) else recipe
    positive("--batch", work.batch), positive("--seq", work.seq, 0 if work.decode else 1)
    rep = r.repeat_kv if repeat_kv is None else repeat_kv
    conv = Convention(conv.attention, "all")
    tree = decode(a, work.batch, work.seq, conv) if work.decode else forward(a, work.batch, work.seq, conv)
    ab = dtype_bytes(dtype)
    tokens = work.batch * (1 if work.decode else work.seq)
    q_len, k_len = (1, work.seq + 1) if work.decode else (work.seq, work.seq)
    d = a.d_model
    nodes = {path: times for path, _, times in tree.walk()}
    per_layer: dict[str, list[K.Kernel]] = {}  # block-kind path -> one layer's kernels, in order
    layers: dict[str, int] = {}
    top: list[K.Kernel] = [K.memory(tokens * d * 2 * ab, hw, name="embedding")]
    top += [K.memory(0, hw, name="rotary table and mask")] * r.per_pass

    def elementwise(kind: str, elements: int, count: int = 1) -> list[K.Kernel]:
        n, per, fixed = getattr(r, kind)
        total = elements * (per * ab + fixed)
        return [K.memory(total / n, hw, name=kind)] * (n * count) if n else []

    for path, n, times in tree.leaves():
        segs = path.split(".")
        if "blocks" in segs[:-1]:
            kind_path = ".".join(segs[:segs.index("blocks") + 2])
            nl = nodes[kind_path]
            layers[kind_path] = nl
            out, count = per_layer.setdefault(kind_path, []), times // nl
        else:
            out, count = top, times
        if n.kind == "matmul" and n.shape:
            rows, cols = n.shape
            m = n.value // (2 * rows * cols)
            if ".expert." in f".{path}.":
                out += [K.matmul(m, rows, cols, dtype, hw, name=n.name)] * count
            elif count > 1 and cols == d:
                out.append(K.matmul(m, rows * count, cols, dtype, hw, name=n.name))
            elif count > 1 and rows == d:
                out.append(K.matmul(m, rows, cols * count, dtype, hw, name=n.name))
            else:
                out += [K.matmul(m, rows, cols, dtype, hw, name=n.name)] * count
        elif n.kind == "attention" and n.name == "scores":
            heads = count
            out += [K.memory(2 * work.batch * a.kv_heads * a.head_dim * ab, hw, name="cache write")] * \
                (r.cache_writes if work.decode else 0)  # the new token's K and V
            copies = a.group_size if rep and a.group_size > 1 else 1
            if copies > 1:  # repeat_kv: read K and V once, write them group_size times
                kv = 2 * work.batch * k_len * a.kv_heads * a.head_dim * ab
                out.append(K.memory(kv * (1 + copies), hw, name="repeat_kv"))
            if a.positions == "rotary" and r.rope[0]:
                for w in (heads * a.head_dim, a.kv_heads * a.head_dim):
                    out += [K.memory(tokens * w * r.rope[1] * ab / r.rope[0], hw, name="rope")] * r.rope[0]
            out.append(K.attention(work.batch, heads, q_len, k_len, a.head_dim, conv.causal(a), dtype, hw,
                                   kv_heads=a.kv_heads if a.kv_heads <= heads else heads, kv_copies=copies))
            if r.output_copy:
                out.append(K.memory(2 * tokens * heads * a.head_dim * ab, hw, name="attention output copy"))
            out += [K.memory(0, hw, name="host-only op")] * r.host_ops
        elif n.kind == "elementwise":
            out += _elementwise(a, n.name, n.value, count, tokens, ab, r, elementwise, hw)
    ordered = list(top[:1 + r.per_pass])
    for kp, ks in per_layer.items():
        ordered += ks * layers[kp]
    return ordered + top[1 + r.per_pass:]


def _elementwise(a: Architecture, name: str, value: int, count: int, tokens: int, ab: Fraction, r: Recipe,
                 elementwise, hw: Hardware) -> list[K.Kernel]:
    if name in ("norm", "final_norm", "embedding_norm"):
        return elementwise("rmsnorm" if a.norm == "rmsnorm" else "layernorm", tokens * a.d_model, count)
    if name == "activation":  # FLOPs per element: gelu 8, silu 4, relu 1 (core.workload.ELEMENTWISE)
        if a.activation == "relu":
            return elementwise("silu", value, count)  # one kernel, like SiLU
        return elementwise(a.activation, value // (4 if a.activation == "silu" else 8), count)
    if name in ("gate_product", "position"):
        return [K.memory(3 * value * ab, hw, name=name)] * count
    if name == "residual":
        adds = max(1, value // (tokens * a.d_model))
        return [] if r.residual_fused else [K.memory(3 * tokens * a.d_model * ab, hw, name="residual")] * (adds * count)
    if name in ("softmax", "qkv", "out", "bias", "lm_head_bias"):
        return []  # in the attention kernel, or a GEMM epilogue
    return [K.memory(2 * value * ab, hw, name=name)] * count  # anything else: one kernel, read and write


def pass_time(a: Architecture, work: Workload, hw: Hardware, *, engine: str = "eager", dtype: str = "bf16",
              recipe: Recipe | str = "transformers", repeat_kv: bool | None = None) -> K.PassEstimate:
    """Estimated time of one prefill or decode step: ``pass_kernels`` run through the launch model."""
    if engine not in K.ENGINES:
        raise WorkloadError(f"unknown kernel engine {engine!r}; use one of {', '.join(K.ENGINES)}")
    return K.run(pass_kernels(a, work, hw, dtype=dtype, recipe=recipe, repeat_kv=repeat_kv), hw, engine)
