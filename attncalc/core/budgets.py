"""Budgets for `attncalc check`: limits on a model's size and cost, compared exactly.

A budget names a figure of the typed Report (an attribute path) and a bound. Values come from the command line or
a TOML budgets file, in human units (7B, 4GiB, 1e9): parsed exactly by ``units.parse_quantity``.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from operator import attrgetter
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..spec.load import read_text
from ..units import parse_quantity
from .report import Report

# name -> (what it limits, attribute path in the Report, "max" | "min", unit)
BUDGETS: dict[str, tuple[str, str, str, str]] = {
    "max_params": ("parameters", "params.total", "max", "count"),
    "min_params": ("parameters", "params.total", "min", "count"),
    "max_non_embedding_params": ("non-embedding parameters", "params.conventions.non_embedding", "max", "count"),
    "max_active_params": ("active parameters per token", "params.conventions.active", "max", "count"),
    "max_flops_per_token": ("forward FLOPs per token", "flops.forward_per_token", "max", "flops"),
    "max_training_flops": ("training FLOPs", "flops.training.total", "max", "flops"),
    "max_kv_cache": ("KV cache bytes", "memory.kv_cache.total", "max", "bytes"),
    "max_weights": ("weights bytes", "memory.weights.total", "max", "bytes"),
    "max_training_memory": ("training state bytes", "memory.training.total", "max", "bytes"),
}
# Workload settings a budgets file may carry, so the file alone reproduces the check.
SETTINGS = {"context", "seq", "batch", "tokens", "dtype", "kv_dtype", "expect_params", "tolerance"}


@dataclass(frozen=True)
class Outcome:
    name: str
    what: str
    actual: int | Fraction
    limit: int | Fraction
    relation: str  # "<=", ">=" or "within"
    ok: bool
    unit: str

    def as_dict(self) -> dict[str, Any]:
        def num(v):
            return v if isinstance(v, int) else {"numerator": v.numerator, "denominator": v.denominator,
                                                  "approx": float(v)}

        return {"name": self.name, "what": self.what, "actual": num(self.actual), "limit": num(self.limit),
                "relation": self.relation, "ok": self.ok}


def parse_budget(name: str, raw: Any, source: str | None) -> int:
    """A limit from a file (source = its path, field = the key) or the command line (field = the flag)."""
    field = name if source else "--" + name.replace("_", "-")
    if isinstance(raw, bool):
        raise ConfigError(f"expected a number, got {raw!r}", source=source, field=field)
    try:
        return parse_quantity(str(raw), what="number")
    except ValueError as err:
        raise ConfigError(str(err), source=source, field=field) from None


def read_budgets_file(path: Path) -> dict[str, Any]:
    label = str(path)
    try:
        data = tomllib.loads(read_text(path))
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"invalid TOML: {err}", source=label) from None
    data = data.get("budgets", data)
    for key in data:
        if key not in BUDGETS and key not in SETTINGS:
            import difflib

            close = difflib.get_close_matches(key, list(BUDGETS) + sorted(SETTINGS), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(list(BUDGETS) + sorted(SETTINGS))}"
            raise ConfigError(f"unknown budget{hint}", source=label, field=key)
    return data


def figure(report: Report, path: str) -> int | Fraction | None:
    """The Report's figure at an attribute path; None where the workload does not give it."""
    try:
        value = attrgetter(path)(report)
    except AttributeError:  # e.g. flops.training without --tokens
        return None
    if isinstance(value, Fraction) and value.denominator == 1:
        return value.numerator
    return value


def evaluate(report: Report, limits: dict[str, int], expect: int | None = None,
             tolerance: Decimal = Decimal("0.005")) -> list[Outcome]:
    """Each budget against the Report; FLOPs per token compared as exact fractions."""
    out = []
    for name, limit in limits.items():
        what, path, kind, unit = BUDGETS[name]
        actual = figure(report, path)
        if actual is None:
            raise ConfigError(f"needs {'--tokens' if 'training' in path else 'a workload'} to be checked", field=name)
        ok = actual <= limit if kind == "max" else actual >= limit
        out.append(Outcome(name, what, actual, limit, "<=" if kind == "max" else ">=", ok, unit))
    if expect is not None:
        actual = report.params.total
        tol = Fraction(tolerance)
        ok = abs(actual - expect) <= tol * expect
        out.append(Outcome("expect_params", f"parameters within {float(tol) * 100:g}%", actual, expect, "within", ok, "count"))
    return out
