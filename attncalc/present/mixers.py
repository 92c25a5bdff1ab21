"""The parts of encoder-decoder and hybrid models written out: cross-attention (T5) and the Mamba
mixer (Jamba), for `explain` (each matrix's shape and product) and `count` (the block kinds with
their counts, the per-sequence caches); and the layer-by-layer features of the 2026 wave's dense and
MoE models (issue 20): NoPE layers, where the MoE layers sit, routing correction biases, xIELU's
scalars. Every number is read from the Report's trees and figures."""

from __future__ import annotations

from typing import Callable

from ..dtypes import dtype_bytes
from ..core.parts.model import MIXER_PARTS, layer_counts
from ..core.report import Report
from ..core.tree import Node
from .explain import Step, n
from .linear_mixers import LINEAR_EXPLAIN
from .state_steps import forward_steps as _forward_steps, matrix_steps as _matrix_steps
from .sections import Row, Section


def _kind_with(report: Report, name: str) -> Node | None:
    return next((k for k in report.params.tree.get("blocks").children if k.get(name) is not None), None)


def _mamba_steps(report: Report, layers: int, node: Node) -> tuple[str, list[Step]]:
    """Jamba's Mamba mixer (core.parts.mamba)."""
    a, kv = report.arch, report.memory.kv_cache
    steps = _matrix_steps(node, layers, "Mamba layer")
    steps.append(Step(f"recurrent state per sequence = Mamba layers × d_inner × (d_state + d_conv) × bytes ({kv.dtype})",
                      f"{layers} × {n(a.mamba_inner)} × ({a.mamba_d_state} + {a.mamba_d_conv}) × {dtype_bytes(kv.dtype)}",
                      kv.state_per_sequence))
    return "the Mamba mixer (hybrid)", steps + _forward_steps(report, "mamba", "layer")


def _mamba2_steps(report: Report, layers: int, node: Node) -> tuple[str, list[Step]]:
    """The Mamba-2 mixer (core.parts.mamba2): its matrices, the state each layer keeps per
    sequence, and the chunked scan's products over the sequence padded to the chunk length."""
    a, kv, w = report.arch, report.memory.kv_cache, report.flops.workload
    nh, hd, n_, k, conv = a.mamba2_heads, a.mamba2_hd, a.mamba_d_state, a.mamba_d_conv, a.mamba2_conv_dim
    steps = [Step("conv channels conv_dim = d_ssm + 2 × groups × d_state", f"{n(a.mamba2_inner)} + 2 × "
                  f"{a.mamba2_groups} × {a.mamba_d_state}", conv),
             Step(f"heads nh = {nh}, head dim = d_ssm / nh", f"{n(a.mamba2_inner)} / {nh}", hd)]
    steps += _matrix_steps(node, layers, "Mamba-2 layer")
    per_layer = nh * hd * n_ + conv * k
    steps.append(Step("state per sequence, one layer = SSM state nh × head dim × d_state + conv window conv_dim × d_conv",
                      f"{nh} × {hd} × {n_} + {n(conv)} × {k}", per_layer))
    steps.append(Step(f"state per sequence, all Mamba-2 layers = layers × that × bytes ({kv.dtype}); whatever the context",
                      f"{layers} × {n(per_layer)} × {dtype_bytes(kv.dtype)}", int(layers * per_layer * dtype_bytes(kv.dtype))))
    seq, chunk = w.seq, a.mamba_chunk
    chunks = -(-seq // chunk)
    steps.append(Step(f"chunked scan: seq {n(seq)} padded up to a multiple of the chunk {n(chunk)} "
                      "(the padding is computed too)", f"⌈{n(seq)} / {n(chunk)}⌉ × {n(chunk)}", chunks * chunk))
    return "the Mamba-2 mixer (hybrid)", steps + _forward_steps(report, "mamba2", "layer")


# `explain` of each state mixer, by its part name (core.parts.model.MIXER_PARTS): a function of the
# report, the layers that have it and its parameter node (one layer), giving a section title and
# its steps. A new state mixer registers its own here (register_explain).
MIXER_EXPLAIN: dict[str, Callable[[Report, int, Node], tuple[str, list[Step]]]] = {"mamba": _mamba_steps,
                                                                                   "mamba2": _mamba2_steps}
# `count`'s block-kind table: what one layer of each state mixer keeps per sequence, in names.
STATE_WORDS: dict[str, str] = {"mamba": "d_inner × (d_state + d_conv) per Mamba layer",
                               "mamba2": "nh × head dim × d_state + conv_dim × d_conv per Mamba-2 layer"}


def register_explain(name: str, steps: Callable[[Report, int, Node], tuple[str, list[Step]]], state: str) -> None:
    MIXER_EXPLAIN[name] = steps
    STATE_WORDS[name] = state


# The linear-attention and short-convolution mixers (issue 20) register theirs.
for _name, (_steps, _state) in LINEAR_EXPLAIN.items():
    register_explain(_name, _steps, _state)


def state_mixer_sections(report: Report) -> list[tuple[str, list[Step]]]:
    """One section per state mixer the model has, in MIXER_PARTS order."""
    kinds = report.params.tree.get("blocks").children
    out = []
    for name in MIXER_PARTS:
        with_it = [k for k in kinds if k.get(name) is not None]
        if name == "attention" or not with_it or name not in MIXER_EXPLAIN:
            continue
        out.append(MIXER_EXPLAIN[name](report, sum(k.count for k in with_it), with_it[0].child(name)))
    return out


def mixer_steps(report: Report) -> list[tuple[str, list[Step]]]:
    """Cross-attention and Mamba sections, where the model has them (none for other models)."""
    a, out = report.arch, []
    kind = _kind_with(report, "cross_attention")
    if kind is not None:
        cross = kind.child("cross_attention")
        heads = cross.children[0]
        head = heads.children[0]
        steps = []
        for leaf in head.children:
            r, c = leaf.shape
            over = "the encoder's tokens, once per sequence" if leaf.name in ("key", "value_down") else "decoder tokens"
            steps.append(Step(f"{leaf.label} = {leaf.formula} (runs over {over})", f"{n(r)} × {n(c)}", leaf.value))
        steps.append(Step("one cross-attention head", " + ".join(n(c.value) for c in head.children), head.each))
        steps.append(Step("cross-attention in one decoder block = n_heads × one head", f"{heads.count} × {n(head.each)}",
                          cross.each))
        steps.append(Step("in all decoder blocks", f"{kind.count} × {n(cross.each)}", kind.count * cross.each))
        kv = report.memory.kv_cache
        enc = report.flops.workload.encoder_seq or 0
        steps.append(Step(f"cross K, V cached per sequence = decoder blocks × 2 × n_heads × d_head × encoder tokens "
                          f"× bytes ({kv.dtype})", f"{kind.count} × 2 × {a.n_heads} × {a.head_dim} × {n(enc)} × "
                          f"{dtype_bytes(kv.dtype)}",
                          kv.cross_per_sequence))
        fwd = report.flops.forward.tree
        f_kind = next(k for k in fwd.get("blocks").children if k.get("cross_attention") is not None)
        steps.append(Step(f"cross-attention FLOPs, one decoder block, forward (decoder seq {n(report.flops.workload.seq)}, "
                          f"encoder seq {n(enc)})", "Q, O over decoder tokens; K, V over encoder tokens; "
                          "scores and values over decoder × encoder pairs", f_kind.child("cross_attention").each))
        out.append(("cross-attention (encoder-decoder)", steps))
    out += state_mixer_sections(report)
    from .special import special_steps  # issue 20: the indexer, zero experts, Gemma 3n's parts

    return out + layer_steps(report) + special_steps(report)


def _listed(first: int, last: int, step: int) -> str:
    """Layer indices first, first + step, ... up to last, shortened when long."""
    idx = list(range(first, min(last, first + 5 * step) + 1, step))
    more = f", …, {first + (last - first) // step * step}" if first + 5 * step < last else ""
    return ", ".join(map(str, idx)) + more


def layer_steps(report: Report) -> list[tuple[str, list[Step]]]:
    """Which layers differ and how (none of it for most models): layers with no rotary embedding,
    the layers with a mixture of experts between dense ones, a routing correction bias, xIELU."""
    a, steps = report.arch, []
    L = a.n_layers
    if a.no_rope_every:
        k = a.no_rope_every
        nope = len(range(k - 1, L, k))
        steps.append(Step(f"layers with no rotary embedding (NoPE), every {k}-th: {_listed(k - 1, L - 1, k)}",
                          f"⌊{L} / {k}⌋", nope))
        steps.append(Step("layers with rotary positions (rotary embeddings have no weights and no matmuls: "
                          "both kinds count the same)", f"{L} − {nope}", L - nope))
    moe_layers = sum(n for layer, n, _ in layer_counts(a) if layer.moe) if a.is_moe else 0
    if moe_layers and moe_layers != L:
        lo, hi = min(a.first_dense_layers, L), L - 1 - a.last_dense_layers
        where = f"layers {lo}..{hi}" + (f" with i % {a.moe_every} = {a.moe_offset}" if a.moe_every > 1 else "")
        steps.append(Step(f"mixture-of-experts layers: {where}; the others have a dense MLP", f"{moe_layers} of {L}",
                          moe_layers))
    if a.router_correction != "none":
        held = "parameters, counted" if a.router_correction == "parameter" else "a buffer in the checkpoint, not a parameter: not counted"
        steps.append(Step(f"routing correction bias = n_experts per MoE layer ({held})",
                          f"{a.n_experts} × {moe_layers}", a.n_experts * moe_layers))
    if a.activation == "xielu":
        mlps = sum(n * ((a.n_experts + a.n_shared_experts) if layer.moe else 1) for layer, n, _ in layer_counts(a))
        steps.append(Step("xIELU scalars α_p, α_n = 2 per MLP", f"2 × {mlps}", 2 * mlps))
    return [("layer by layer", steps)] if steps else []


def kind_section(report: Report) -> Section | None:
    """`count`: each block kind of an encoder-decoder or hybrid with its mixer, count and figures."""
    p, f = report.params, report.flops
    if not (report.arch.is_encoder_decoder or report.arch.has_mamba):
        return None
    fk = {k.name: k for k in f.forward.kinds}
    rows = []
    for k in p.kinds:
        parts = []
        for m in k.mixer.split("+"):
            if m in MIXER_PARTS:
                each = k.attention_per_block if m == "attention" else k.mamba_per_block
                parts.append(f"{MIXER_PARTS[m]} {each:,}")
        if k.cross_attention_per_block:
            parts.append(f"cross-attention {k.cross_attention_per_block:,}")
        if k.mlp_per_block or "none" in k.mixer:
            parts.append(f"MLP {k.mlp_per_block:,}")
        rows.append(Row(f"{k.count} × {k.label}", ", ".join(parts) + f" (one block {k.per_block:,})", k.total,
                        k.total / p.total))
        if k.name in fk:
            rows.append(Row("  forward", f"{k.count} × {fk[k.name].per_block:,}", fk[k.name].total, unit="flops"))
    kv = report.memory.kv_cache
    if kv.cross_per_sequence:
        rows.append(Row("cross-attention K, V cache per sequence", f"encoder seq {f.workload.encoder_seq:,}, {kv.dtype}",
                        kv.cross_per_sequence, unit="bytes"))
    if kv.state_per_sequence:
        held = [m for m in STATE_WORDS if any(m in k.mixer.split("+") for k in p.kinds)]
        rows.append(Row(f"{' and '.join(MIXER_PARTS[m] for m in held) or 'recurrent'} state per sequence",
                        f"{'; '.join(STATE_WORDS[m] for m in held)}, {kv.dtype}", kv.state_per_sequence, unit="bytes"))
    return Section("block kinds (in order of their first layer)", tuple(rows))
