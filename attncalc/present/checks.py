"""`check` results for people and for CI systems: one line per budget, CSV, Markdown, GitHub
workflow-command annotations and JUnit XML.

GitHub's syntax is ``::error file=F,line=L,title=T::MESSAGE`` with ``%``, CR and LF escaped in the
message and also ``:`` and ``,`` in property values (actions/toolkit, packages/core/src/command.ts,
``escapeData`` / ``escapeProperty``), as ``escape.github_data`` / ``escape.github_property`` write
them; every other line is ``escape.ci_log``-ged, so a model's name or path cannot add a workflow
command of its own. JUnit follows the shape every CI reader accepts:
``<testsuites><testsuite tests= failures=><testcase classname= name=><failure message=>``
(the Ant JUnit XML schema as read by Jenkins, GitLab and GitHub test reporters).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Sequence

from .. import escape
from ..core.budgets import Outcome
from .text import safe


@dataclass(frozen=True)
class Where:
    """Where a CI annotation points: a file (as the user named it) and, when known, a line."""

    file: str | None = None
    line: int | None = None
    note: str = ""  # e.g. "n_kv_heads = 16 at model.toml:6; limit at budgets.toml:2"


def exact(value: int | Fraction) -> str:
    if isinstance(value, int):
        return f"{value:,}"
    return f"{float(value):,.1f}"


def fmt(value: int | Fraction, unit: str) -> str:
    from ..units import human, human_bytes, human_flops

    if unit in ("ms", "rate"):  # exact fractions: a few significant digits, the unit named
        text = f"{float(value):,.6g}"
        return f"{text} ms" if unit == "ms" else f"{text}/s"
    n = int(value)
    if abs(n) >= 10**30:  # past every unit prefix: a mantissa and a power of ten, from the digits
        digits = str(abs(n))
        approx = f"{'-' if n < 0 else ''}{digits[0]}.{digits[1:3]}e{len(digits) - 1}"
    else:
        approx = {"count": human, "flops": human_flops, "bytes": human_bytes}[unit](n)
    return f"{exact(value)} ({approx})"


def failure_text(name: str, o: Outcome) -> str:

    name = safe(name)
    if o.unit in ("ms", "rate"):  # as many digits as tell the two apart (never "is 3.352, limit <= 3.352")
        actual, limit = _apart(float(o.actual), float(o.limit))
        unit = " ms" if o.unit == "ms" else "/s"
        return f"{name}: {o.name}: {o.what} is {actual}{unit}, limit {o.relation} {limit}{unit}"
    return f"{name}: {o.name}: {o.what} is {fmt(o.actual, o.unit)}, limit {o.relation} {fmt(o.limit, o.unit)}"


def _apart(x: float, y: float) -> tuple[str, str]:
    """x and y to 6 significant digits, or as many more as tell them apart."""
    for digits in range(6, 18):
        a, b = f"{x:,.{digits}g}", f"{y:,.{digits}g}"
        if a != b:
            return a, b
    return repr(x), repr(y)


def summary(name: str, outcomes: Sequence[Outcome]) -> str:
    """One line for a log: the verdict, the counts and the names of the failed budgets."""

    name = safe(name)
    failed = [o.name for o in outcomes if not o.ok]
    n = len(outcomes)
    if not failed:
        return f"ok: {name}: {n} {'budgets hold' if n != 1 else 'budget holds'}"
    return f"FAIL: {name}: {len(failed)} of {n} budgets failed: {', '.join(failed)}"


def lines(name: str, outcomes: Sequence[Outcome]) -> str:
    """The table format: one line when all hold, else one line per failure and a summary."""

    name = safe(name)
    failed = [o for o in outcomes if not o.ok]
    if not failed:
        parts = "; ".join(f"{o.what} {fmt(o.actual, o.unit)} {o.relation} {fmt(o.limit, o.unit)}" for o in outcomes)
        n = len(outcomes)
        return f"ok: {name}: {n} {'budgets hold' if n > 1 else 'budget holds'}: {parts}\n"
    out = [f"FAIL {failure_text(name, o)}" for o in failed]
    out.append(f"{len(failed)} of {len(outcomes)} budgets failed for {name}")
    return "\n".join(out) + "\n"


def _num(v: int | Fraction) -> str:
    return str(v) if isinstance(v, int) else f"{v.numerator}/{v.denominator}"


def csv(name: str, outcomes: Sequence[Outcome], header: bool = True) -> str:
    """One row per budget; exact values (a fraction as p/q)."""
    import csv as _csv
    import io

    buf = io.StringIO()
    w = _csv.writer(buf, lineterminator="\n")
    if header:
        w.writerow(["model", "budget", "what", "actual", "relation", "limit", "ok"])
    for o in outcomes:
        w.writerow([escape.csv_cell(name), o.name, o.what, _num(o.actual), o.relation, _num(o.limit), str(o.ok).lower()])
    return buf.getvalue()


def markdown(name: str, outcomes: Sequence[Outcome]) -> str:
    _md = escape.markdown
    rows = [f"**{_md(summary(name, outcomes))}**", "", "| budget | figure | actual | limit | |",
            "|---|---|---:|---:|---|"]
    for o in outcomes:
        rows.append(f"| `{o.name}` | {_md(o.what)} | {fmt(o.actual, o.unit)} | {o.relation} {fmt(o.limit, o.unit)} | "
                    f"{'ok' if o.ok else '**FAIL**'} |")
    return "\n".join(rows) + "\n"


_escape_data, _escape_property = escape.github_data, escape.github_property


def annotation(level: str, message: str, where: Where | None = None, title: str | None = None) -> str:
    props = []
    if where is not None and where.file:
        props.append(f"file={_escape_property(where.file)}")
        if where.line:
            props.append(f"line={where.line}")
    if title:
        props.append(f"title={_escape_property(title)}")
    return f"::{level}{' ' + ','.join(props) if props else ''}::{_escape_data(message)}"


def github(name: str, outcomes: Sequence[Outcome], where: dict[str, Where]) -> str:
    """One ``::error`` per failed budget, at the line that sets it; then the one-line summary."""
    out = []
    for o in outcomes:
        if o.ok:
            continue
        w = where.get(o.name)
        note = f" ({w.note})" if w is not None and w.note else ""
        out.append(annotation("error", failure_text(name, o) + note, w, f"attncalc check: {o.name}"))
    out.append(escape.ci_log(summary(name, outcomes)))
    return "\n".join(out) + "\n"


# XML 1.0 forbids most control characters even escaped: replace them so the document stays valid.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _x(s: str) -> str:
    return _NOT_XML.sub("\ufffd", s)


def junit(results: Sequence[tuple[str, Sequence[Outcome], dict[str, Where]]], suite: str = "attncalc check") -> str:
    """A JUnit XML report: one testsuite per model, one testcase per budget."""
    import xml.etree.ElementTree as ET

    total = sum(len(r[1]) for r in results)
    nfail = sum(1 for r in results for o in r[1] if not o.ok)
    root = ET.Element("testsuites", {"name": _x(suite), "tests": str(total), "failures": str(nfail), "errors": "0"})
    for name, outcomes, where in results:
        failed = [o for o in outcomes if not o.ok]
        ts = ET.SubElement(root, "testsuite", {"name": _x(f"{suite}: {name}"), "tests": str(len(outcomes)),
                                               "failures": str(len(failed)), "errors": "0", "skipped": "0"})
        for o in outcomes:
            attrs = {"classname": _x(f"attncalc.check.{name}"), "name": _x(o.name)}
            w = where.get(o.name)
            if w is not None and w.file:
                attrs["file"] = _x(w.file)
                if w.line:
                    attrs["line"] = str(w.line)
            tc = ET.SubElement(ts, "testcase", attrs)
            ET.SubElement(tc, "system-out").text = _x(
                f"{o.what}: {fmt(o.actual, o.unit)} {o.relation} {fmt(o.limit, o.unit)}")
            if not o.ok:
                text = failure_text(name, o) + (f" ({w.note})" if w is not None and w.note else "")
                f = ET.SubElement(tc, "failure", {"message": _x(text), "type": "budget"})
                f.text = _x(text)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
