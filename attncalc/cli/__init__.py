"""The Typer app: each command lives in its own module and stays a few lines over the core.

``main()`` is the console script. Usage errors from Click (an unknown option, a missing argument)
are reduced to one line on stderr with exit code 2, like every other bad input.
"""

from __future__ import annotations

import errno
import os
import sys

import typer

try:  # Typer >= 0.29 vendors its own Click; older releases use Click itself.
    from typer._click import exceptions as cx
except ImportError:  # pragma: no cover
    from click import exceptions as cx

from .. import __version__

app = typer.Typer(
    name="attncalc",
    help="Exact parameter, FLOP and memory counts for transformers: per matrix, per head, per block, in total.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"attncalc {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """Exact parameter, FLOP and memory counts for transformers: per matrix, per head, per block, in total."""


# Command name -> the module that registers it. Importing a module registers its commands (decorators),
# so a run of one command imports only its module; help, completion and anything unknown import all.
COMMAND_MODULES = {"count": "count", "explain": "explain", "compare": "compare", "diff": "diff", "check": "check",
                   "fit": "fit", "time": "time", "list": "catalog", "list-hw": "time", "show": "catalog",
                   "init": "init", "run": "run", "serve-sim": "serve_sim", "reconcile": "reconcile",
                   "sweep": "sweep"}
_loaded: set[str] = set()


def load_commands(argv: list[str] | None = None) -> None:
    """Register the commands ``argv`` can reach: the named command's module, or all of them."""
    import importlib

    first = next((a for a in (argv or []) if not a.startswith("-")), None)
    complete = any(k.endswith("_COMPLETE") for k in os.environ)  # shell completion lists every command
    if argv == ["--version"] and not complete:
        return  # answered by the root callback; no command needed
    wanted = [COMMAND_MODULES[first]] if first in COMMAND_MODULES and not complete else \
        sorted(set(COMMAND_MODULES.values()))
    for name in wanted:
        if name not in _loaded:
            importlib.import_module(f"{__name__}.{name}")
            _loaded.add(name)
    if len(wanted) > 1:  # keep the help's order stable whatever was imported first
        order = list(COMMAND_MODULES)
        app.registered_commands.sort(key=lambda c: order.index(c.name or c.callback.__name__)
                                     if (c.name or c.callback.__name__) in order else len(order))


def _bare_recompute(args: list[str]) -> list[str]:
    """`time --recompute` alone (a flag before it took a value) still means full recomputation."""
    if not args or args[0] != "time":
        return args
    out = list(args)
    for i, a in enumerate(out):
        if a == "--":
            break
        if a == "--recompute" and (i + 1 == len(out) or out[i + 1].startswith("-")):
            out[i] = "--recompute=full"
    return out


def main(argv: list[str] | None = None) -> None:
    """The console script: exit codes 0, 1 (a budget failed), 2 (bad input), 3 (a bug), 130, 141;
    see ``cli/faults.py``."""
    from . import faults

    faults.prepare_streams()
    from .common import _SAID, NOTES

    _SAID.clear()
    NOTES.clear()
    args = _bare_recompute(sys.argv[1:] if argv is None else list(argv))
    if not args:  # bare `attncalc`: help on stderr, exit 2 (cli/usage.py)
        load_commands(args)
        __import__("attncalc.cli.usage", fromlist=["_"]).bare(app)
    try:
        load_commands(args)
        rv = app(args=args, prog_name="attncalc", standalone_mode=False)
    except cx.NoArgsIsHelpError as err:  # `attncalc` alone: help, exit 0 would hide a typo in CI
        print(err.ctx.get_help() if err.ctx else "", file=sys.stderr)
        sys.exit(2)
    except cx.UsageError as err:
        hint = f" (see `attncalc {err.ctx.info_name} --help`)" if err.ctx and err.ctx.parent else " (see `attncalc --help`)"
        faults.error(f"{faults.one_line(err.format_message(), 500)}{hint}")
        sys.exit(2)
    except typer.Abort:
        faults.say("interrupted")
        sys.exit(130)
    except cx.ClickException as err:
        faults.error(faults.one_line(err.format_message(), 500))
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        faults.say("interrupted")
        sys.exit(130)
    except OSError as err:  # writing the results failed (EPIPE, ENOSPC…)
        sys.exit(faults.output_error(err))
    except SystemExit as err:  # Rich and Click end a broken pipe with exit 1, which means "a budget failed"
        if isinstance(err.__context__, BrokenPipeError) or (
                isinstance(err.__context__, OSError) and err.__context__.errno == errno.EPIPE):
            sys.exit(faults.output_error(err.__context__))
        raise
    except Exception as err:  # noqa: BLE001 - anything else is a bug: exit 3, never 1 (a failed budget)
        sys.exit(faults.bug(err))
    code = faults.flush_stdout()
    code = code if code is not None else rv if isinstance(rv, int) else 0
    if code in (0, 1):  # what reading the input assumed: after the results, never beside an error line
        for note in NOTES:
            faults.say(note)
    sys.exit(code)
