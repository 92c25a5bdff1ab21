"""`diff` for people (aligned plain text that never cuts a number), pull requests (Markdown) and
programs (JSON with exact deltas; a relative delta as numerator/denominator)."""

from __future__ import annotations

from fractions import Fraction
from typing import Any, Sequence

from ..core.budgets import Outcome
from ..core.diff import Change, Diff
from .checks import fmt
from .text import safe

UP, DOWN = "▲", "▼"


def value(v: Any) -> str:
    if v is None:
        return "none"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, Fraction):
        return f"{float(v):,.1f}"
    if isinstance(v, tuple):
        return " × ".join(f"{x:,}" for x in v)
    return safe(str(v))


def percent(r: Fraction) -> str:
    """An exact ratio as a percentage: exact when it has at most two decimals (-75%, +12.5%),
    else three significant digits (-12.0%, +0.0122%)."""
    p = r * 100
    if (p * 100).denominator == 1:
        d = abs(p)
        ip, frac = int(d), d - int(d)
        digits = f"{ip:,}" + (("." + f"{int(frac * 100):02d}".rstrip("0")) if frac else "")
        return ("+" if p > 0 else "-" if p < 0 else "+") + digits + "%"
    f = float(p)
    if abs(f) >= 100:
        return f"{f:+,.0f}%"
    return f"{f:+#.3g}%" if abs(f) >= 0.001 else f"{f:+.2e}%"


def change_text(c: Change) -> str:
    """'-268,435,456 (-3.34%) ▼', or 'a → b' for what is not a number."""
    if not c.numeric:
        return f"{value(c.old)} → {value(c.new)}"
    d = c.delta
    sign = "+" if d > 0 else "-"
    mag = value(abs(d)) if isinstance(d, int) else f"{float(abs(d)):,.1f}"
    rel = f" ({percent(c.relative)})" if c.relative is not None else " (new)"
    return f"{sign}{mag}{rel} {UP if d > 0 else DOWN}"


def workload_text(d: Diff) -> str:
    w = d.workload
    parts = [f"seq {value(w['seq'])}", f"context {value(w['context'])}", f"batch {value(w['batch'])}",
             f"weights {w['dtype']}", f"KV {w['kv_dtype']}"]
    if w.get("tokens"):
        parts.append(f"training tokens {value(w['tokens'])}")
    return ", ".join(parts)


def _grid(rows: Sequence[Sequence[str]], right: set[int], indent: str = "  ") -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for r in rows:
        cells = [c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(r)]
        out.append((indent + "  ".join(cells)).rstrip())
    return out


def budget_rows(a: Sequence[Outcome], b: Sequence[Outcome]) -> list[list[str]]:

    rows = []
    for oa, ob in zip(a, b):
        verdict = "ok" if ob.ok else "FAIL"
        if oa.ok != ob.ok:
            verdict += " (was ok)" if not ob.ok else " (was failing)"
        rows.append([ob.name, fmt(oa.actual, oa.unit), fmt(ob.actual, ob.unit), f"{ob.relation} {fmt(ob.limit, ob.unit)}",
                     verdict])
    return rows


def table(d: Diff, budgets: tuple[list[Outcome], list[Outcome]] | None = None) -> str:
    out = [f"diff A = {safe(d.a)}", f"     B = {safe(d.b)}", f"at {workload_text(d)}"]
    if not d.changed:
        out.append("no change: the same fields and the same figures" +
                   (f" (only {', '.join(c.key for c in d.metadata)} differ)" if d.metadata else ""))
    else:
        out += ["", f"fields that changed ({len(d.fields)}):"]
        out += _grid([[c.key, value(c.old), "→", value(c.new)] for c in d.fields], set()) if d.fields else ["  none"]
        head = d.headline()
        if head:
            out += ["", "headline:"]
            out += _grid([["figure", "A", "B", "change"]] + [[c.label, value(c.old), value(c.new), change_text(c)]
                                                             for c in head], {1, 2})
        out += ["", f"every figure that changed ({len(d.figures)}):"]
        current = None
        rows: list[list[str]] = []
        for c in d.figures:
            if c.section != current:
                current = c.section
                rows.append([f"[{current}]", "", "", ""])
            rows.append(["  " + c.key, value(c.old), value(c.new), change_text(c)])
        out += _grid(rows, {1, 2})
    if budgets is not None:
        out += ["", "budgets (checked on A and on B):"]
        out += _grid([["budget", "A", "B", "limit", "B verdict"]] + budget_rows(*budgets), {1, 2})
    return "\n".join(out) + "\n"


def _md(text: str) -> str:
    """Text safe inside a Markdown table cell (and inert: no links, code spans or HTML)."""
    from ..escape import markdown

    return markdown(text)


def markdown(d: Diff, budgets: tuple[list[Outcome], list[Outcome]] | None = None) -> str:
    out = [f"### attncalc diff: {_md(safe(d.a))} → {_md(safe(d.b))}", "", f"<sub>{_md(workload_text(d))}</sub>", ""]
    if not d.changed:
        out.append("**No change**: the same fields and the same figures.")
    else:
        if d.fields:
            out.append("**Fields changed:** " + ", ".join(
                f"{_md(c.key)} {_md(value(c.old))} → {_md(value(c.new))}" for c in d.fields))
            out.append("")
        head = d.headline()
        if head:
            out += ["| figure | before | after | change |", "|---|---:|---:|---:|"]
            out += [f"| {_md(c.label)} | {value(c.old)} | {value(c.new)} | {_md(change_text(c))} |" for c in head]
            out.append("")
        out += [f"<details><summary>Every figure that changed ({len(d.figures)})</summary>", "",
                "| section | figure | before | after | change |", "|---|---|---:|---:|---:|"]
        out += [f"| {_md(c.section)} | {_md(c.key)} | {_md(value(c.old))} | {_md(value(c.new))} | {_md(change_text(c))} |"
                for c in d.figures]
        out += ["", "</details>"]
    if budgets is not None:
        out += ["", "| budget | before | after | limit | verdict |", "|---|---:|---:|---:|---|"]
        out += ["| " + " | ".join(_md(x) for x in r) + " |" for r in budget_rows(*budgets)]
    return "\n".join(out) + "\n"


def _num(v: Any) -> Any:
    if isinstance(v, Fraction):
        return {"numerator": v.numerator, "denominator": v.denominator, "approx": float(v)}
    if isinstance(v, tuple):
        return list(v)
    return v


def document(d: Diff, budgets: tuple[list[Outcome], list[Outcome]] | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "a": d.a, "b": d.b, "changed": d.changed, "workload": d.workload,
        "fields": [{"key": c.key, "old": c.old, "new": c.new} for c in d.fields],
        "metadata": [{"key": c.key, "old": c.old, "new": c.new} for c in d.metadata],
        "figures": [{"key": c.key, "label": c.label, "section": c.section, "unit": c.unit, "old": _num(c.old),
                     "new": _num(c.new), "delta": _num(c.delta), "relative": _num(c.relative)} for c in d.figures],
    }
    if budgets is not None:
        doc["budgets"] = {"a": [o.as_dict() for o in budgets[0]], "b": [o.as_dict() for o in budgets[1]],
                          "ok": all(o.ok for o in budgets[1])}
    return doc
