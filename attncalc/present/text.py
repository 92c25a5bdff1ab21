"""Text that came from users (names, paths, field values), made safe to print: ``escape.terminal``."""

from __future__ import annotations

from ..escape import terminal


def safe(text: str) -> str:
    """User text (names, paths, field values) with control characters shown, not obeyed."""
    return terminal(text)
