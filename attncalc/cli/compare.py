"""`attncalc compare A B C …`: headline figures side by side, largest and smallest marked."""

from __future__ import annotations

from typing import Annotated

import typer

from . import app
from .common import Format, complete_model, emit, handles_errors, stdout
from .options import Attention, AttentionMode, Dtype, Seq, Sets, load

Models = Annotated[list[str], typer.Argument(help="Two or more presets, TOML files or config.json files.",
                                               autocompletion=complete_model, show_default=False)]


@app.command(epilog="Examples: attncalc compare gpt3 llama-2-70b llama-3-70b mixtral-8x7b · "
                    "attncalc compare llama-2-7b llama-3-8b --format json")
@handles_errors
def compare(
    models: Models,
    seq: Seq = None, attention: Attention = AttentionMode.auto, dtype: Dtype = "bf16", sets: Sets = None,
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="Output format."),
) -> None:
    """Compare architectures side by side: parameters, shares, FLOPs per token, KV cache, weights."""
    from ..core.compare import PARTS, bar, rows
    from ..core.report import build
    from ..core.workload import Convention, Workload

    archs = [load(m, sets) for m in models]
    reports = [build(a, Workload(seq=seq, dtype=dtype), Convention(attention.value)) for a in archs]
    table = rows(reports)
    names = [a.name for a in archs]
    if fmt is Format.json:
        from ..present.document import count_document, envelope, to_json

        emit(to_json(envelope(models=[count_document(r) for r in reports], rows=table)))
        return
    cells = [[_cell(r, i) for i in range(len(names))] for r in table]
    if fmt is Format.csv:
        from ..present.document import tabular_csv

        emit(tabular_csv(["metric", *names], [[r["key"], *map(_exact, r["values"])] for r in table]))
        return
    if fmt is Format.markdown:
        lines = ["| figure | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
        lines += ["| " + r["label"] + " | " + " | ".join(c.replace("\n", " ") for c in row) + " |"
                  for r, row in zip(table, cells)]
        emit("\n".join(lines) + "\n")
        return
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    t = Table(title="compare (× ratio to the first column; ▲ largest, ▼ smallest)", title_justify="left")
    t.add_column("figure", no_wrap=True)
    for n in names:
        t.add_column(n, justify="right", overflow="fold")
    for r, row in zip(table, cells):
        t.add_row(r["label"], *row)
    width = 50
    bars = Table.grid(padding=(0, 1))
    bars.add_column(no_wrap=True)
    bars.add_column(no_wrap=True)
    for n, r in zip(names, reports):
        bars.add_row(n, bar(r, width))
    legend = "  ".join(f"{ch} {label}" for label, ch in PARTS)
    stdout().print(Group(t, Text(""), Text("where the parameters go:"), bars, Text(legend, style="dim")))


def _exact(v) -> str:
    if isinstance(v, dict):
        return str(v["numerator"] / v["denominator"])
    return str(v)


def _cell(r: dict, i: int) -> str:
    from ..units import human, human_bytes, human_flops

    v = r["approx"][i]
    text = {"count": lambda x: human(int(x)), "flops": human_flops, "bytes": lambda x: human_bytes(int(x)),
            "share": lambda x: f"{100 * x:.1f}%"}[r["unit"]](v)
    mark = " ▲" if (i == r["largest"] and r["largest"] != r["smallest"]) else (
        " ▼" if (i == r["smallest"] and r["largest"] != r["smallest"]) else "")
    ratio = "" if i == 0 or r["ratios"][i] is None else f" ×{r['ratios'][i]:.2f}"
    return f"{text}{mark}{ratio}"
