"""The tensors a layer of each block kind keeps under the pytorch-autocast convention, and the
ends' (``core.memory.peak`` describes the rules and their sources)."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

from ...spec.arch import Architecture
from ..parts.base import Act, Part, Weight
from ..parts.model import describe
from .activations import ActivationSettings, Tensor, kind_tensors
from .layout import placed

from .peak_types import Implementation, Kept, PeakSettings, block


# --- the tensors a layer keeps -------------------------------------------------------------------

PER = {"act": 2, "mask": 1, "fp32": 4, "logits": 4}
NORM_INPUTS = ("final_norm_input", "encoder_final_norm_input")
READ_BY_PROJECTIONS = ("qkv_input", "mlp_input", "logits_input", "mixer_input", "cross_query_input")
RMSNORM_16BIT = ("query_norm_input", "key_norm_input", "kv_latent", "query_latent")
TRACED_PARTS = ("attention", "mlp", "norms")  # parts whose modeling code the trace covers (dense attention, MLP)


def _acts(node, times: int = 1, out: dict | None = None) -> dict[str, Act]:
    """The Acts below ``node`` by the name ``activations`` gives their tensors."""
    out = {} if out is None else out
    if isinstance(node, Act):
        for i in range(times if node.numbered else 1):
            out[node.name.format(i + 1) if node.numbered else node.name] = node
    elif isinstance(node, Weight):
        for act in node.saves:
            _acts(act, times, out)
    elif isinstance(node, Part):
        for c in node.children:
            _acts(c, times * (node.count if node.active is None else 1), out)
    return out


def _readers(a: Architecture, name: str, impl: Implementation) -> int:
    """How many projections read the tensor ``name`` (each keeps its own bf16 cast of it)."""
    if name == "qkv_input":
        if a.is_latent:
            return 2  # the query projection (or its down-projection) and the shared key/value down-projection
        return 1 if impl.fused_qkv else 3
    if name == "mlp_input" and a.mlp == "gated":
        return 1 if impl.fused_gate_up else 2
    return 1


def _kept(a: Architecture, kind: Part, st: ActivationSettings, impl: Implementation, ps: PeakSettings,
          notes: set) -> tuple[list[Kept], int, int]:
    """What one layer of ``kind`` keeps under pytorch-autocast; the bytes its cache holds until the
    model returns (the rotary keys' fp32 copy); the bytes of its cache attention keeps too."""
    rows: list[Tensor] = kind_tensors(a, kind, replace(st, recompute="none"))
    acts = _acts(replace(kind, count=1))
    tokens = st.seq * st.micro_batch
    out: list[Kept] = []
    forward_only = shared = 0
    attention_here = any(isinstance(c, Part) and c.name == "attention" for c in kind.children)
    routed = any(w is not None for _, _, w in placed(kind))  # a routed (expert) part
    expand = a.group_size if not st.flash and not a.is_latent else 1
    for t in rows:
        act = acts[t.name]
        elements = Fraction(t.nbytes) / PER[act.dtype]
        if t.part not in TRACED_PARTS or (t.part == "mlp" and routed) or (t.part == "attention" and a.is_latent):
            notes.add(f"{kind.name}.{t.part}: tensors as declared, the modeling code was not traced")
        if t.name.startswith("norm_") and t.name.endswith("_input"):
            out += _norm(a, t.name.removesuffix("_input"), t.part, elements, tokens)
        elif t.name in READ_BY_PROJECTIONS:
            n = _readers(a, t.name, impl)
            out += [Kept(f"{t.name} (bf16 copy {i + 1} of {n})" if n > 1 else f"{t.name} (bf16 copy)", t.part,
                         block(2 * elements), "per-projection") for i in range(n)]
        elif t.name in RMSNORM_16BIT:
            rows_ = tokens * (a.n_heads if t.name == "query_norm_input" and a.qk_norm == "head" else
                              a.kv_heads if t.name == "key_norm_input" and a.qk_norm == "head" else 1)
            out += [Kept(f"{t.name} (fp32 upcast)", t.part, block(4 * elements), "rmsnorm-16bit"),
                    Kept(f"{t.name} (normalised, 16-bit)", t.part, block(2 * elements), "rmsnorm-16bit"),
                    Kept(f"{t.name} (rsqrt)", t.part, block(4 * rows_), "rmsnorm-16bit")]
        elif t.name.endswith("softmax_output"):
            out.append(Kept(t.name + " (fp32)", t.part, block(4 * elements), "softmax-fp32"))
            if not st.dropout:
                out.append(Kept(t.name.replace("softmax_output", "softmax_bf16"), t.part, block(2 * elements),
                                "softmax-cast"))
        elif t.name == "activation_input" and impl.gelu == "gelu-tanh" and a.activation == "gelu":
            out += [Kept("gelu_pow_input (fp32 upcast of x)", t.part, block(4 * elements), "gelu-tanh"),
                    Kept("gelu_tanh_output (fp32)", t.part, block(4 * elements), "gelu-tanh"),
                    Kept("gelu_half_x (bf16)", t.part, block(2 * elements), "gelu-tanh"),
                    Kept("gelu_one_plus_tanh (fp32)", t.part, block(4 * elements), "gelu-tanh")]
        elif t.name in ("out_proj_input", "softmax_stats") and st.flash:
            out.append(Kept(t.name, t.part, block(t.nbytes), "flash"))
        elif t.name in ("key", "value") and expand > 1:
            out.append(Kept(f"{t.name} (expanded to every query head)", t.part, block(expand * t.nbytes), "repeat-kv"))
        elif act.kind == "mask":
            out.append(Kept(t.name, t.part, block(t.nbytes), "dropout"))
        else:
            out.append(Kept(t.name, t.part, block(t.nbytes), "as-declared"))
    if a.qk_norm != "none" and attention_here:
        notes.add(f"{kind.name}.attention: query/key norms taken as RMSNorms over 16-bit tensors")
    if a.norms_per_block > 2:
        notes.add(f"{kind.name}.norms: every block norm taken as reading the fp32 residual stream")
    if attention_here and ps.use_cache and st.recompute == "none" and not a.is_latent:
        key = next((t for t in rows if t.name == "key"), None)
        value = next((t for t in rows if t.name == "value"), None)
        if key is not None and value is not None:
            if a.positions == "rotary":
                forward_only = block(2 * key.nbytes)  # the fp32 rotated keys (2 x the bf16 bytes)
                shared = block(value.nbytes)
            else:
                shared = block(key.nbytes) + block(value.nbytes)
                if impl.fused_qkv and st.flash:
                    out += [Kept("key (cache copy)", "attention", block(key.nbytes), "kv-cache"),
                            Kept("value (cache copy)", "attention", block(value.nbytes), "kv-cache")]
    return out, forward_only, shared


def _norm(a: Architecture, name: str, part: str, elements: Fraction, tokens: int) -> list[Kept]:
    """A norm over the fp32 residual stream: its input, and what its implementation keeps beside it."""
    out = [Kept(f"{name}_input (fp32)", part, block(4 * elements), "residual-fp32")]
    if a.norm == "rmsnorm":
        out += [Kept(f"{name}_normalized (fp32)", part, block(4 * elements), "rmsnorm"),
                Kept(f"{name}_rsqrt", part, block(4 * tokens), "rmsnorm")]
    else:
        out += [Kept(f"{name}_mean", part, block(4 * tokens), "layernorm"),
                Kept(f"{name}_rstd", part, block(4 * tokens), "layernorm")]
    return out


def _is_copied(w: Weight) -> bool:
    """A weight autocast casts to bf16: one a matmul or conv reads, or the bias such an op adds."""
    if w.kind in ("bias", "vocab_bias"):
        return w.work is not None and w.work.cost == "bias"
    return w.over is not None


def _weights(node: Part | Weight) -> tuple[int, int]:
    """(parameters, bf16 autocast copies in bytes) of one instance of ``node``."""
    params = copies = 0
    for w, times, _ in placed(node):
        n = w.rows * w.cols * times
        if not w.shared:
            params += n
        if _is_copied(w):
            copies += 2 * n
    return params, copies


def _ends_kept(a: Architecture, st: ActivationSettings, impl: Implementation) -> list[Kept]:
    model = describe(a)
    tokens = st.seq * st.micro_batch
    out: list[Kept] = []
    end_parts = [c for c in model.children if c.name != "blocks"]
    for part in end_parts:
        for name, act in _acts(part).items():
            if act.when and not all({"dropout": st.dropout, "flash": st.flash,
                                     "scores": not st.flash}[w] for w in act.when):
                continue
            elements = tokens * act.width
            if name == "logits":
                continue  # the loss's tensors are terms of their own
            if name in NORM_INPUTS:
                out += _norm(a, name.removesuffix("_input"), part.name, Fraction(elements), tokens)
            elif name in READ_BY_PROJECTIONS:
                out.append(Kept(f"{name} (bf16 copy)", part.name, block(2 * elements), "per-projection"))
            elif act.kind == "mask":
                out.append(Kept(name, part.name, block(elements), "dropout"))
            else:
                out.append(Kept(name, part.name, block(PER[act.dtype] * elements), "as-declared"))
    if a.positions == "rotary":
        rot = a.rope_dim if a.is_latent else a.head_dim
        out += [Kept("rotary_cos", "rotary", block(4 * st.seq * rot), "rotary"),
                Kept("rotary_sin", "rotary", block(4 * st.seq * rot), "rotary")]
    return out


