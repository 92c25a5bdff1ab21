"""`attncalc list` (the presets) and `attncalc show MODEL` (its hyper-parameters)."""

from __future__ import annotations

import typer

from . import app
from .common import Format, complete_model, emit, handles_errors, stdout
from .options import MODEL_HELP


@app.command("list", epilog="Example: attncalc list --format csv")
@handles_errors
def list_presets(
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="Output format."),
) -> None:
    """List the presets: name, family, total parameters, source."""
    from ..core.evaluate import count_params
    from ..spec.load import load_preset, preset_names

    rows = []
    for name in preset_names():
        a = load_preset(name)
        rows.append({"name": name, "family": a.family, "total": count_params(a).total, "source": a.source})
    if fmt is Format.json:
        from ..present.document import envelope, to_json

        emit(to_json(envelope(presets=rows)))
    elif fmt is Format.csv:
        from ..present.document import tabular_csv

        emit(tabular_csv(list(rows[0]), [list(r.values()) for r in rows]))
    elif fmt is Format.markdown:
        lines = ["| name | family | total | source |", "|---|---|---:|---|"]
        lines += [f"| {r['name']} | {r['family']} | {r['total']:,} | {r['source']} |" for r in rows]
        emit("\n".join(lines) + "\n")
    else:
        from rich.table import Table

        from ..units import human

        t = Table(title="presets", title_justify="left")
        for col, just in (("name", "left"), ("family", "left"), ("total", "right"), ("≈", "right"), ("source", "left")):
            t.add_column(col, justify=just, overflow="fold", no_wrap=col != "source")
        for r in rows:
            t.add_row(r["name"], r["family"], f"{r['total']:,}", human(r["total"]), r["source"])
        stdout().print(t)


@app.command(epilog="Example: attncalc show mixtral-8x7b")
@handles_errors
def show(
    model: str = typer.Argument(..., help=MODEL_HELP, autocompletion=complete_model, show_default=False),
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="Output format."),
) -> None:
    """Show a model's hyper-parameters (given and derived) and its source."""
    from ..spec.arch import DOC
    from ..spec.load import load_model
    from ..present.document import envelope, model_info, to_csv, to_json

    info = model_info(load_model(model))
    if fmt is Format.json:
        emit(to_json(envelope(model=info)))
    elif fmt is Format.csv:
        emit(to_csv(info))
    elif fmt is Format.markdown:
        emit("| field | value |\n|---|---|\n" + "".join(f"| {k} | {v} |\n" for k, v in info.items()))
    else:
        from rich.table import Table

        t = Table(title=info["name"], title_justify="left")
        t.add_column("field", no_wrap=True)
        t.add_column("value", overflow="fold")
        t.add_column("meaning", style="dim", overflow="fold")
        for k, v in info.items():
            t.add_row(k, "" if v is None else str(v), DOC.get(k, "derived"))
        stdout().print(t)
