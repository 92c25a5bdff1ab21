"""The exception vocabulary: one base class, each error carries its one-line message.

The CLI turns any ``AttncalcError`` into that line on stderr and exit code 2; any other
exception escaping the core is a bug.
"""

from __future__ import annotations


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
