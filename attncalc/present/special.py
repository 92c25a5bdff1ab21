"""The issue-20 parts written out, for `explain` (each matrix, each product) and `count` (one section):
DeepSeek Sparse Attention's lightning indexer and its top-k (DeepSeek-V3.2), LongCat-Flash's
zero-computation experts and shortcut-connected MoE, Gemma 3n's per-layer embeddings, AltUp,
LAuReL and KV-sharing layers. Every number is read from the Report's trees and figures (and the
one mask, for the pair counts); the lines only show how they multiply."""

from __future__ import annotations

from ..core.figures import kind_mlp
from ..core.memory.cache import cache_kinds
from ..core.parts.mlp import unused_rows
from ..core.report import Report
from ..core.tree import Node
from ..core.workload import Convention
from .explain import Step, n
from .sections import Row, Section


def _convention(report: Report) -> Convention:
    c = report.flops.convention
    return Convention(c["attention"], c["ops"], c["unit"] == "mac", c.get("latent_attention", "naive"),
                      c.get("sparse_attention", "topk"))


def _first(tree: Node, name: str) -> tuple[Node, Node] | None:
    """(block kind, its first descendant called ``name``), the first kind that has one."""
    for kind in tree.get("blocks").children:
        for _, node, _ in kind.walk():
            if node.name == name and node.children:
                return kind, node
    return None


def _layers_with(tree: Node, name: str) -> int:
    return sum(k.count for k in tree.get("blocks").children if any(nd.name == name for _, nd, _ in k.walk()))


def _leaf_steps(node: Node) -> list[Step]:
    out = []
    for _, leaf, times in node.walk():
        if leaf.children or leaf.shape is None:
            continue
        r, c = leaf.shape
        copies = f" (× {times // node.count})" if times // node.count > 1 else ""
        out.append(Step(f"{leaf.label} = {leaf.formula}{copies}", f"{n(r)} × {n(c)}", leaf.value))
    return out


def _moe_layers(report: Report) -> int:
    return sum(k.count for k in report.params.tree.get("blocks").children if kind_mlp(k).get("expert") is not None)


def indexer_steps(report: Report) -> list[Step]:
    a, tree, seq = report.arch, report.params.tree, report.flops.workload.seq
    found = _first(tree, "indexer")
    if found is None:
        return []
    _, idx = found
    layers = _layers_with(tree, "indexer")
    steps = _leaf_steps(idx)
    steps.append(Step("indexer, one layer", " + ".join(n(c.total) for c in idx.children), idx.each))
    steps.append(Step("indexer in all layers", f"{layers} × {n(idx.each)}", layers * idx.each))
    steps.append(Step("indexer key cached per token and layer = index_head_dim (beside the latent and rotary key)",
                      f"{a.index_head_dim}", a.index_head_dim))
    conv = _convention(report)
    f_found = _first(report.flops.forward.tree, "indexer")
    if f_found is not None:
        _, f_idx = f_found
        for leaf in f_idx.children:
            if leaf.kind == "matmul":
                steps.append(Step(f"forward at {n(seq)} tokens: {leaf.label}", leaf.formula, leaf.value))
        steps.append(Step(f"forward: the indexer, one layer ({'its products' if conv.ops == 'matmul' else 'with ReLU'})",
                          "projections + 2 × pairs × index_heads × (index_head_dim + 1)", f_idx.each))
    kind = next(k for k in _described(report) if k.pattern is not None and k.pattern.topk)
    mask = conv.mask(a, kind.pattern)
    dense, chosen = mask.pairs(seq), conv.selected(mask, kind.pattern, seq, False)
    shape = (f"{n(seq)} × {n(seq + 1)} / 2" if mask.causal and not mask.window else
             f"{n(seq)} × {n(seq)}" if not mask.causal else f"the mask's, S = {n(seq)}")
    steps.append(Step("pairs the indexer scores = every key the mask allows", shape, dense))
    k = a.index_topk
    if chosen != dense:
        steps.append(Step(f"pairs the main attention runs over = Σ min(top-k, keys) = k(k + 1)/2 + (S − k) × k",
                          f"{n(k)} × {n(k + 1)} / 2 + ({n(seq)} − {n(k)}) × {n(k)}", chosen))
        steps.append(Step("main attention pairs saved by the top-k, per head and layer", f"{n(dense)} − {n(chosen)}",
                          dense - chosen))
    else:
        why = ("--sparse dense or --attention full: counted over every key" if seq > k
               else f"S ≤ top-k = {n(k)}: every key is selected")
        steps.append(Step(f"pairs the main attention runs over ({why})", n(dense), chosen))
    ctx = report.flops.workload.context
    steps.append(Step(f"a decode step at context {n(ctx)}: keys the indexer scores = context + 1", f"{n(ctx)} + 1",
                      mask.keys_at(ctx)))
    steps.append(Step(f"a decode step at context {n(ctx)}: keys the main attention reads = min(top-k, context + 1)",
                      f"min({n(k)}, {n(ctx + 1)})", conv.selected(mask, kind.pattern, ctx, True)))
    return steps


def _described(report: Report):
    from ..core.evaluate import kinds

    return kinds(report.arch)


def zero_expert_steps(report: Report) -> list[Step]:
    a, p = report.arch, report.params
    if not (a.zero_experts or a.shortcut_moe):
        return []
    moe = _moe_layers(report)
    found = _first(p.tree, "expert")
    per_expert = found[1].each if found else 0
    steps = []
    if a.shortcut_moe:
        steps.append(Step("sublayers (attention + dense MLP each); a LongCat layer holds two and one shortcut MoE",
                          f"2 × {a.n_layers // 2}", a.n_layers))
        steps.append(Step("MoE layers: every other sublayer, its experts reading that sublayer's attention output",
                          f"{a.n_layers} / 2", moe))
    steps.append(Step("router rows = n_experts + zero_experts (top-k over both)", f"{a.n_experts} + {a.zero_experts}",
                      a.n_experts + a.zero_experts))
    steps.append(Step("one real expert = gate + up + down", f"3 × {n(a.expert_ff_dim)} × {n(a.d_model)}", per_expert))
    steps.append(Step("one zero-computation expert: returns its input × the routing weight (no parameters, no matmul)",
                      "0", 0))
    steps.append(Step("experts in all MoE layers = MoE layers × n_experts × one", f"{moe} × {a.n_experts} × {n(per_expert)}",
                      moe * a.n_experts * per_expert))
    active = p.conventions.active
    steps.append(Step(f"active per token, upper bound: all {a.top_k} picks real experts (the active convention)",
                      "total − unpicked experts", active))
    low = active - moe * a.top_k * per_expert
    steps.append(Step(f"active per token, lower bound: all {a.top_k} picks zero experts",
                      f"{n(active)} − {moe} × {a.top_k} × {n(per_expert)}", low))
    extra = unused_rows(a)
    if extra:
        steps.append(Step("as transformers builds it: + zero_experts × 2 d_ff_expert × d_model per MoE layer "
                          "(gate/up rows no checkpoint holds)",
                          f"{n(p.total)} + {moe} × {a.zero_experts} × {n(2 * a.expert_ff_dim)} × {n(a.d_model)}",
                          p.conventions.as_built))
    f_found = _first(report.flops.forward.tree, "expert")
    if f_found is not None:
        steps.append(Step(f"forward: routed experts, one MoE layer at {n(report.flops.workload.seq)} tokens "
                          f"(top_k = {a.top_k} per token, all counted real: an upper bound)",
                          f"2 × tokens × {a.top_k} × {n(per_expert)}", f_found[1].total))
    return steps


def gemma3n_steps(report: Report) -> list[Step]:
    a, p = report.arch, report.params
    if not (a.per_layer_dim or a.altup_inputs > 1 or a.laurel_rank or a.kv_shared_layers):
        return []
    tree, L, steps = p.tree, a.n_layers, []
    emb = tree.get("embedding")
    for leaf in (emb.children if emb else ()):
        if leaf.name in ("per_layer", "per_layer_projection", "per_layer_norm") and leaf.shape:
            r, c = leaf.shape
            steps.append(Step(f"{leaf.label} = {leaf.formula}", f"{n(r)} × {n(c)}", leaf.value))
    for name, where in (("altup_in", "embedding"), ("altup_out", None)):
        node = emb.get(name) if where else tree.get(name)
        if node is None:
            continue
        inner = node if name == "altup_in" else node.child("unprojection")
        what = "AltUp stream projections (before the first layer)" if name == "altup_in" else \
            "AltUp stream unprojections (after the last layer)"
        steps.append(Step(f"{what} = (altup_inputs − 1) × d_model × d_model", f"{inner.count} × {n(inner.each)}",
                          inner.total))
    for part in ("per_layer_input", "altup", "laurel"):
        found = _first(tree, part)
        if found is None:
            continue
        _, node = found
        steps += _leaf_steps(node)
        layers = _layers_with(tree, part)
        steps.append(Step(f"{node.label}, one layer", " + ".join(n(c.total) for c in node.children), node.each))
        steps.append(Step(f"{node.label} in all layers", f"{layers} × {n(node.each)}", layers * node.each))
    if a.altup_inputs > 1:
        n_in = a.altup_inputs
        steps.append(Step("forward per token and layer: AltUp prediction = 2 × d_model × altup_inputs²",
                          f"2 × {n(a.d_model)} × {n_in}²", 2 * a.d_model * n_in * n_in))
    if a.kv_shared_layers:
        own = [k for k in cache_kinds(a) if k.per_token]
        shared = [k for k in cache_kinds(a) if not k.per_token]
        steps.append(Step("layers that compute and cache keys and values = n_layers − kv_shared_layers",
                          f"{L} − {a.kv_shared_layers}", sum(k.count for k in own)))
        steps.append(Step("KV-sharing layers: no key/value projections, read the last earlier layer of the same reach, "
                          "cache nothing", " + ".join(f"{k.count} ({k.name})" for k in shared) or "0",
                          sum(k.count for k in shared)))
    return steps


def special_steps(report: Report) -> list[tuple[str, list[Step]]]:
    """The explain sections of the issue-20 parts the model has (none for other models)."""
    out = []
    for title, steps in (("DeepSeek Sparse Attention: the lightning indexer and its top-k", indexer_steps(report)),
                         ("zero-computation experts and the shortcut-connected MoE (LongCat-Flash)",
                          zero_expert_steps(report)),
                         ("per-layer embeddings, AltUp, LAuReL and KV sharing (Gemma 3n)", gemma3n_steps(report))):
        if steps:
            out.append((title, steps))
    return out


def special_section(report: Report) -> Section | None:
    """`count`: the issue-20 parts in one section (the arithmetic is `explain`'s)."""
    a, p = report.arch, report.params
    rows: list[Row] = []
    tree = p.tree
    if a.index_heads:
        found = _first(tree, "indexer")
        layers = _layers_with(tree, "indexer")
        if found:
            rows.append(Row("lightning indexer", f"{layers} layers × {found[1].each:,} (wq_b, wk, k_norm, weights_proj)",
                            layers * found[1].each, layers * found[1].each / p.total))
        rows.append(Row("indexer key cache per token", f"{layers} layers × index_head_dim {a.index_head_dim}",
                        layers * a.index_head_dim))
        conv = _convention(report)
        seq = report.flops.workload.seq
        kind = next(k for k in _described(report) if k.pattern is not None and k.pattern.topk)
        mask = conv.mask(a, kind.pattern)
        rows.append(Row("pairs per head and layer: indexer / main attention",
                        f"every key the mask allows / top {a.index_topk:,} ({'dense' if conv.sparse == 'dense' else 'sparse'})",
                        conv.selected(mask, kind.pattern, seq, False)))
    if a.zero_experts or a.shortcut_moe:
        steps = {s.text.split(":")[0].split(" =")[0]: s.result for s in zero_expert_steps(report)}
        rows.append(Row("router candidates", f"{a.n_experts} experts + {a.zero_experts} zero-computation experts",
                        a.n_experts + a.zero_experts))
        rows.append(Row("active per token, lower bound", f"every one of the top {a.top_k} picks a zero expert",
                        steps.get(f"active per token, lower bound")))
        if p.conventions.as_built != p.total:
            rows.append(Row("as transformers builds it", "+ the zero experts' unused gate/up rows",
                            p.conventions.as_built))
    if a.per_layer_dim or a.altup_inputs > 1 or a.laurel_rank:
        for name, label in (("per_layer", "per-layer embedding table (PLE)"),):
            leaf = tree.get(f"embedding.{name}")
            if leaf is not None:
                rows.append(Row(label, f"{leaf.shape[0]:,} × {leaf.shape[1]:,}", leaf.value, leaf.value / p.total))
        for part, label in (("altup", "AltUp"), ("laurel", "LAuReL"), ("per_layer_input", "per-layer inputs")):
            layers = _layers_with(tree, part)
            found = _first(tree, part)
            if found:
                rows.append(Row(f"{label} in all layers", f"{layers} × {found[1].each:,}", layers * found[1].each))
    if a.kv_shared_layers:
        rows.append(Row("KV-sharing layers (cache nothing)", f"the last {a.kv_shared_layers} of {a.n_layers}",
                        a.kv_shared_layers))
    return Section("new parts (issue 20)", tuple(rows)) if rows else None
