"""`attncalc compare A B C …`: headline figures side by side at one workload, largest and smallest marked."""

from __future__ import annotations

from typing import Annotated

import typer

from . import app
from .common import Format, complete_model, emit, handles_errors
from .options import Attention, AttentionMode, Dtype, Seq, Sets

Models = Annotated[list[str], typer.Argument(help="Two or more presets, TOML files or config.json files; "
                                               "MODEL:field=value for a variant (llama-3-8b:n_kv_heads=32).",
                                               autocompletion=complete_model, show_default=False)]


@app.command(epilog="Examples: attncalc compare gpt3 llama-2-70b llama-3-70b mixtral-8x7b · "
                    "attncalc compare llama-2-7b llama-3-8b --seq 4096 --format json · "
                    "attncalc compare llama-3-8b llama-3-8b:n_kv_heads=32")
@handles_errors
def compare(
    models: Models,
    seq: Seq = None, attention: Attention = AttentionMode.auto, dtype: Dtype = "bf16", sets: Sets = None,
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="Output format."),
) -> None:
    """Compare architectures side by side at one workload (default --seq: the smallest n_ctx among them):
    parameters, shares, FLOPs per token, KV cache, weights."""
    from ..core.compare import PARTS, bar, rows
    from ..core.report import build
    from ..core.workload import Convention, Workload, positive
    from ..spec.edit import apply
    from ..spec.ref import load_ref

    from .common import loaded

    archs = [apply(loaded(load_ref(m)), sets or [], {}) for m in models]
    s = min(a.n_ctx for a in archs) if seq is None else positive("--seq", seq)
    reports = [build(a, Workload(seq=s, dtype=dtype), Convention(attention.value)) for a in archs]
    table = rows(reports)
    names = [a.name for a in archs]
    workload = {"seq": s, "batch": 1, "attention": attention.value, "dtype": dtype,
                "seq_rule": "--seq" if seq is not None else "smallest n_ctx among the models"}
    if fmt is Format.json:
        from ..present.document import count_document, envelope, to_json

        emit(to_json(envelope(workload=workload, models=[count_document(r) for r in reports], rows=table)))
        return
    if fmt is Format.csv:
        from ..present.document import tabular_csv

        emit(tabular_csv(["metric", *names], [[r["key"], *map(_exact, r["values"])] for r in table]))
        return
    from ..present.compare import compare_blocks
    from ..present.tables import markdown, print_page, terminal_width

    if fmt is Format.markdown:
        emit(markdown(compare_blocks(names, table, workload)))
        return
    width = terminal_width()
    name_w = max(len(n) for n in names)
    bar_w = max(10, min(50, width - name_w - 2))
    legend = "  ".join(f"{ch} {label}" for label, ch in PARTS)
    print_page(compare_blocks(names, table, workload, [bar(r, bar_w) for r in reports], legend), width)


def _exact(v) -> str:
    if isinstance(v, dict):
        return str(v["numerator"] / v["denominator"])
    return str(v)
