"""Sections -> Rich renderables or Markdown text. Returns, never prints."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from .sections import Section
from ..units import human, human_bytes, human_flops

APPROX = {"count": human, "flops": human_flops, "bytes": human_bytes}


def _pct(share: float | None) -> str:
    return "" if share is None else f"{100 * share:.1f}%"


def section_table(sec: Section) -> Table:
    t = Table(title=sec.title, title_justify="left", caption=sec.note or None, caption_justify="left",
              expand=False, pad_edge=False)
    t.add_column("item", no_wrap=True)
    t.add_column("how", overflow="fold")
    t.add_column("exact", justify="right", no_wrap=True)
    t.add_column("≈", justify="right", no_wrap=True)
    shares = any(r.share is not None for r in sec.rows)
    if shares:
        t.add_column("share", justify="right", no_wrap=True)
    for r in sec.rows:
        style = "bold" if r.strong else None
        exact = "" if r.value is None else f"{r.value:,}"
        approx = "" if r.value is None else APPROX[r.unit or sec.unit](r.value)
        t.add_row(r.item, r.how, exact, approx, *([_pct(r.share)] if shares else []), style=style)
    return t


def sections_renderable(header: list[str], sections: list[Section]) -> Group:
    parts = [Text(header[0], style="bold")] + [Text(h, style="dim") for h in header[1:]]
    for sec in sections:
        parts += [Text(""), section_table(sec)]
    return Group(*parts)


def sections_markdown(header: list[str], sections: list[Section]) -> str:
    out = [f"### {header[0]}", ""] + [f"{h}  " for h in header[1:]]
    for sec in sections:
        out += ["", f"#### {sec.title}", "", "| item | how | exact | ≈ | share |", "|---|---|---:|---:|---:|"]
        for r in sec.rows:
            exact = "" if r.value is None else f"{r.value:,}"
            approx = "" if r.value is None else APPROX[r.unit or sec.unit](r.value)
            cells = [r.item.strip(), r.how, exact, approx, _pct(r.share)]
            if r.strong:
                cells = [f"**{c}**" if c else c for c in cells]
            out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        if sec.note:
            out += ["", f"_{sec.note}_"]
    return "\n".join(out) + "\n"
