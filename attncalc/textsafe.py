"""Showing text that came from a user (names, notes, sources, paths, bad values) safely.

- ``printable(s)``: control characters (ANSI escapes, carriage returns, NUL…) written as ``\\x1b``
  so a model name cannot move the cursor or clear the screen.
- ``markup_safe(s)``: ``printable`` plus Rich's markup escape, for any user string handed to Rich
  (a table cell, a ``Text.from_markup``…): ``[red]x[/]`` or ``[/]`` is shown as typed, never styled
  or raised as a MarkupError. (Rich's ``Text(s)`` does not parse markup; ``Table.add_row(s)`` and
  ``console.print(s)`` do.)
- ``shown(value)``: a short repr for error messages: long strings, deep or long lists and integers
  past Python's 4,300-digit ``str()`` limit are abbreviated, so one bad field makes one short line.

Standard library only (Rich is imported only by ``markup_safe``), so every layer may use it.
"""

from __future__ import annotations

import re
from typing import Any

_CONTROL = (r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")  # compiled on first use


def printable(text: str) -> str:
    """``text`` with control and bidirectional-override characters escaped (``\\x1b``, ``\\u202e``)."""
    def esc(m: re.Match) -> str:
        c = ord(m.group())
        return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"

    return re.sub(_CONTROL, esc, str(text))


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
