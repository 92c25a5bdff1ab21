"""The `count` report as plain data: titled sections of rows, before any styling.

Rich tables (render.py) and Markdown both draw these same rows, so the two cannot disagree.
A row is (item, how it is computed, exact integer or None, share of the total or None).
"""

from __future__ import annotations

from dataclasses import dataclass
from ..core.figures import CONVENTIONS, MATRICES, Params, attention_kind, head_matrices, main_block, kind_mlp
from ..core.tree import Node
from ..spec.arch import Architecture

CONVENTIONAL = {"query": "W_Q", "key": "W_K", "value_down": "W_V", "value_up": "W_O slice"}
WORDS = {"query": "query", "key": "key", "value_down": "value-down", "value_up": "value-up"}


@dataclass(frozen=True)
class Row:
    item: str
    how: str
    value: int | None
    share: float | None = None
    strong: bool = False
    unit: str | None = None  # count | flops | bytes: how the ≈ column reads (default: the section's)


@dataclass(frozen=True)
class Section:
    title: str
    rows: tuple[Row, ...]
    note: str = ""
    unit: str = "count"
    share_label: str = "share"  # what the share column holds (estimates: "exact ÷ estimate")
    share_kind: str = "share"  # share (a percentage of a whole) or ratio (a plain number)


def x(*factors: int) -> str:
    return " × ".join(f"{f:,}" for f in factors)


def header_lines(a: Architecture) -> list[str]:
    kv = "" if a.kv_heads == a.n_heads else f", {a.kv_heads} key/value heads (groups of {a.group_size})"
    moe = f", {a.n_experts} experts (top {a.top_k})" if a.is_moe else ""
    return [
        f"{a.name} ({a.family})" + (f": {a.notes}" if a.notes else ""),
        f"d_model {a.d_model:,}, {a.n_layers} layers, {a.n_heads} heads of d_head {a.head_dim}{kv}, "
        f"d_ff {a.ff_dim:,} ({a.mlp}){moe}, vocab {a.vocab_size:,}, n_ctx {a.n_ctx:,}",
        f"source: {a.source}" if a.source else "source: (none given)",
    ]


def param_sections(a: Architecture, s: Params) -> list[Section]:
    total = s.total
    tree = s.tree
    blk = main = main_block(tree)
    if blk.get("attention") is None:  # a hybrid whose most layers are Mamba: its attention layers' kind
        blk = attention_kind(tree.get("blocks").children)
    att = blk.child("attention")
    mats = head_matrices(att)
    head_rows = [
        Row(f"{WORDS[m]} ({CONVENTIONAL[m]})", f"{x(*mats[m].shape)}", mats[m].value) for m in MATRICES
    ]
    shared = "" if a.group_size == 1 else f" (key and value-down shared by {a.group_size} query heads)"
    head_rows.append(Row("one head: 4 matrices", "query + key + value-down + value-up" + shared,
                         s.attention.per_head, strong=True))

    g, kv = a.group_size, a.kv_heads
    if g == 1:
        heads_how = f"{a.n_heads} heads × {s.attention.per_head:,}"
    else:
        qv = mats["query"].value + mats["value_up"].value
        kvv = mats["key"].value + mats["value_down"].value
        heads_how = f"{a.n_heads} × {qv:,} (query, value-up) + {kv} × {kvv:,} (key, value-down)"
    block_rows = [Row("attention heads", heads_how, s.attention.heads_per_block)]
    if s.attention.biases_per_block:
        block_rows.append(Row("attention biases", bias_words(att), s.attention.biases_per_block))
    if s.attention.relative_positions_per_block:
        block_rows.append(Row("relative positions", "W_R + u, v (Transformer-XL)", s.attention.relative_positions_per_block))
    if s.attention.shared_per_block:
        block_rows.append(Row("shared by the heads", shared_words(att), s.attention.shared_per_block))
    if s.attention.per_block != s.attention.heads_per_block:
        parts = [w for w, v in (("biases", s.attention.biases_per_block),
                                ("relative positions", s.attention.relative_positions_per_block),
                                ("shared", s.attention.shared_per_block)) if v]
        block_rows.append(Row("attention", " + ".join(["heads", *parts]), s.attention.per_block, strong=True))
    block_rows += _mlp_rows(a, kind_mlp(blk))
    if s.norms.per_block:
        block_rows.append(Row("norms", f"{a.norms_per_block} × {a.norm_params:,} ({a.norm})", s.norms.per_block))
    block_rows.append(Row("one block", "attention + MLP + norms", s.per_block, strong=True) if blk is main else
                      Row(f"one {blk.label}", "attention + MLP + norms", blk.each, strong=True))

    model_rows = []
    emb = tree.get("embedding")
    for leaf_ in emb.children if emb else ():
        how = x(*leaf_.shape) if leaf_.shape and leaf_.shape[1] > 1 else leaf_.formula
        model_rows.append(Row(leaf_.label, how, leaf_.total, leaf_.total / total))
    if emb and len([c for c in emb.children if c.total]) > 1:
        model_rows.append(Row("embeddings", " + ".join(c.label.split(" (")[0] for c in emb.children if c.total),
                              s.embedding, s.embedding / total))
    if len(s.kinds) == 1:
        model_rows.append(Row(f"{a.n_layers} blocks", f"{a.n_layers} × {s.per_block:,}", s.blocks, s.blocks / total))
    else:
        for k in s.kinds:
            model_rows.append(Row(f"{k.count} {k.label}s", f"{k.count} × {k.per_block:,} ({k.attention_reach})",
                                  k.total, k.total / total))
        model_rows.append(Row(f"{s.n_layers} blocks", " + ".join(k.name for k in s.kinds), s.blocks, s.blocks / total))
    model_rows.append(Row("  of which attention heads", f"{a.n_layers} × {s.attention.heads_per_block:,}"
                          if len(s.kinds) == 1 else "every block's heads",
                          s.attention.heads_total, s.attention.heads_total / total))
    if s.attention.total != s.attention.heads_total:
        model_rows.append(Row("  of which attention", f"{a.n_layers} × {s.attention.per_block:,} (heads, biases, shared)"
                              if len(s.kinds) == 1 else "every block's attention",
                              s.attention.total, s.attention.total / total))
    if s.cross_attention:
        model_rows.append(Row("  of which cross-attention", "every decoder block's", s.cross_attention, s.cross_attention / total))
    if s.mamba:
        model_rows.append(Row("  of which Mamba mixers", "every Mamba layer's", s.mamba, s.mamba / total))
    model_rows.append(Row("  of which MLP", f"{a.n_layers} × {s.mlp.per_block:,}" if len(s.kinds) == 1
                          else " + ".join(f"{k.count} × {k.mlp_per_block:,}" for k in s.kinds), s.mlp.total,
                          s.mlp.total / total))
    if s.norms.final:
        model_rows.append(Row("final norm", a.norm, s.norms.final))
    if a.unembedding == "tied":
        model_rows.append(Row("unembedding (W_U)", "tied to the token embedding", s.unembedding))
    elif a.unembedding == "untied":
        model_rows.append(Row("unembedding (W_U)", x(a.vocab_size, a.d_model) + (" + bias" if a.lm_head_bias else ""),
                              s.unembedding, s.unembedding / total))
    if s.pooler:
        model_rows.append(Row("pooler", "d_model × d_model + bias", s.pooler))
    model_rows.append(Row("total", "all parameters", total, 1.0, strong=True))

    conv = s.conventions
    conv_rows = [Row(name.replace("_", "-"), CONVENTIONS[name], getattr(conv, name), getattr(conv, name) / total)
                 for name in CONVENTIONS if (name != "active" or a.is_moe) and (name != "with_mtp" or a.mtp_layers)
                 and (name != "as_built" or a.zero_experts)]
    return [
        Section("one attention head", tuple(head_rows)),
        Section("one block", tuple(block_rows)),
        Section("the model", tuple(model_rows)),
        Section("counting conventions", tuple(conv_rows),
                "match a published figure to the convention it uses"),
    ]


def shared_words(attention: Node) -> str:
    """What every head of this attention shares, named from its tree (MLA's latent projections and
    norms, query/key norms, sinks)."""
    heads = {"heads", "kv_groups", "biases", "relative"}
    labels = []
    for c in attention.children:
        if c.name in heads or not c.total:
            continue
        labels += [g.label for g in c.children if g.total] if c.children else [c.label]
    return ", ".join(labels)


def bias_words(attention: Node) -> str:
    """The biases this attention has, named from its tree (Qwen2: query/key/value biases only)."""
    node = attention.get("biases")
    labels = [c.label for c in node.children if c.total] if node is not None else []
    return " and ".join(labels) if labels else "biases"


def _mlp_rows(a: Architecture, mlp: Node) -> list[Row]:
    rows = []
    expert = mlp.get("expert")
    body = expert.children if expert else mlp.children
    prefix = "expert " if expert else "MLP "
    for leaf_ in body:
        how = x(*leaf_.shape) if leaf_.shape[1] > 1 else leaf_.formula
        rows.append(Row(prefix + leaf_.label, how, leaf_.value))
    if expert:
        rows.append(Row(f"{a.n_experts} experts", f"{a.n_experts} × {expert.each:,} (top {a.top_k} active)", expert.total))
        shared = mlp.get("shared")
        if shared is not None:
            rows.append(Row(f"{shared.count} shared expert{'s' if shared.count > 1 else ''}",
                            f"{shared.count} × {shared.each:,} (d_ff {a.shared_ff_dim:,}, every token)", shared.total))
        dense = mlp.get("dense")  # LongCat-Flash: the layer's own dense MLP beside its shortcut-connected experts
        if dense is not None:
            rows.append(Row(dense.label, f"d_ff {a.ff_dim:,}, every token", dense.total))
        for name in ("shared_gate", "router", "router_bias"):
            node = mlp.get(name)
            if node is not None:
                rows.append(Row(node.label, x(*node.shape) if node.shape[1] > 1 else node.formula, node.value))
    width = f"d_ff {a.expert_ff_dim:,} per expert" if expert else f"d_ff {a.ff_dim:,}"
    rows.append(Row("MLP", f"{a.mlp} MLP, {width}", mlp.each, strong=True))
    return rows
