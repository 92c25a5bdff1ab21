"""`show MODEL`: the hyper-parameters that apply to this model (a field that does not apply is
marked n/a with the reason), numbers with separators, user strings as plain text."""

from __future__ import annotations

from typing import Any

from ..spec.arch import DOC, Architecture
from .tables import TEXT, Block, Column, Para, Table
from .text import safe

TEXTS = ("name", "family", "source", "notes")  # shown as paragraphs: long, and the user's words


def not_applicable(a: Architecture, key: str) -> str | None:
    """Why a field does not apply to this model, or None when it does."""
    if key == "norm_bias" and a.norm != "layernorm":
        return "n/a: RMSNorm has no bias"
    if key == "top_k" and not a.is_moe:
        return "n/a: dense MLP (n_experts = 1)"
    if key == "n_positions" and a.positions != "learned":
        return f"n/a: {a.positions} positions have no table"
    if key == "lm_head_bias" and a.unembedding != "untied":
        return f"n/a: unembedding {a.unembedding}"
    if key == "sliding_window" and a.sliding_window is None:
        return "none: every token sees the whole context"
    return None


DERIVED = {"d_head": "head_dim", "d_ff": "ff_dim", "block_norms": "norms_per_block", "n_kv_heads": "kv_heads",
           "n_positions": "position_rows"}


def value_text(v: Any) -> str:
    if v is None:
        return "unset"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return f"{v:,}"
    return safe(str(v))


def show_table(a: Architecture, info: dict[str, Any]) -> list[Block]:
    blocks: list[Block] = [Para(f"{safe(a.name)} ({safe(a.family)})", "bold")]
    t = Table("hyper-parameters (given and derived)", (Column("field", TEXT), Column("value", TEXT),
                                                       Column("meaning", TEXT, fold=True, drop=1)), key="fields")
    for k, v in info.items():
        if k in TEXTS:
            continue
        why = not_applicable(a, k)
        if why is None and v is None and k in DERIVED:
            why = f"default: {value_text(getattr(a, DERIVED[k]))}"
        t.add(k, why if why is not None else value_text(v), DOC.get(k, "derived"))
    blocks.append(t)
    read = getattr(a, "_read", ())
    if read:  # a config.json: the keys it lacks, read with transformers' defaults; likely typos
        rt = Table("read from the config.json: absent keys (transformers' defaults used) and keys not read",
                   (Column("key", TEXT), Column("value", TEXT), Column("why", TEXT, fold=True)), key="read")
        for kind, _source, key, text in read:
            if kind == "default":
                rt.add(key, text, "transformers' default (absent from the file)")
            else:
                rt.add(key, "not read", text)
        blocks.append(rt)
    blocks.append(Para(f"source: {safe(a.source)}" if a.source else "source: (none given)", "dim"))
    if a.notes:
        blocks.append(Para(f"notes: {safe(a.notes)}", "dim"))
    return blocks
