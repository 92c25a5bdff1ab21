"""What a checkpoint holds, against the count: the ``checkpoint`` section of `count`'s JSON and its
table, the same facts in words (core.checkpoint_match builds them; nothing is counted here)."""

from __future__ import annotations

from typing import Any

from ..core.checkpoint_match import Reconciliation
from .document import plain
from .sections import Row, Section

SHOWN = 8  # names a table row lists before "and N more"


def checkpoint_document(r: Reconciliation) -> dict[str, Any]:
    doc = plain(r)
    doc["bits_per_param"] = float(8 * r.bytes / r.params) if r.params else None
    return doc


def _names(names: list[str]) -> str:
    more = f" and {len(names) - SHOWN:,} more" if len(names) > SHOWN else ""
    return ", ".join(names[:SHOWN]) + more


def summary(r: Reconciliation) -> str:
    """One paragraph: what the files hold and how it meets the count."""
    what = (f"{len(r.files)} {r.format} file{'s' if len(r.files) != 1 else ''} hold {r.tensors:,} tensors: "
            f"{r.params:,} parameters in {r.bytes:,} bytes")
    if r.names is None:
        return what + ". " + " ".join(r.notes)
    parts = [what + f"; the count is {r.count_params:,}"]
    if not r.missing and not r.mismatched:
        parts.append("every tensor the count expects is there at the size it expects")
    if r.missing:
        parts.append(f"{len(r.missing):,} tensors the count expects are missing")
    if r.mismatched:
        parts.append(f"{len(r.mismatched):,} groups of tensors differ in size from the count's weights")
    if r.unexpected:
        reasons = "; ".join(f"{v['tensors']:,} {k} ({v['params']:,} parameters)" for k, v in r.unexpected_by_reason.items())
        parts.append(f"{len(r.unexpected):,} tensors are not in the count: {reasons}")
    if r.unmapped:
        parts.append(f"{len(r.unmapped)} of the count's weights have no tensor name mapped (listed)")
    return "; ".join(parts) + "."


def checkpoint_section(r: Reconciliation) -> Section:
    rows = [Row("files", ", ".join(r.files[:3]) + (f" and {len(r.files) - 3:,} more" if len(r.files) > 3 else ""),
                len(r.files)),
            Row("tensors", r.format + (f", GGUF architecture {r.architecture}" if r.architecture else ""), r.tensors),
            Row("parameters in the files", "elements of every tensor (packed 4-bit: two a byte)", r.params, strong=True)]
    if r.names is not None:
        rows.append(Row("the count", "attncalc's description", r.count_params))
        rows.append(Row("in tensors the count maps", f"name table: {r.names}" + (f", prefix {r.prefix!r}" if r.prefix else ""),
                        r.matched_params))
    rows.append(Row("bytes in the files", f"{8 * r.bytes / r.params:.3f} bits per parameter" if r.params else "",
                    r.bytes, unit="bytes"))
    for dtype, v in r.by_dtype.items():
        rows.append(Row(f"  {dtype}", f"{v['tensors']:,} tensors, {v['params']:,} parameters", v["bytes"], unit="bytes"))
    if r.names is not None:
        rows.append(Row("missing (the count expects, the files lack)", _names(r.missing) or "none", len(r.missing)))
        for why, v in r.unexpected_by_reason.items():
            names = [u["name"] for u in r.unexpected if u["reason"] == why]
            rows.append(Row(f"not in the count: {why}", f"{v['params']:,} parameters: {_names(names)}", v["tensors"]))
        if not r.unexpected:
            rows.append(Row("not in the count", "none", 0))
        for m in r.mismatched[:SHOWN]:
            where = f"layer {m['layer']}" if m["layer"] is not None else "outside the layers"
            rows.append(Row(f"size differs: {where}, {' + '.join(m['weights'])}",
                            f"count {m['expected']:,}, files {m['found']:,} ({_names(m['tensors'])})", m["found"] - m["expected"]))
        for u in r.unmapped:
            rows.append(Row(f"no tensor name mapped: {u['weight']}", "parameters of the count", u["params"]))
    return Section("what the checkpoint holds (headers only)", tuple(rows), summary(r))
