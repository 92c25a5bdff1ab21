"""`attncalc init NAME`: write a commented TOML architecture to edit (optionally from a model)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from . import app
from .common import complete_model, emit, handles_errors
from .faults import say
from .files import write_text_file


@app.command(epilog="Examples: attncalc init my-model · attncalc init my-llama --from llama-3-8b · "
                    "attncalc init my-model --stdout")
@handles_errors
def init(
    name: Annotated[str, typer.Argument(help="Name of the new architecture; writes NAME.toml.")],
    base: Annotated[Optional[str], typer.Option("--from", help="Start from this preset or file.",
                                                autocompletion=complete_model, show_default=False)] = None,
    to_stdout: Annotated[bool, typer.Option("--stdout", help="Print the template instead of writing a file.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing regular file.")] = False,
    follow_links: Annotated[bool, typer.Option("--follow-links", help="If NAME.toml is a symbolic link, replace the "
                                               "regular file it points to (refused otherwise).")] = False,
) -> None:
    """Write a commented TOML template of an architecture to edit, then `attncalc count NAME.toml`."""
    from ..errors import ConfigError
    from ..spec.load import load_model
    from ..spec.template import template
    from ..errors import printable

    path = Path(name if name.endswith(".toml") else f"{name}.toml")
    stem = Path(name).stem if name.endswith(".toml") else Path(name).name
    last = name.replace(os.sep, "/").rsplit("/", 1)[-1]  # as typed: pathlib drops a trailing "/."
    if (not name.strip() or not stem.strip() or stem.startswith(".") or name.endswith(("/", os.sep))
            or last in (".", "..") or path.name.startswith(".")):
        raise ConfigError("give a file name, e.g. `attncalc init my-model` (writes my-model.toml); "
                          f"{name!r} names no file", field="NAME")
    if printable(stem) != stem or len(stem) > 200:  # printable escapes bytes that were not UTF-8, too
        raise ConfigError("a name of at most 200 characters of UTF-8 text without control characters",
                          field="NAME")
    from .common import loaded

    text = template(loaded(load_model(base)) if base else None, stem)
    if to_stdout:
        emit(text)
        return
    written = write_text_file(path, text, force=force, follow_links=follow_links)
    shown = f"{path} -> {written}" if written != path else str(path)
    say(f"wrote {shown}; edit it, then: attncalc count {path}")
