"""One escaper per output kind, for text attncalc did not write itself.

Names, notes, sources, labels and paths come from model, hardware and budgets files, from the
command line and from the file system: untrusted text. Each output kind has ONE escaper here, and
every renderer uses the one for its kind; the sinks (``cli.common.emit``, ``present.tables``'s page
lines, ``cli.faults.say``) pass whole lines through ``output`` or ``diagnostic`` once more, so an
output path that forgets its escaper is still safe. Standard library only; every layer may use it.

- ``terminal(text, keep="")``: control characters (C0, DEL, C1: ESC, CSI, OSC, NEL…), line and
  paragraph separators, bidirectional embeddings, overrides, isolates and marks (U+202E…),
  zero-width and other invisible format characters, Unicode tag characters and lone surrogates
  (bytes that were not UTF-8) are written as visible escapes: ``\\x1b``, ``\\u202e``. Text cannot
  move the cursor, recolour, retitle, clear or visually reorder a terminal. ``keep`` names
  characters let through (a page keeps ``"\\n"``). The result is printable and idempotent.
- ``ci_log(text)``: GitHub Actions' runner reads a workflow command from every line of stdout and
  stderr that starts with ``::`` after blanks (``::error …``, ``::add-mask::``,
  ``::stop-commands::``; ``ActionCommand.TryParseV2`` trims leading white space first), and a
  legacy command ``##[name …]`` anywhere in a line (``ActionCommand.TryParse`` searches with
  ``IndexOf``); Azure Pipelines reads ``##vso[…]`` the same way. The first ``:`` of such a line is
  written ``\\u003a`` and the ``[`` after ``##`` or ``##vso`` is written ``\\u005b``: nothing is
  obeyed, and the escape is valid inside a JSON string too. Lines end at any line break a runner
  may split on (LF, CR, VT, FF, NEL, U+2028/2029…).
- ``markdown(text, line_start=False)``: one line of inline Markdown that renders as the text: white
  space flattened, control characters shown, and ``\\ ` * [ ] < > | ! ~ & #`` backslash-escaped
  (CommonMark: any ASCII punctuation may be escaped), so no link, image, HTML tag, entity, code
  span, bold or table-cell break can come from user text (``_`` is left: GitHub does not
  emphasise inside words, and ``d_model`` stays readable); at a line start a leading ``-``,
  ``+``, ``=`` or ``1.`` is escaped too (no list, no heading underline).
- ``csv_cell(value)``: a string cell that a spreadsheet would run as a formula (first non-blank
  character ``=``, ``+``, ``-``, ``@``, tab or CR, or their full-width forms) gets a leading
  ``'`` (OWASP, "CSV Injection"); a plain number (``-12``, ``3/4``, ``1.5e3``) is left alone, and
  the csv module quotes the cell.
- ``json_text(text)``: a serialized JSON document whose strings keep their exact value: what
  ``terminal`` would escape is written with JSON's own ``\\uXXXX``, and ``##[`` as ``##\\u005b``.
- ``github_data`` / ``github_property``: workflow-command data and property values (actions/toolkit
  ``escapeData`` / ``escapeProperty``: ``%``, CR, LF; also ``:`` and ``,`` in properties).
- ``diagnostic(text, limit)``: one line for stderr: white space (newlines included) collapsed,
  ``terminal`` and ``ci_log`` applied, length bounded.
- ``output(text)``: the last guard of a sink: ``terminal`` keeping newlines and tabs, then ``ci_log``.
"""

from __future__ import annotations

import re

# What a terminal could obey or hide: C0 and C1 controls and DEL; soft hyphen, Arabic letter mark,
# Mongolian vowel separator; zero-width spaces/joiners and LRM/RLM; line/paragraph separators;
# bidi embeddings, overrides (U+202A-E) and isolates (U+2066-9); word joiner and invisible operators;
# deprecated format characters; BOM; interlinear annotations; surrogates; tag characters.
_HIDDEN = re.compile(
    "[\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f"
    "\ufeff\ufff9-\ufffb\ud800-\udfff\U000e0000-\U000e007f]")
# Where a CI runner may start a new line (.NET's ReadLine splits at LF, CR; Python's splitlines more).
_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_COMMAND = re.compile(rf"((?:\A|[{_BREAKS}])\s*):(?=:)")  # \s: any Unicode white space, breaks included
_LEGACY = re.compile(r"(##(?:vso)?)\[", re.IGNORECASE)
_MARKDOWN = re.compile(r"([\\`*\[\]<>|!~&#])")
_MARKDOWN_LEAD = re.compile(r"\A([-+=]|[0-9]+[.)])")
_FORMULA = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
_PLAIN_NUMBER = re.compile(r"[+-]?[0-9][0-9,_]*(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?(?:/[0-9]+)?")


def hidden(text: str, allow: str = ""):
    """The first character ``terminal`` would escape (a ``re.Match``), ignoring those in ``allow``;
    None when there is none. For readers that refuse such text at input."""
    for m in _HIDDEN.finditer(str(text)):
        if m.group() not in allow:
            return m
    return None


def _code(ch: str) -> str:
    c = ord(ch)
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}" if c < 0x10000 else f"\\U{c:08x}"


def terminal(text: str, keep: str = "") -> str:
    """``text`` with every hidden or controlling character written as a visible escape."""
    text = str(text)
    if keep:
        return _HIDDEN.sub(lambda m: m.group() if m.group() in keep else _code(m.group()), text)
    return _HIDDEN.sub(lambda m: _code(m.group()), text)


def ci_log(text: str, *, line_start: bool = True) -> str:
    """No CI workflow command in ``text``: ``::`` opening a line and ``##[`` anywhere are escaped.
    ``line_start=False`` leaves line starts alone (for a renderer that writes its own commands)."""
    text = _LEGACY.sub(lambda m: m.group(1) + "\\u005b", str(text))
    if line_start:
        text = _COMMAND.sub(lambda m: m.group(1) + "\\u003a", text)
    return text


def output(text: str) -> str:
    """The last guard of a sink (stdout text of any format): nothing a terminal or a CI runner obeys."""
    return ci_log(terminal(text, keep="\n\t"))


def page(text: str) -> str:
    """Text for a page laid out in columns: tabs as spaces, line breaks kept, the rest escaped."""
    return terminal(str(text).replace("\t", " "), keep="\n")


def diagnostic(text: str, limit: int = 300) -> str:
    """One line for stderr: white space collapsed, nothing obeyed, at most ``limit`` characters."""
    text = ci_log(terminal(" ".join(str(text).split())))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def markdown(text: str, *, line_start: bool = False) -> str:
    """User text as inert inline Markdown on one line (see the module docstring); ``line_start``:
    the text opens a line (a paragraph, not a table cell), so a list or heading marker is escaped."""
    text = terminal(" ".join(str(text).split()))
    text = _MARKDOWN.sub(r"\\\1", text)
    lead = _MARKDOWN_LEAD.match(text) if line_start else None
    if lead:  # "- x", "+ x", "= x" or "1. x" would open a list or underline a heading
        mark = lead.group()
        text = mark[:-1] + "\\" + mark[-1] + text[lead.end():]
    return text


def csv_cell(value):
    """A cell for CSV: a string a spreadsheet would evaluate gets a leading ``'``; others unchanged."""
    if not isinstance(value, str):
        return value
    if value.lstrip(" ").startswith(_FORMULA) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def json_text(text: str) -> str:
    """A serialized JSON document made inert for terminals and CI logs, its data unchanged."""
    # json.dumps already writes C0 controls inside strings as escapes: a raw newline is layout.
    text = _HIDDEN.sub(lambda m: m.group() if m.group() == "\n" else
                       "".join(f"\\u{u:04x}" for u in _utf16(m.group())), text)
    return ci_log(text, line_start=False)


def _utf16(ch: str) -> list[int]:
    c = ord(ch)
    if c < 0x10000:
        return [c]
    c -= 0x10000
    return [0xD800 + (c >> 10), 0xDC00 + (c & 0x3FF)]


def github_data(text: str) -> str:
    """Workflow-command data: one line (``%``, CR, LF encoded), nothing else obeyed."""
    text = terminal(str(text), keep="\r\n")
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return ci_log(text, line_start=False)


def github_property(text: str) -> str:
    """A workflow-command property value (file=, title=): data escapes plus ``:`` and ``,``."""
    return github_data(text).replace(":", "%3A").replace(",", "%2C")
