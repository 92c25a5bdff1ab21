"""Sections (rows of exact figures) as tables of the one table model (present/tables.py), drawn
for the terminal or as Markdown. ``sections_renderable`` and ``sections_markdown`` keep their
names for the commands that draw sections (count, fit)."""

from __future__ import annotations

from typing import Sequence

from .sections import Section
from .tables import APPROX as APPROX_KIND, EXACT, SHARE, TEXT, Block, Column, Page, Para, Table, markdown, print_page
from ..units import human, human_bytes, human_flops


def human_macs(n: int | float) -> str:
    """Multiply-accumulates with SI prefixes: the FLOP reading with its unit renamed (a MAC is one
    multiply and one add: 2 FLOPs)."""
    return human_flops(n).replace("FLOP", "MAC")


APPROX = {"count": human, "flops": human_flops, "macs": human_macs, "bytes": human_bytes}


def approx(value: int | None, unit: str) -> str:
    return "" if value is None else APPROX[unit](value)


def section_table(sec: Section) -> Table:
    """item, how (folds; dropped third), exact (never cut), ≈ (dropped first), share (dropped second)."""
    shares = any(r.share is not None for r in sec.rows)
    cols = [Column("item", TEXT), Column("how", TEXT, fold=True, drop=3), Column("exact", EXACT),
            Column("≈", APPROX_KIND, drop=1)]
    if shares:
        cols.append(Column(sec.share_label, sec.share_kind, drop=2))
    t = Table(sec.title, tuple(cols), note=sec.note, key=sec.title)
    for r in sec.rows:
        cells = [r.item, r.how, r.value, approx(r.value, r.unit or sec.unit)]
        if shares:
            cells.append(r.share)
        t.add(*cells, strong=r.strong)
    return t


def section_blocks(header: list[str], sections: Sequence[Section]) -> list[Block]:
    blocks: list[Block] = [Para(header[0], "bold")] + [Para(h, "dim") for h in header[1:]]
    return blocks + [section_table(s) for s in sections]


def sections_renderable(header: list[str], sections: Sequence[Section]) -> Page:
    """The page as a Rich renderable, laid out at the console's width."""
    return Page(section_blocks(header, sections))


def print_sections(header: list[str], sections: Sequence[Section]) -> None:
    print_page(section_blocks(header, sections))


def sections_markdown(header: list[str], sections: Sequence[Section]) -> str:
    return markdown(section_blocks(header, sections))
