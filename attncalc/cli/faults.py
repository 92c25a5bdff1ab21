"""What the command line does when something other than the model goes wrong.

Exit codes (the whole table, also in the README):

- 0: done; 1: a budget failed (`check` only); 2: bad input or an I/O error the user can fix (one
  line on stderr, nothing on stdout); 3: an unexpected error, i.e. a bug in attncalc (one line on
  stderr asking for a report; ``ATTNCALC_DEBUG=1`` prints the traceback too); 130: interrupted;
  141: stdout was closed by the reader (``attncalc count gpt3 | head -1``), the status a shell
  reports for a process ended by SIGPIPE, printed quietly like other Unix tools.

Output faults: a full stdout (ENOSPC, /dev/full) is one line on stderr and exit 2; a stdout the shell
closed (``>&-``) discards the results (exit status as usual, so `check` still answers); an encoding
that cannot show a character (``PYTHONIOENCODING=ascii``) gets an ASCII stand-in (× -> x, ≈ -> ~,
▲ -> ^) rather than a crash.
"""

from __future__ import annotations

import codecs
import errno
import os
import sys

EXIT_BUDGET = 1
EXIT_INPUT = 2
EXIT_BUG = 3
EXIT_INTERRUPTED = 130
EXIT_PIPE = 141  # 128 + SIGPIPE (13)

# ASCII stand-ins for the few non-ASCII characters attncalc prints itself.
_ASCII = {
    "×": "x", "≈": "~", "▲": "^", "▼": "v", "·": "-", "–": "-", "—": "--", "…": "...", "÷": "/",
    "≤": "<=", "≥": ">=", "→": "->", "←": "<-", "²": "^2", "√": "sqrt", "█": "#", "▏": "|", "▎": "|",
    "▍": "|", "▌": "|", "▋": "|", "▊": "|", "▉": "#", "░": ".", "▒": ":", "▓": "#", "│": "|", "─": "-",
    "‘": "'", "’": "'", "“": '"', "”": '"', "±": "+/-", "µ": "u", "Σ": "sum", "≠": "!=",
}


def _ascii_fallback(err: UnicodeError):
    if not isinstance(err, UnicodeEncodeError):
        raise err
    bad = err.object[err.start:err.end]
    return "".join(_ASCII.get(ch, "?") for ch in bad), err.end


codecs.register_error("attncalc-ascii", _ascii_fallback)


def prepare_streams() -> None:
    """Make stdout/stderr safe to write: a closed stdout becomes a sink, unencodable text degrades."""
    if sys.stdout is None or _closed(sys.stdout):  # fd 1 closed (`>&-`): nowhere to go; discard the results
        sys.stdout = open(os.devnull, "w", encoding="utf-8")
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w", encoding="utf-8")
    for stream in (sys.stdout, sys.stderr):
        encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "").replace("_", "")
        if encoding not in ("utf8", "utf16", "utf32") and hasattr(stream, "reconfigure"):
            try:
                stream.reconfigure(errors="attncalc-ascii")
            except (ValueError, OSError):  # pragma: no cover - a stream that cannot be reconfigured
                pass


def _closed(stream) -> bool:
    try:
        os.fstat(stream.fileno())
    except OSError as err:
        return err.errno == errno.EBADF
    except (ValueError, AttributeError):  # not a real file (a test's capture): it is open
        return False
    return False


def _silence_stdout() -> None:
    """After a failed write: point fd 1 at /dev/null so the interpreter's last flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def one_line(text: str, limit: int = 300) -> str:
    """A message fit for one line of stderr: ``escape.diagnostic`` (white space collapsed, control
    characters and CI workflow commands escaped, length bounded)."""
    from ..escape import diagnostic

    return diagnostic(text, limit)


def say(message: str, limit: int = 2000) -> None:
    """THE way a line reaches stderr: ``attncalc: <message>``, one line, escaped (``one_line``).
    Every diagnostic goes through here or ``error``, so a path or a name from a file cannot put a
    terminal escape or a CI workflow command on stderr (tests/test_escape.py checks the callers)."""
    print(f"attncalc: {one_line(message, limit)}", file=sys.stderr)


def error(message: str, limit: int = 2000) -> None:
    """``attncalc: error: <message>`` on stderr, one line, escaped."""
    say(f"error: {message}", limit)


def output_error(err: OSError) -> int:
    """The exit code for an OSError that escaped a command: writing the results, as a rule (a closed
    pipe: quiet 141; a full disk and the like: one line, 2), or a file the error names (one line, 2)."""
    if err.errno == errno.EPIPE or isinstance(err, BrokenPipeError):
        _silence_stdout()
        return EXIT_PIPE
    what = one_line(err.strerror or type(err).__name__)
    filename = getattr(err, "filename", None)
    if filename is not None:  # reading or writing a named file: not the output stream
        error(f"{one_line(str(filename))}: {what}")
        return EXIT_INPUT
    _silence_stdout()
    error(f"cannot write the output: {what}")
    return EXIT_INPUT


def bug(err: BaseException) -> int:
    """One line for an unexpected exception (a bug), the traceback only with ATTNCALC_DEBUG=1."""
    if os.environ.get("ATTNCALC_DEBUG"):
        import traceback

        traceback.print_exception(err, file=sys.stderr)
    detail = one_line(f"{type(err).__name__}: {_safe_str(err)}", 200)
    say(f"internal error: {detail}; this is a bug in attncalc, please report it with the command "
        "line (ATTNCALC_DEBUG=1 shows the traceback)")
    return EXIT_BUG


def _safe_str(err: BaseException) -> str:
    try:
        return str(err)
    except Exception:  # noqa: BLE001 - a str() that itself fails (huge ints, broken __str__)
        return "(message unavailable)"


def flush_stdout() -> int | None:
    """Flush stdout now, while a failure can still be reported; an exit code if it failed."""
    try:
        sys.stdout.flush()
    except OSError as err:
        return output_error(err)
    except ValueError:  # a closed file object
        return None
    return None
