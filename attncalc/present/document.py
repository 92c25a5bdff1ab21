"""Documents for machines: one JSON schema (``schema_version``) and its flat CSV form.

Every command's JSON is ``envelope(...)``: the schema version first, then its sections. The count
document is the typed Report walked field by field (``plain``), so its keys are the Report's field
names. All counts are exact Python ints; JSON writes them digit for digit (no float, no 2**53
limit); shares and ratios (exact Fractions in the Report) are written as floats. The CSV is the
JSON flattened: one ``key,value`` row per leaf, keys as dotted paths
(``params.attention.per_matrix.query``), so the two cannot disagree.

Both stay data: JSON strings keep their exact value (``escape.json_text`` writes what a terminal or
a CI runner would obey with JSON's own ``\\u`` escapes); a CSV text cell a spreadsheet would
evaluate as a formula gets a leading ``'`` (``escape.csv_cell``).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from fractions import Fraction
from typing import Any

from .. import escape
from ..core.report import Report
from ..spec.arch import Architecture

SCHEMA_VERSION = 1


def envelope(**sections: Any) -> dict[str, Any]:
    """The one JSON envelope every command's document has."""
    return {"schema_version": SCHEMA_VERSION, **sections}


def plain(x: Any) -> Any:
    """Dataclasses -> dicts (fields in order, hidden ones left out), Fractions -> floats, tuples -> lists."""
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return {f.name: plain(getattr(x, f.name)) for f in dataclasses.fields(x) if f.metadata.get("json", True)}
    if isinstance(x, dict):
        return {k: plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [plain(v) for v in x]
    if isinstance(x, Fraction):
        return float(x)
    return x


def model_info(a: Architecture) -> dict[str, Any]:
    info = a.to_dict()
    info.update(kv_heads=a.kv_heads, head_dim=a.head_dim, ff_dim=a.ff_dim)
    return info


def params_dict(report_params: Any) -> dict[str, Any]:
    return plain(report_params)


def count_document(r: Report) -> dict[str, Any]:
    flops = plain(r.flops)
    if r.flops.training is None:
        del flops["training"]
    return envelope(model=model_info(r.arch), params=plain(r.params), flops=flops, memory=plain(r.memory))


def to_json(doc: Any) -> str:
    return escape.json_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")


def flatten(doc: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(doc, dict):
        rows: list[tuple[str, Any]] = []
        for k, v in doc.items():
            rows += flatten(v, f"{prefix}.{k}" if prefix else str(k))
        return rows
    if isinstance(doc, list):
        if doc and all(isinstance(v, dict) for v in doc):  # rows (block kinds, scaling): key.0.field
            return [row for i, v in enumerate(doc) for row in flatten(v, f"{prefix}.{i}")]
        return [(prefix, "x".join(str(v) for v in doc) if all(isinstance(v, int) for v in doc) else json.dumps(doc))]
    return [(prefix, doc)]


def to_csv(doc: Any) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["key", "value"])
    for key, value in flatten(doc):
        w.writerow([key, "" if value is None else str(value).lower() if isinstance(value, bool) else escape.csv_cell(value)])
    return buf.getvalue()


def tabular_csv(header: list[str], rows: list[list[Any]]) -> str:
    """A plain table (one row per model, say) as CSV."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([escape.csv_cell(h) for h in header])  # `compare`'s header holds the models' names
    w.writerows([escape.csv_cell(v) for v in row] for row in rows)
    return buf.getvalue()
