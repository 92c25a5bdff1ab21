"""`attncalc init NAME`: write a commented TOML architecture to edit (optionally from a model)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from . import app
from .common import complete_model, emit, handles_errors


@app.command(epilog="Examples: attncalc init my-model · attncalc init my-llama --from llama-3-8b · "
                    "attncalc init my-model --stdout")
@handles_errors
def init(
    name: Annotated[str, typer.Argument(help="Name of the new architecture; writes NAME.toml.")],
    base: Annotated[Optional[str], typer.Option("--from", help="Start from this preset or file.",
                                                autocompletion=complete_model, show_default=False)] = None,
    to_stdout: Annotated[bool, typer.Option("--stdout", help="Print the template instead of writing a file.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented TOML template of an architecture to edit, then `attncalc count NAME.toml`."""
    from ..errors import ConfigError
    from ..spec.load import load_model
    from ..spec.template import template

    text = template(load_model(base) if base else None, Path(name).stem)
    if to_stdout:
        emit(text)
        return
    path = Path(name if name.endswith(".toml") else f"{name}.toml")
    if path.exists() and not force:
        raise ConfigError("already exists; use --force to overwrite", source=str(path))
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as err:
        raise ConfigError(err.strerror or str(err), source=str(path)) from None
    print(f"wrote {path}; edit it, then: attncalc count {path}", file=sys.stderr)
