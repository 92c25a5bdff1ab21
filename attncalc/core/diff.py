"""What changed between two models: the fields, and every figure of the typed count Report, exactly.

Walks the two Reports (``core.report.Report``) attribute by attribute, so the dotted keys are the
Report's field paths, which are also the JSON document's keys: both reports are flattened to dotted
keys and compared leaf by leaf. Integers are compared as integers; deltas are exact integers and relative deltas exact
Fractions (only their display is rounded). Float leaves of the document (shares, estimate ratios)
are derived from integers already in it and are left out; so are formulas, conventions and the
scaling curve, which restate other figures.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Iterator

if TYPE_CHECKING:
    from .report import Report

# Fields that describe a model rather than shape it: reported, never counted as a change.
METADATA = ("name", "family", "source", "notes")

# The figures a reviewer reads first, in this order: key -> label.
HEADLINE: dict[str, str] = {
    "params.total": "parameters",
    "params.conventions.active": "active parameters per token",
    "per_token.forward_flops": "forward FLOPs per token",
    "per_token.decode_flops": "decode FLOPs per token",
    "memory.kv_cache.per_token": "KV cache bytes per token",
    "memory.kv_cache.total": "KV cache bytes",
    "memory.weights.total": "weights bytes",
    "memory.training.total": "training state bytes",
}

# Sections of the full list, by key prefix (first match wins).
SECTIONS: tuple[tuple[str, str], ...] = (
    ("per_token.", "per token"),
    ("params.attention.per_matrix.", "parameters: per matrix"),
    ("params.attention.shapes.", "parameters: matrix shapes"),
    ("params.attention.per_head", "parameters: per head"),
    ("params.", "parameters"),
    ("flops.forward.", "forward FLOPs"),
    ("flops.decode.", "decode FLOPs"),
    ("flops.training.", "training FLOPs"),
    ("flops.estimates.", "published estimates"),
    ("memory.kv_cache.", "KV cache"),
    ("memory.", "memory"),
)
_SKIP_PARTS = ("formulas", "convention", "workload", "scaling", "breakdown")
_SKIP_KEYS = {"schema_version", "flops.decode.context", "memory.kv_cache.batch", "memory.kv_cache.context",
              "params.n_layers", "flops.training.tokens", "flops.training.seq"}


def section(key: str) -> str:
    return next((name for prefix, name in SECTIONS if key.startswith(prefix)), "other")


def unit(key: str) -> str:
    if key.startswith("memory.") and "tokens_kept" not in key:
        return "bytes"
    if key.startswith(("flops.", "per_token.")):
        return "flops"
    if key.startswith("params.attention.shapes."):
        return "shape"
    return "count"


def _walk(node: Any, path: str) -> Iterator[tuple[str, Any]]:
    """Every leaf below a typed result: dataclass fields (those the JSON document shows) and dict
    entries become dotted keys; anything else is a leaf."""
    stack = [(path, node)]
    while stack:
        p, n = stack.pop()
        if dataclasses.is_dataclass(n) and not isinstance(n, type):
            items = [(f.name, getattr(n, f.name)) for f in dataclasses.fields(n) if f.metadata.get("json", True)]
        elif isinstance(n, dict):
            items = list(n.items())
        else:
            yield p, n
            continue
        stack.extend((f"{p}.{k}" if p else str(k), v) for k, v in reversed(items))


def fields_of(report: "Report") -> dict[str, Any]:
    """The model's fields and derived dimensions."""
    a = report.arch
    return a.to_dict() | {"kv_heads": a.kv_heads, "head_dim": a.head_dim, "ff_dim": a.ff_dim}


def figures(report: "Report") -> dict[str, int | Fraction | tuple]:
    """The comparable figures of a count Report: dotted key -> exact int, Fraction or shape."""
    out: dict[str, int | Fraction | tuple] = {}
    sections = {"params": report.params, "flops": report.flops, "memory": report.memory}
    if report.flops.training is None:
        sections["flops"] = {f.name: getattr(report.flops, f.name) for f in dataclasses.fields(report.flops)
                             if f.name != "training"}
    for key, value in _walk(sections, ""):
        parts = key.split(".")
        if key in _SKIP_KEYS or any(p in _SKIP_PARTS for p in parts):
            continue
        if parts[0] == "flops" and parts[1] == "estimates" and parts[-1] != "value":
            continue
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, int):
            out[key] = value
        elif isinstance(value, (list, tuple)) and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            out[key] = tuple(value)
    # Per-token figures, exact: forward FLOPs over batch × seq tokens; a decode step makes one token
    # per sequence of the batch.
    f = report.flops
    out["per_token.forward_flops"] = _simplest(f.forward_per_token)
    out["per_token.decode_flops"] = _simplest(Fraction(f.decode.total, f.workload.batch))
    return out


def _simplest(f: Fraction) -> int | Fraction:
    return f.numerator if f.denominator == 1 else f


@dataclass(frozen=True)
class Change:
    key: str
    old: Any  # None: absent in A
    new: Any  # None: absent in B

    @property
    def numeric(self) -> bool:
        return all(isinstance(v, (int, Fraction)) and not isinstance(v, bool) for v in (self.old, self.new))

    @property
    def delta(self) -> int | Fraction | None:
        return _simplest(Fraction(self.new - self.old)) if self.numeric else None

    @property
    def relative(self) -> Fraction | None:
        """(new - old) / old, exact; None when old is 0 or either side is not a number."""
        if not self.numeric or self.old == 0:
            return None
        return Fraction(self.new - self.old) / Fraction(self.old)

    @property
    def label(self) -> str:
        return HEADLINE.get(self.key, self.key)

    @property
    def section(self) -> str:
        return section(self.key)

    @property
    def unit(self) -> str:
        return unit(self.key)


@dataclass(frozen=True)
class Diff:
    a: str  # the two models' names as given
    b: str
    fields: list[Change]  # architecture fields (and derived dimensions) that differ
    metadata: list[Change]  # name, family, source, notes
    figures: list[Change]  # every figure that differs, in document order
    workload: dict[str, Any]

    @property
    def changed(self) -> bool:
        return bool(self.fields or self.figures)

    def headline(self) -> list[Change]:
        by_key = {c.key: c for c in self.figures}
        total, active = by_key.get("params.total"), by_key.get("params.conventions.active")
        if total is not None and active is not None and (total.old, total.new) == (active.old, active.new):
            by_key.pop("params.conventions.active")  # a dense model: active = total, said once
        return [by_key[k] for k in HEADLINE if k in by_key]


def diff(rep_a: "Report", rep_b: "Report", a: str | None = None, b: str | None = None) -> Diff:
    """Every field and figure that differs between two count Reports (same workload assumed)."""
    ma, mb = fields_of(rep_a), fields_of(rep_b)
    keys = list(ma) + [k for k in mb if k not in ma]
    fields = [Change(k, ma.get(k), mb.get(k)) for k in keys if ma.get(k) != mb.get(k) and k not in METADATA]
    metadata = [Change(k, ma.get(k), mb.get(k)) for k in METADATA if ma.get(k) != mb.get(k)]
    fa, fb = figures(rep_a), figures(rep_b)
    fkeys = list(fa) + [k for k in fb if k not in fa]
    changes = [Change(k, fa.get(k), fb.get(k)) for k in fkeys if fa.get(k) != fb.get(k)]
    order = {k: i for i, k in enumerate(HEADLINE)}
    sec = [name for _, name in SECTIONS]
    changes.sort(key=lambda c: (sec.index(c.section) if c.section in sec else len(sec), order.get(c.key, len(order))))
    work, mem = rep_a.flops.workload, rep_a.memory
    workload = {"batch": work.batch, "seq": work.seq, "context": mem.kv_cache.context,
                "tokens": work.tokens, "dtype": mem.dtype, "kv_dtype": mem.kv_cache.dtype}
    return Diff(a or str(ma.get("name")), b or str(mb.get("name")), fields, metadata, changes, workload)
