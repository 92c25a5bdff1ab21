"""The exception vocabulary: one base class, each error carries its one-line message.

The CLI turns any ``AttncalcError`` into that line on stderr and exit code 2; any other
exception escaping the core is a bug (the CLI exits 3 for it). Below them, the helpers that show
user text in messages and output safely (printable, markup_safe, shown).
"""

from __future__ import annotations

from typing import Any


class AttncalcError(Exception):
    """Base class: bad input the user can fix. ``str(err)`` is the whole message."""

    exit_code = 2


class ConfigError(AttncalcError):
    """A file or field is wrong: names the source (file), the field and the problem."""

    def __init__(self, problem: str, *, source: str | None = None, field: str | None = None):
        self.problem, self.source, self.field = problem, source, field
        where = ": ".join(p for p in (source, field) if p)
        super().__init__(f"{where}: {problem}" if where else problem)


class UnknownModelError(AttncalcError):
    """A model name that is neither a preset nor an existing file."""

    def __init__(self, name: str, suggestions: list[str]):
        self.name, self.suggestions = name, suggestions
        hint = f"; did you mean {' or '.join(repr(s) for s in suggestions)}?" if suggestions else ""
        super().__init__(
            f"unknown model {name!r}: not a preset and not a file{hint} "
            "(`attncalc list` shows the presets)"
        )


class WorkloadError(AttncalcError):
    """A workload option (batch, sequence, tokens, context…) that cannot be counted."""


# Showing user text safely ------------------------------------------------------------------------
# Names, notes, sources, paths and bad values come from users:
# - ``printable(s)``: control characters (ANSI escapes, carriage returns, NUL…) written as ``\x1b``
#   so a model name cannot move the cursor or clear the screen;
# - ``markup_safe(s)``: ``printable`` plus Rich's markup escape, for any user string handed to a Rich
#   API that parses markup (the consoles of cli/common.py parse none: markup=False, emoji=False);
# - ``shown(value)``: a short repr for error messages: long strings, deep or long lists and integers
#   past Python's 4,300-digit ``str()`` limit are abbreviated, so one bad field makes one short line.
# Standard library only (Rich is imported only by ``markup_safe``), so every layer may use them.


def printable(text: str) -> str:
    """``text`` with control and bidirectional-override characters escaped (``\\x1b``, ``\\u202e``):
    ``escape.terminal``, the one terminal escaper."""
    from .escape import terminal

    return terminal(text)


def markup_safe(text: str) -> str:
    """A user string to hand to Rich: printed exactly as typed, never read as markup."""
    from rich.markup import escape

    return escape(printable(text))


def shown(value: Any, limit: int = 60) -> str:
    """repr(value) cut to about ``limit`` characters, safe for any size or depth."""
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int):
        if value.bit_length() > 200:
            digits = int(value.bit_length() * 0.30103) + 1
            return f"an integer of about {digits:,} digits"
        return repr(value)
    if isinstance(value, str):
        text = printable(value)
        if len(text) > limit:
            return repr(text[:limit]) + f"… ({len(value):,} characters)"
        return repr(text)
    if isinstance(value, dict):
        return "a table {…}" if value else "{}"
    if isinstance(value, (list, tuple)):
        return f"a list of {len(value):,} items" if value else "[]"
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001
        return f"a {type(value).__name__}"
    return text if len(text) <= limit else text[:limit] + "…"
