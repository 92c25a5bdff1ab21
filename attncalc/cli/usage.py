"""Bare `attncalc`: the help goes to stderr and the exit code is 2, as for any other missing
argument (argparse and POSIX utilities do the same): a script that runs `attncalc $CMD` with an
empty variable fails loudly, and stdout stays empty on every error. `attncalc --help` prints the
same help on stdout and exits 0."""

from __future__ import annotations

import contextlib
import sys
from typing import Any, NoReturn


def bare(app: Any) -> NoReturn:
    """Write the app's help to stderr (Typer's Rich help prints to stdout: redirect it), exit 2."""
    with contextlib.redirect_stdout(sys.stderr):
        try:
            app(args=["--help"], prog_name="attncalc", standalone_mode=False)
        except SystemExit:
            pass
    sys.stdout.flush()
    sys.exit(2)
