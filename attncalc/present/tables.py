"""One table model for every command's non-JSON output, and its renderers: terminal, Markdown, CSV.

A page is a list of blocks: paragraphs (``Para``) and tables (``Table``). A table has typed
columns: ``text`` (``fold=True`` for explanatory text that may wrap on spaces), ``exact`` (an
exact integer, or an exact fraction: never cut, ellipsized or wrapped), ``approx`` (a rounded
reading such as 174.6B), ``share`` (a fraction of a whole, shown as a percentage) and ``ratio``.

The terminal renderer fits a table to the width in three stated steps: (1) fold the explanatory
text columns (wrap on spaces only, so a number inside them stays whole); (2) drop the optional
columns, lowest ``drop`` rank first; (3) if it still does not fit, switch to a vertical layout: one
row (or, with ``Table.vertical``, one model) per block of lines. Only a single number wider than
the whole width can make a line longer than the width. No box drawing: columns are separated by two
spaces and the header underlined with ``-``. Rich is used only to style whole lines (bold strong
rows and titles, dim notes), with user strings passed as ``Text`` (never read as markup).

Escaping (attncalc/escape.py, one escaper per output kind): every text cell, title, note and
paragraph is ``escape.page``-d before it is measured (control and bidi characters shown, not
obeyed), and every finished line passes ``escape.output`` (no CI workflow command); Markdown cells
go through ``escape.markdown``, CSV cells through ``escape.csv_cell``.
"""

from __future__ import annotations

import csv as _csv
import io
import os
import sys
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Iterable, Sequence, Union

from .. import escape

TEXT, EXACT, APPROX, SHARE, RATIO = "text", "exact", "approx", "share", "ratio"
GAP = 2
DEFAULT_WIDTH = 80


@dataclass(frozen=True)
class Column:
    name: str
    kind: str = TEXT
    fold: bool = False  # explanatory text: may wrap on spaces
    drop: int = 0  # 0: always shown; else dropped when too narrow, rank 1 first, then 2, ...

    @property
    def right(self) -> bool:
        return self.kind != TEXT


@dataclass(frozen=True)
class Row:
    cells: tuple[Any, ...]
    strong: bool = False


@dataclass
class Table:
    title: str
    columns: tuple[Column, ...]
    rows: list[Row] = field(default_factory=list)
    note: str = ""
    key: str = ""  # a machine name for the table (CSV's "table" column)
    vertical: "Table | None" = None  # the table to lay out vertically when this one does not fit
    optional: bool = False  # when it does not fit, leave it out (its figures are shown elsewhere)
    narrow: "Table | None" = None  # tried side by side before the vertical layout (e.g. rounded figures)

    def add(self, *cells: Any, strong: bool = False) -> None:
        if len(cells) != len(self.columns):
            raise ValueError(f"{len(cells)} cells for {len(self.columns)} columns")
        self.rows.append(Row(tuple(cells), strong))


@dataclass(frozen=True)
class Para:
    text: str
    style: str = ""  # "", "bold" or "dim"


Block = Union[Table, Para]


# --- cells ------------------------------------------------------------------------------------------


def exact_text(v: Any) -> str:
    """An exact number with thousands separators: an int, or a Fraction written exactly when its
    decimal expansion ends (2 and 5 only in the denominator), else to two decimals with ≈."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, Fraction):
        if v.denominator == 1:
            return f"{v.numerator:,}"
        d, places = v.denominator, 0
        for p in (2, 5):
            while d % p == 0:
                d //= p
        if d == 1:
            scaled = v
            while scaled.denominator != 1:
                scaled *= 10
                places += 1
            n = abs(scaled.numerator)
            whole, frac = divmod(n, 10**places)
            return f"{'-' if v < 0 else ''}{whole:,}.{frac:0{places}d}"
        return f"≈{float(v):,.2f}"
    if isinstance(v, float):
        return f"{v:,.1f}"
    return str(v)


def share_text(v: Any) -> str:
    if v is None or isinstance(v, str):
        return v or ""
    return f"{100 * float(v):.1f}%"


def ratio_text(v: Any) -> str:
    if v is None or isinstance(v, str):
        return v or ""
    return f"{float(v):.4f}"


def cell_text(col: Column, v: Any) -> str:
    """A cell as displayed: numbers written out, text escaped for a page (``escape.page``)."""
    if isinstance(v, str):
        return escape.page(v)
    if isinstance(v, tuple):  # (figure, aside): the aside is shown only where it fits
        return "  ".join(escape.page(x) for x in v if x)
    if v is None:
        return ""
    if col.kind == EXACT:
        return exact_text(v)
    if col.kind == SHARE:
        return share_text(v)
    if col.kind == RATIO:
        return ratio_text(v)
    return exact_text(v) if isinstance(v, (int, Fraction)) else escape.page(str(v))


def raw_value(col: Column, v: Any) -> str:
    """A cell for CSV: exact numbers without separators (a fraction as p/q), shares as floats, text
    through ``escape.csv_cell`` (no spreadsheet formula)."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, int):
        return str(v)
    if isinstance(v, Fraction):
        if col.kind in (SHARE, RATIO):
            return repr(float(v))
        return str(v.numerator) if v.denominator == 1 else f"{v.numerator}/{v.denominator}"
    if isinstance(v, float):
        return repr(v)
    return escape.csv_cell(str(v))


# --- width ------------------------------------------------------------------------------------------


def terminal_width() -> int:
    """COLUMNS when it is a positive integer; else the terminal's width; else (COLUMNS=0, not a
    terminal, unknown) 80."""
    raw = os.environ.get("COLUMNS")
    if raw is not None:
        try:
            n = int(raw)
        except ValueError:
            n = 0
        return n if n > 0 else DEFAULT_WIDTH
    try:
        if sys.stdout.isatty():
            n = os.get_terminal_size(sys.stdout.fileno()).columns
            if n > 0:
                return n
    except (OSError, ValueError, AttributeError):
        pass
    return DEFAULT_WIDTH


def cells(text: str) -> int:
    from rich.cells import cell_len

    return cell_len(text)


def wrap(text: str, width: int, indent: str = "") -> list[str]:
    """Wrap on spaces only (a word, a number, is never broken; a word wider than the width stands
    alone on its line). Existing line breaks are kept."""
    out: list[str] = []
    for para in text.split("\n"):
        line = ""
        for word in para.split(" "):
            if word == "" and line == "":
                continue
            candidate = word if not line else f"{line} {word}"
            if line and cells(indent + candidate) > width:
                out.append(indent + line)
                line = word
            else:
                line = candidate
        out.append(indent + line)
    return out or [indent]


def _longest_word(text: str) -> int:
    return max((cells(w) for w in text.split()), default=0)


# --- terminal ----------------------------------------------------------------------------------------

Line = tuple[str, str]  # (text, style)


def _grid(t: Table) -> list[list[str]]:
    return [[cell_text(c, v) for c, v in zip(t.columns, r.cells)] for r in t.rows]


def _plan(t: Table, grid: list[list[str]], width: int) -> tuple[list[int], list[int]] | None:
    """The columns to show and their widths, or None when even the narrowest layout is too wide."""
    shown = list(range(len(t.columns)))
    for i, c in enumerate(t.columns):  # a column with nothing in it is not shown
        if all(not row[i] for row in grid) and c.drop:
            shown.remove(i)
    while True:
        natural, least = {}, {}
        for i in shown:
            c = t.columns[i]
            texts = [row[i] for row in grid]
            natural[i] = max([cells(c.name)] + [cells(x) for x in texts])
            # a header may wrap on spaces; a cell only in an explanatory (fold) column
            least[i] = max([_longest_word(c.name)] + [_longest_word(x) if c.fold else cells(x) for x in texts])
        gaps = GAP * (len(shown) - 1)
        if sum(least.values()) + gaps <= width:
            break
        optional = [i for i in shown if t.columns[i].drop]
        if not optional:
            return None
        shown.remove(min(optional, key=lambda i: (t.columns[i].drop, -i)))
    widths = dict(natural)
    excess = sum(widths.values()) + gaps - width
    folding = [i for i in shown if t.columns[i].fold]
    while excess > 0:  # fold the explanatory columns first, the widest first; then wrap headers
        pool = [i for i in folding if widths[i] > least[i]] or [i for i in shown if widths[i] > least[i]]
        i = max(pool, key=lambda i: widths[i] - least[i])
        widths[i] -= 1
        excess -= 1
    return shown, [widths[i] for i in shown]


def _pad(text: str, w: int, right: bool) -> str:
    fill = " " * max(0, w - cells(text))
    return fill + text if right else text + fill


def _horizontal(t: Table, grid: list[list[str]], shown: list[int], widths: list[int]) -> list[Line]:
    def lay(row_cells: list[str], style: str) -> list[Line]:
        parts = []
        for i, w in zip(shown, widths):
            c = t.columns[i]
            parts.append(wrap(row_cells[i], w) if (c.fold or not c.right) and cells(row_cells[i]) > w else [row_cells[i]])
        height = max(len(p) for p in parts)
        out = []
        for k in range(height):
            line = (" " * GAP).join(_pad(p[k] if k < len(p) else "", w, t.columns[i].right)
                                   for p, i, w in zip(parts, shown, widths))
            out.append((line.rstrip(), style))
        return out

    heads = [wrap(t.columns[i].name, w) for i, w in zip(shown, widths)]
    lines = []
    for k in range(max(len(h) for h in heads)):
        line = (" " * GAP).join(_pad(h[k] if k < len(h) else "", w, t.columns[i].right)
                               for h, i, w in zip(heads, shown, widths))
        lines.append((line.rstrip(), "bold"))
    lines.append(((" " * GAP).join("-" * w for w in widths), ""))
    for row, r in zip(grid, t.rows):
        lines += lay(row, "bold" if r.strong else "")
    return lines


def _vertical(t: Table, width: int) -> list[Line]:
    """One row per block of lines: the row's first cell, then `name  value` for each other cell
    (a (figure, aside) cell drops its aside when the line would be too long)."""
    labels = [c.name for c in t.columns[1:]]
    lw = max((cells(x) for x in labels), default=0)
    out: list[Line] = []
    for r in t.rows:
        if out:
            out.append(("", ""))
        out += [(x, "bold") for x in wrap(cell_text(t.columns[0], r.cells[0]), width)]
        for c, raw in zip(t.columns[1:], r.cells[1:]):
            v = cell_text(c, raw)
            if not v:
                continue
            line = f"  {_pad(c.name, lw, False)}  {v}"
            if cells(line) > width and isinstance(raw, tuple):
                v = cell_text(c, raw[0])
                line = f"  {_pad(c.name, lw, False)}  {v}"
            if cells(line) <= width:
                out.append((line, "bold" if r.strong else ""))
            elif c.kind == TEXT:
                out.append((f"  {c.name}", ""))
                out += [(x, "") for x in wrap(v, width, "    " if width >= 24 else "")]
            else:  # a number is never broken: on its own line if need be
                out.append((f"  {c.name}", ""))
                out.append((f"    {v}" if cells(v) + 4 <= width else v, "bold" if r.strong else ""))
    return out


def table_lines(t: Table, width: int, drawn: set[int] | None = None) -> list[Line]:
    grid = _grid(t)
    plan = _plan(t, grid, width) if t.columns else None
    if plan is None and t.narrow is not None and _plan(t.narrow, _grid(t.narrow), width) is not None:
        if drawn is not None:
            drawn.add(id(t.narrow))  # drawn here: not again where it stands on its own
        return [(x, "dim") for x in wrap(f"{escape.page(t.title)}: exact values need a wider terminal (or --format json)",
                                          width)] \
            + table_lines(t.narrow, width)
    if plan is None and t.optional:
        return []
    out: list[Line] = [(x, "bold") for x in wrap(escape.page(t.title), width)] if t.title else []
    if plan is not None:
        out += _horizontal(t, grid, *plan)
        hidden = [c.name for i, c in enumerate(t.columns)
                  if i not in plan[0] and any(row[i] for row in grid)]
        if hidden:
            out += [(x, "dim") for x in wrap(f"not shown at this width: {', '.join(hidden)} "
                                             "(a wider terminal, or --format csv/json)", width)]
    else:
        out += _vertical(t.vertical or t, width)
    if t.note:
        out += [(x, "dim") for x in wrap(escape.page(t.note), width)]
    return out


def page_lines(blocks: Sequence[Block], width: int) -> list[Line]:
    out: list[Line] = []
    previous = None
    drawn: set[int] = set()
    for b in blocks:
        if isinstance(b, Table):
            if id(b) in drawn:
                continue
            lines = table_lines(b, width, drawn)
            if out and lines:
                out.append(("", ""))
            out += lines
        else:
            if isinstance(previous, Table):
                out.append(("", ""))
            out += [(x, b.style) for x in wrap(escape.page(b.text), width)] if b.text else [("", "")]
        previous = b
    return [(escape.output(text), style) for text, style in out]  # the page's last guard: no CI command


ASCII = str.maketrans({"×": "x", "≈": "~", "÷": "/", "▲": "^", "▼": "v", "→": "->", "−": "-", "·": ".",
                       "█": "#", "▓": "=", "▒": "+", "░": ".", "—": "-", "–": "-", "²": "^2", "…": "..."})


def _encodable(text: str, encoding: str | None) -> str:
    """The text, with the few symbols we print spelled in ASCII when stdout cannot encode them."""
    if not encoding:
        return text
    try:
        text.encode(encoding)
        return text
    except (UnicodeEncodeError, LookupError):
        text = text.translate(ASCII)
        try:
            return text.encode(encoding, errors="backslashreplace").decode(encoding)
        except LookupError:
            return text


def print_page(blocks: Sequence[Block], width: int | None = None) -> None:
    """Draw a page on stdout, fitted to the terminal width, styled when stdout is a colour terminal
    (NO_COLOR honoured by Rich)."""
    from rich.console import Console
    from rich.text import Text

    width = width or terminal_width()
    lines = page_lines(blocks, width)
    enc = getattr(sys.stdout, "encoding", None)
    console = Console(soft_wrap=True, highlight=False, emoji=False, markup=False)
    if not console.is_terminal or console.no_color:
        sys.stdout.write("".join(_encodable(text, enc) + "\n" for text, _ in lines))
        sys.stdout.flush()
        return
    for text, style in lines:
        console.print(Text(_encodable(text, enc), style=style or ""), soft_wrap=True, crop=False, overflow="ignore")


class Page:
    """A page as a Rich renderable (laid out at the console's width), for callers that print Rich."""

    def __init__(self, blocks: Sequence[Block]) -> None:
        self.blocks = list(blocks)

    def __rich_console__(self, console: Any, options: Any) -> Any:
        from rich.text import Text

        for text, style in page_lines(self.blocks, options.max_width):
            yield Text(text, style=style or "", no_wrap=True, overflow="ignore")


def page_text(blocks: Sequence[Block], width: int) -> str:
    """The page as plain text at a width (what print_page writes without styling)."""
    return "".join(text + "\n" for text, _ in page_lines(blocks, width))


# --- Markdown -----------------------------------------------------------------------------------------


def md(text: str) -> str:
    """User text made inert inside Markdown (no links, images, code spans, HTML or table breaks):
    ``escape.markdown``."""
    return escape.markdown(text)


def markdown(blocks: Sequence[Block], level: int = 3) -> str:
    out: list[str] = []
    first = True
    for b in blocks:
        if isinstance(b, Para):
            if not b.text:
                continue
            if first and b.style == "bold":
                out += [f"{'#' * level} {md(b.text)}", ""]
            else:
                out.append(f"{escape.markdown(b.text, line_start=True)}  ")
            first = False
            continue
        first = False
        if out and out[-1] != "":
            out.append("")
        if b.title:
            out += [f"{'#' * (level + 1)} {md(b.title)}", ""]
        out.append("| " + " | ".join(md(c.name) for c in b.columns) + " |")
        out.append("|" + "|".join("---:" if c.right else "---" for c in b.columns) + "|")
        for r in b.rows:
            texts = [md(cell_text(c, v).strip()) for c, v in zip(b.columns, r.cells)]
            if r.strong:
                texts = [f"**{x}**" if x else x for x in texts]
            out.append("| " + " | ".join(texts) + " |")
        if b.note:
            out += ["", f"_{md(b.note)}_"]
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


# --- CSV --------------------------------------------------------------------------------------------


def csv(tables: Iterable[Table]) -> str:
    """Tables as one CSV: exact numbers without separators; with several tables, a first
    ``table`` column names each row's table."""
    tables = [t for t in tables]
    many = len(tables) > 1
    buf = io.StringIO()
    w = _csv.writer(buf, lineterminator="\n")
    header_written = None
    for t in tables:
        names = [c.name for c in t.columns]
        if names != header_written:
            w.writerow((["table"] if many else []) + names)
            header_written = names
        for r in t.rows:
            w.writerow(([escape.csv_cell(t.key or t.title)] if many else [])
                       + [raw_value(c, v) for c, v in zip(t.columns, r.cells)])
    return buf.getvalue()
