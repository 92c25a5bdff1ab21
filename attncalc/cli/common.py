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
    from .faults import error

    error(message)
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
            from .faults import say

            say("interrupted")
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


_SAID: set[tuple] = set()  # what `loaded` queued in this run (main() clears it)
NOTES: list[str] = []  # lines for stderr once the command has run (main() says them on exit 0 or 1)


def loaded(arch: Any) -> Any:
    """Queue for stderr, once per run, what reading a config.json assumed (spec/hf.py,
    Architecture._read): a warning for each key of the file that looks like a mistyped key the reader
    took by default (``num_key_value_head``), and one note listing the absent keys read with their
    defaults. They are said after the results (main()), and not at all when the command fails with
    bad input: then the one line on stderr is the error."""
    reads = [r for r in getattr(arch, "_read", ()) if r not in _SAID]
    _SAID.update(reads)
    for kind, source, key, text in reads:
        if kind == "close":
            NOTES.append(f"warning: {source}: {key}: {text}")
    by_file: dict[str, list[str]] = {}
    for kind, source, key, text in reads:
        if kind == "default":
            by_file.setdefault(source, []).append(f"{key} = {text}")
    for source, items in by_file.items():
        NOTES.append(f"note: {source}: absent keys, read with transformers' defaults: {', '.join(items)} "
                     "(`attncalc show` lists them)")
    return arch


def emit(text: str, *, workflow_commands: bool = False) -> None:
    """Write a command's output to stdout (no Rich markup or wrapping): THE stdout sink of every
    format but the terminal page (present/tables.print_page, which guards its lines the same way).

    Its last guard is ``escape.output``: no terminal control and no CI workflow command reaches
    stdout, whatever a renderer forgot (``workflow_commands=True``: `check --format github`, which
    writes its own ``::error`` lines and escapes the user text in them, keeps its line starts).
    A JSON document is escaped by its serializer (``escape.json_text``) and passes unchanged.
    On a stdout that cannot encode every character (``PYTHONIOENCODING=ascii``), a JSON document is
    written with ``\\u`` escapes, so it stays exact; other text gets ASCII stand-ins (cli/faults.py)."""
    from ..escape import ci_log, json_text, output, terminal

    encoding = (getattr(sys.stdout, "encoding", None) or "utf-8")
    try:
        text.encode(encoding)
    except UnicodeEncodeError:
        if text.lstrip().startswith(("{", "[")):
            import json

            try:
                text = json_text(json.dumps(json.loads(text), indent=2, ensure_ascii=True) + "\n")
            except ValueError:
                pass
    except LookupError:
        pass
    text = ci_log(terminal(text, keep="\n\t"), line_start=False) if workflow_commands else output(text)
    sys.stdout.write(text)
    sys.stdout.flush()


def complete_model(incomplete: str) -> list[str]:
    from ..spec.load import preset_names

    return [n for n in preset_names() if n.startswith(incomplete)]
