"""What every command shares: consoles, the --format option, error handling, model loading."""

from __future__ import annotations

import functools
import sys
from enum import Enum
from typing import TYPE_CHECKING, Any, Callable

import typer

from ..errors import AttncalcError

if TYPE_CHECKING:
    from rich.console import Console

try:  # Typer >= 0.29 vendors its own Click; older releases use Click itself.
    from typer._click import exceptions as cx
except ImportError:  # pragma: no cover
    from click import exceptions as cx


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"


def stdout() -> "Console":
    """Results go to stdout; width from COLUMNS or the terminal; NO_COLOR honoured by Rich.

    markup=False and emoji=False: strings are shown as written, so a model name, note, source or
    path like ``[/]`` or ``:warning:`` from a user's file is never read as Rich markup or an emoji
    code (styles come from Text/Style objects, never from markup in strings)."""
    from rich.console import Console  # here, not at the top: --format json never imports Rich

    return Console(soft_wrap=False, highlight=False, markup=False, emoji=False)


def stderr() -> "Console":
    from rich.console import Console

    return Console(stderr=True, highlight=False, markup=False, emoji=False)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print one line on stderr and return the Exit to raise."""
    from .faults import one_line

    print(f"attncalc: error: {one_line(message, 2000)}", file=sys.stderr)
    return typer.Exit(code)


def handles_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Map domain errors to one line on stderr and exit code 2; Ctrl-C to exit 130; a failed write of
    the results to 141 (closed pipe) or 2; any other exception, a bug, to exit 3 (see cli/faults.py)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except AttncalcError as err:
            raise fail(str(err), err.exit_code) from None
        except KeyboardInterrupt:
            print("attncalc: interrupted", file=sys.stderr)
            raise typer.Exit(130) from None
        except (typer.Exit, typer.Abort, cx.ClickException):
            raise
        except RecursionError:  # a reader or formatter given something nested past Python's stack
            raise fail("input nested too deeply to read") from None
        except OSError as err:  # writing the results (a library error on a file is a ConfigError)
            from .faults import output_error

            raise typer.Exit(output_error(err)) from None
        except Exception as err:  # noqa: BLE001 - a bug: exit 3, never 1 (that means a budget failed)
            from .faults import bug

            raise typer.Exit(bug(err)) from None

    return wrapper


def emit(text: str) -> None:
    """Write machine output verbatim to stdout (no Rich markup or wrapping).

    On a stdout that cannot encode every character (``PYTHONIOENCODING=ascii``), a JSON document is
    written with ``\\u`` escapes, so it stays exact; other text gets ASCII stand-ins (cli/faults.py)."""
    encoding = (getattr(sys.stdout, "encoding", None) or "utf-8")
    try:
        text.encode(encoding)
    except UnicodeEncodeError:
        if text.lstrip().startswith(("{", "[")):
            import json

            try:
                text = json.dumps(json.loads(text), indent=2, ensure_ascii=True) + "\n"
            except ValueError:
                pass
    except LookupError:
        pass
    sys.stdout.write(text)
    sys.stdout.flush()


def complete_model(incomplete: str) -> list[str]:
    from ..spec.load import preset_names

    return [n for n in preset_names() if n.startswith(incomplete)]
