"""The Typer app: each command lives in its own module and stays a few lines over the core.

``main()`` is the console script. Usage errors from Click (an unknown option, a missing argument)
are reduced to one line on stderr with exit code 2, like every other bad input.
"""

from __future__ import annotations

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


from . import catalog, check, compare, count, explain, init, run  # noqa: E402,F401  (registers the commands)


def main(argv: list[str] | None = None) -> None:
    """The console script: exit codes 0, 1 (a budget failed), 2 (bad input), 3 (a bug), 130, 141;
    see ``cli/faults.py``."""
    from . import faults

    faults.prepare_streams()
    try:
        rv = app(args=argv, prog_name="attncalc", standalone_mode=False)
    except cx.NoArgsIsHelpError as err:  # `attncalc` alone: help, exit 0 would hide a typo in CI
        print(err.ctx.get_help() if err.ctx else "", file=sys.stderr)
        sys.exit(2)
    except cx.UsageError as err:
        hint = f" (see `attncalc {err.ctx.info_name} --help`)" if err.ctx and err.ctx.parent else " (see `attncalc --help`)"
        print(f"attncalc: error: {faults.one_line(err.format_message(), 500)}{hint}", file=sys.stderr)
        sys.exit(2)
    except typer.Abort:
        print("attncalc: interrupted", file=sys.stderr)
        sys.exit(130)
    except cx.ClickException as err:
        print(f"attncalc: error: {faults.one_line(err.format_message(), 500)}", file=sys.stderr)
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        print("attncalc: interrupted", file=sys.stderr)
        sys.exit(130)
    except OSError as err:  # writing the results failed (EPIPE, ENOSPC…)
        sys.exit(faults.output_error(err))
    except Exception as err:  # noqa: BLE001 - anything else is a bug: exit 3, never 1 (a failed budget)
        sys.exit(faults.bug(err))
    code = faults.flush_stdout()
    sys.exit(code if code is not None else rv if isinstance(rv, int) else 0)
