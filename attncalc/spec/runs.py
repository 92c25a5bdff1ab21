"""The cited registry of published training runs (tests/golden/runs/registry.json: sources, layouts,
printed figures; its README describes the schema). Read by `attncalc reconcile`; never by a
prediction."""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path

from ..errors import ConfigError


def registry_path() -> Path:
    """$ATTNCALC_RUNS if set, then the wheel's copy (attncalc/runs_data/registry.json), then the
    checkout's (tests/golden/runs/registry.json)."""
    package = Path(__file__).resolve().parent.parent
    value = os.environ.get("ATTNCALC_RUNS")
    for p in ([Path(value)] if value else []) + [package / "runs_data" / "registry.json",
                                                   package.parent / "tests" / "golden" / "runs" / "registry.json"]:
        if p.is_file():
            return p
    raise ConfigError("the registry of published runs is not installed (set ATTNCALC_RUNS to a registry.json)",
                      field="registry")


@lru_cache(maxsize=2)
def _load(path: str) -> dict:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot read the registry: {e}", source=path) from None
    if not isinstance(data, dict) or not isinstance(data.get("rows"), list):
        raise ConfigError("not a registry of runs (no 'rows' list)", source=path, field="rows")
    return data


def registry() -> dict:
    return _load(str(registry_path()))
