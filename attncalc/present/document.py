"""Documents for machines: one JSON schema (``schema_version``) and its flat CSV form.

All counts are exact Python ints; JSON writes them digit for digit (no float, no 2**53 limit).
The CSV is the JSON flattened: one ``key,value`` row per leaf, keys as dotted paths
(``params.attention.per_matrix.query``), so the two cannot disagree.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from ..spec.arch import Architecture

SCHEMA_VERSION = 1


def model_info(a: Architecture) -> dict[str, Any]:
    info = a.to_dict()
    info.update(kv_heads=a.kv_heads, head_dim=a.head_dim, ff_dim=a.ff_dim)
    return info


def document(a: Architecture, **sections: Any) -> dict[str, Any]:
    return {"schema_version": SCHEMA_VERSION, "model": model_info(a), **sections}


def to_json(doc: Any) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def flatten(doc: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(doc, dict):
        rows: list[tuple[str, Any]] = []
        for k, v in doc.items():
            rows += flatten(v, f"{prefix}.{k}" if prefix else str(k))
        return rows
    if isinstance(doc, list):
        return [(prefix, "x".join(str(v) for v in doc) if all(isinstance(v, int) for v in doc) else json.dumps(doc))]
    return [(prefix, doc)]


def to_csv(doc: Any) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["key", "value"])
    for key, value in flatten(doc):
        w.writerow([key, "" if value is None else (str(value).lower() if isinstance(value, bool) else value)])
    return buf.getvalue()


def tabular_csv(header: list[str], rows: list[list[Any]]) -> str:
    """A plain table (one row per model, say) as CSV."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()
