"""`attncalc count MODEL`: the exact breakdown, per matrix, per head, per block and in total."""

from __future__ import annotations

import typer

from . import app
from .common import Format, complete_model, emit, handles_errors, stdout

MODEL_HELP = "A preset name (`attncalc list`), a TOML file, or a Hugging Face config.json."


@app.command(epilog="Examples: attncalc count gpt3 · attncalc count llama-3-8b --format json · "
                    "attncalc count ./config.json --format csv")
@handles_errors
def count(
    model: str = typer.Argument(..., help=MODEL_HELP, autocompletion=complete_model, show_default=False),
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="Output format."),
) -> None:
    """Count parameters exactly: per matrix, per head, per block, in total, under every convention."""
    from ..params import count_params
    from ..presets import load_model
    from ..views import param_summary

    arch = load_model(model)
    tree = count_params(arch)
    summary = param_summary(arch, tree)
    if fmt in (Format.json, Format.csv):
        from ..serialize import document, to_csv, to_json

        doc = document(arch, params=summary)
        emit(to_json(doc) if fmt is Format.json else to_csv(doc))
        return
    from ..sections import header_lines, param_sections

    header, sections = header_lines(arch), param_sections(arch, tree, summary)
    if fmt is Format.markdown:
        from ..render import sections_markdown

        emit(sections_markdown(header, sections))
        return
    from ..render import sections_renderable

    stdout().print(sections_renderable(header, sections))
