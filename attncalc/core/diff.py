"""What changed between two models: the fields, and every figure of the `count` document, exactly.

Works on the JSON count document (``present.document.count_document``), the contract shared with users, so it does not
depend on how the trees are built: both documents are flattened to dotted keys and compared leaf by
leaf. Integers are compared as integers; deltas are exact integers and relative deltas exact
Fractions (only their display is rounded). Float leaves of the document (shares, estimate ratios)
are derived from integers already in it and are left out; so are formulas, conventions and the
scaling curve, which restate other figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Iterator

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
    stack = [(path, node)]
    while stack:
        p, n = stack.pop()
        if isinstance(n, dict):
            stack.extend((f"{p}.{k}" if p else str(k), v) for k, v in reversed(list(n.items())))
        else:
            yield p, n


def figures(doc: dict[str, Any]) -> dict[str, int | Fraction | tuple]:
    """The comparable figures of a count document: dotted key -> exact int, Fraction or shape."""
    out: dict[str, int | Fraction | tuple] = {}
    for key, value in _walk({k: v for k, v in doc.items() if k != "model"}, ""):
        parts = key.split(".")
        if key in _SKIP_KEYS or any(p in _SKIP_PARTS for p in parts):
            continue
        if parts[0] == "flops" and parts[1] == "estimates" and parts[-1] != "value":
            continue
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, int):
            out[key] = value
        elif isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            out[key] = tuple(value)
    # Per-token figures, exact: forward FLOPs over batch × seq tokens; a decode step makes one token
    # per sequence of the batch.
    w = doc.get("flops", {}).get("workload", {})
    fwd, dec = doc.get("flops", {}).get("forward", {}).get("total"), doc.get("flops", {}).get("decode", {}).get("total")
    if isinstance(fwd, int) and w.get("batch") and w.get("seq"):
        out["per_token.forward_flops"] = _simplest(Fraction(fwd, w["batch"] * w["seq"]))
    if isinstance(dec, int) and w.get("batch"):
        out["per_token.decode_flops"] = _simplest(Fraction(dec, w["batch"]))
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


def diff(doc_a: dict[str, Any], doc_b: dict[str, Any], a: str | None = None, b: str | None = None) -> Diff:
    """Every field and figure that differs between two count documents (same workload assumed)."""
    ma, mb = doc_a.get("model", {}), doc_b.get("model", {})
    keys = list(ma) + [k for k in mb if k not in ma]
    fields = [Change(k, ma.get(k), mb.get(k)) for k in keys if ma.get(k) != mb.get(k) and k not in METADATA]
    metadata = [Change(k, ma.get(k), mb.get(k)) for k in METADATA if ma.get(k) != mb.get(k)]
    fa, fb = figures(doc_a), figures(doc_b)
    fkeys = list(fa) + [k for k in fb if k not in fa]
    changes = [Change(k, fa.get(k), fb.get(k)) for k in fkeys if fa.get(k) != fb.get(k)]
    order = {k: i for i, k in enumerate(HEADLINE)}
    sec = [name for _, name in SECTIONS]
    changes.sort(key=lambda c: (sec.index(c.section) if c.section in sec else len(sec), order.get(c.key, len(order))))
    work = doc_a.get("flops", {}).get("workload", {})
    kv = doc_a.get("memory", {}).get("kv_cache", {})
    workload = {"batch": work.get("batch"), "seq": work.get("seq"), "context": kv.get("context"),
                "tokens": work.get("tokens"), "dtype": doc_a.get("memory", {}).get("dtype"),
                "kv_dtype": kv.get("dtype")}
    return Diff(a or str(ma.get("name")), b or str(mb.get("name")), fields, metadata, changes, workload)
