"""`attncalc list` (the presets) and `attncalc show MODEL` (its hyper-parameters)."""

from __future__ import annotations

import typer

from . import app
from .common import Format, complete_model, emit, handles_errors
from .options import MODEL_HELP


@app.command("list", epilog="Examples: attncalc list · attncalc list --format csv · attncalc show gpt3 (for sources)")
@handles_errors
def list_presets(
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="Output format."),
) -> None:
    """List the presets by family then size: shape and exact total parameters (sources: `attncalc show`)."""
    from ..core.evaluate import count_params
    from ..spec.load import load_preset, preset_names

    rows = []
    for name in preset_names():
        a = load_preset(name)
        rows.append({"name": name, "family": a.family, "total": count_params(a).total, "source": a.source,
                     "d_model": a.d_model, "n_layers": a.n_layers, "n_heads": a.n_heads, "n_kv_heads": a.kv_heads,
                     "n_ctx": a.n_ctx})
    rows.sort(key=lambda r: (r["family"].lower(), r["total"], r["name"]))
    if fmt is Format.json:
        from ..present.document import envelope, to_json

        emit(to_json(envelope(presets=rows)))
        return
    if fmt is Format.csv:
        from ..present.document import tabular_csv

        emit(tabular_csv(list(rows[0]), [list(r.values()) for r in rows]))
        return
    from ..present.tables import APPROX, EXACT, TEXT, Column, Table, markdown, print_page
    from ..present.terminal import approx

    t = Table(f"{len(rows)} presets, by family then size (sources: attncalc show NAME)",
              (Column("name", TEXT), Column("family", TEXT, drop=2), Column("d_model", EXACT, drop=4),
               Column("layers", EXACT), Column("heads", EXACT), Column("KV heads", EXACT),
               Column("context", EXACT, drop=3), Column("total", EXACT), Column("≈", APPROX, drop=1)), key="presets")
    for r in rows:
        t.add(r["name"], r["family"], r["d_model"], r["n_layers"], r["n_heads"], r["n_kv_heads"], r["n_ctx"],
              r["total"], approx(r["total"], "count"))
    if fmt is Format.markdown:
        emit(markdown([t]))
    else:
        print_page([t])


@app.command(epilog="Example: attncalc show mixtral-8x7b")
@handles_errors
def show(
    model: str = typer.Argument(..., help=MODEL_HELP, autocompletion=complete_model, show_default=False),
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="Output format."),
) -> None:
    """Show a model's hyper-parameters (given and derived) and its source."""
    from ..spec.load import load_model
    from ..present.document import envelope, model_info, to_csv, to_json

    from .common import loaded

    arch = loaded(load_model(model))
    info = model_info(arch)
    if fmt is Format.json:
        emit(to_json(envelope(model=info)))
    elif fmt is Format.csv:
        emit(to_csv(info))
    else:
        from ..present.show import show_table
        from ..present.tables import markdown, print_page

        blocks = show_table(arch, info)
        emit(markdown(blocks)) if fmt is Format.markdown else print_page(blocks)
