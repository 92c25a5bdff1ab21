"""`compare` as tables: one workload for every column, stated in the title.

Wide enough: one row per figure, one column per model with the exact value (▲ largest, ▼
smallest), then the same figures rounded with the ratio to the first model, then where the
parameters go. Too narrow: one block of lines per model (the ``vertical`` table)."""

from __future__ import annotations

from fractions import Fraction
from typing import Any, Sequence

from .tables import EXACT, TEXT, Block, Column, Para, Table
from .tables import exact_text
from .terminal import approx
from .text import safe


def workload_text(w: dict[str, Any]) -> str:
    return (f"seq {w['seq']:,}, batch {w['batch']}, attention {w['attention']}, weights and KV cache in {w['dtype']}")


def _value(v: Any) -> int | Fraction | float:
    if isinstance(v, dict):
        return Fraction(v["numerator"], v["denominator"])
    return v


def exact_cell(r: dict[str, Any], i: int) -> str:
    v = _value(r["values"][i])
    text = f"{100 * v:.1f}%" if r["unit"] == "share" else exact_text(v)
    if r["largest"] != r["smallest"]:
        text += " ▲" if i == r["largest"] else (" ▼" if i == r["smallest"] else "  ")
    return text


def approx_cell(r: dict[str, Any], i: int, marks: bool = False) -> str:
    v = r["approx"][i]
    text = f"{100 * v:.1f}%" if r["unit"] == "share" else approx(round(v), r["unit"])
    if marks and r["largest"] != r["smallest"]:
        text += " ▲" if i == r["largest"] else (" ▼" if i == r["smallest"] else "")
    ratio = r["ratios"][i]
    return text if i == 0 or ratio is None else f"{text} ×{ratio:.2f}"


def _aside(r: dict[str, Any], i: int) -> tuple[str, str]:
    """The exact figure with its mark, and aside the rounded figure (unless it says the same) and ratio."""
    exact = exact_cell(r, i).rstrip()
    rounded = approx_cell(r, i)
    if r["unit"] == "share":
        rounded = rounded.partition(" ")[2]  # the percentage is already exact to the shown digit
    return exact, rounded


def compare_blocks(names: Sequence[str], rows: Sequence[dict[str, Any]], workload: dict[str, Any],
                   bars: Sequence[str] = (), legend: str = "") -> list[Block]:
    names = [safe(n) for n in names]
    title = f"compare at {workload_text(workload)} (▲ largest, ▼ smallest)"
    cols = (Column("figure", TEXT),) + tuple(Column(n, EXACT) for n in names)
    vertical = Table("", (Column("model", TEXT),) + tuple(Column(r["label"], EXACT) for r in rows))
    for i, n in enumerate(names):
        vertical.add(n, *[_aside(r, i) for r in rows])
    rounded = Table(f"rounded, × ratio to {names[0]}", cols, key="approx", optional=True)
    for r in rows:
        rounded.add(r["label"], *[approx_cell(r, i, marks=True) for i in range(len(names))])
    main = Table(title, cols, key="exact", vertical=vertical, narrow=rounded)
    for r in rows:
        main.add(r["label"], *[exact_cell(r, i) for i in range(len(names))])
    # when the main table goes vertical its blocks already hold the rounded figures and ratios
    blocks: list[Block] = [main, rounded]
    if bars:
        chart = Table("where the parameters go", (Column("model", TEXT), Column("", EXACT)), key="bars",
                      note=legend, optional=True)
        for n, b in zip(names, bars):
            chart.add(n, b)
        blocks.append(chart)
    return blocks
