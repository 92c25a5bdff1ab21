"""What every command shares: consoles, the --format option, error handling, model loading."""

from __future__ import annotations

import functools
import sys
from enum import Enum
from typing import Any, Callable

import typer
from rich.console import Console

from ..errors import AttncalcError


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"


def stdout() -> Console:
    """Results go to stdout; width from COLUMNS or the terminal; NO_COLOR honoured by Rich."""
    return Console(soft_wrap=False, highlight=False)


def stderr() -> Console:
    return Console(stderr=True, highlight=False)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print one line on stderr and return the Exit to raise."""
    print(f"attncalc: error: {message}", file=sys.stderr)
    return typer.Exit(code)


def handles_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Map domain errors to one line on stderr and exit code 2; Ctrl-C to exit 130."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except AttncalcError as err:
            raise fail(str(err), err.exit_code) from None
        except KeyboardInterrupt:
            print("attncalc: interrupted", file=sys.stderr)
            raise typer.Exit(130) from None

    return wrapper


def emit(text: str) -> None:
    """Write machine output verbatim to stdout (no Rich markup or wrapping)."""
    sys.stdout.write(text)
    sys.stdout.flush()


def complete_model(incomplete: str) -> list[str]:
    from ..spec.load import preset_names

    return [n for n in preset_names() if n.startswith(incomplete)]
