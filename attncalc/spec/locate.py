"""Find the line a key is written on in TOML or JSON text, so CI annotations can point at it.

Both scanners are iterative (no recursion, so hostile nesting cannot exhaust the stack) and never
raise: a key they cannot find gives ``None``. Lines count from 1, as editors and GitHub do.
"""

from __future__ import annotations

import json as _json
import re

# Our field names and the keys a Hugging Face config.json spells them with (the readers of spec/hf.py:
# GPT2Config n_embd/n_layer/n_head/n_inner/n_positions; LlamaConfig and its kin hidden_size,
# num_hidden_layers, num_attention_heads, num_key_value_heads, intermediate_size,
# max_position_embeddings; OPT ffn_dim; GPT-NeoX/Falcon variants; Mixtral num_local_experts).
HF_KEYS: dict[str, tuple[str, ...]] = {
    "vocab_size": ("vocab_size",),
    "d_model": ("hidden_size", "n_embd", "d_model"),
    "n_layers": ("num_hidden_layers", "n_layer", "num_layers"),
    "n_heads": ("num_attention_heads", "n_head"),
    "n_kv_heads": ("num_key_value_heads", "num_kv_heads", "n_head_kv", "multi_query"),
    "d_head": ("head_dim",),
    "d_ff": ("intermediate_size", "n_inner", "ffn_dim", "ffn_hidden_size"),
    "n_ctx": ("max_position_embeddings", "n_positions"),
    "n_experts": ("num_local_experts",),
    "top_k": ("num_experts_per_tok",),
    "sliding_window": ("sliding_window",),
    "token_types": ("type_vocab_size",),
    "qkv_bias": ("attention_bias", "bias"),
    "mlp_bias": ("mlp_bias",),
    "unembedding": ("tie_word_embeddings",),
}

_BARE = r"[A-Za-z0-9_-]+"
_KEY = rf'(?:{_BARE}|"(?:[^"\\]|\\.)*"|\'[^\']*\')'
_DOTTED = re.compile(rf"\s*({_KEY}(?:\s*\.\s*{_KEY})*)\s*=")
_HEADER = re.compile(rf"\s*\[\[?\s*({_KEY}(?:\s*\.\s*{_KEY})*)\s*\]\]?")
_PART = re.compile(_KEY)


def _parts(dotted: str) -> tuple[str, ...]:
    out = []
    for m in _PART.finditer(dotted):
        p = m.group(0)
        if p[0] == '"':
            p = p[1:-1].encode("utf-8", "backslashreplace").decode("unicode_escape", "replace")
        elif p[0] == "'":
            p = p[1:-1]
        out.append(p)
    return tuple(out)


def toml_key_lines(text: str) -> dict[tuple[str, ...], int]:
    """Every key path written in TOML ``text`` -> the line of its first definition.

    Tables (``[budgets]``) and dotted keys (``budgets.max_params = 1``) both give the path
    ("budgets", "max_params"). Text inside multi-line strings is skipped.
    """
    found: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    closing: str | None = None  # the delimiter of the multi-line string we are inside
    for number, line in enumerate(text.split("\n"), 1):  # TOML lines end in LF or CRLF only
        if closing is not None:
            if line.count(closing) % 2 == 1:
                closing = None
            continue
        header = _HEADER.match(line)
        if header and not _DOTTED.match(line):
            table = _parts(header.group(1))
            found.setdefault(table, number)
            continue
        m = _DOTTED.match(line)
        if not m:
            continue
        path = table + _parts(m.group(1))
        for i in range(len(table) + 1, len(path) + 1):
            found.setdefault(path[:i], number)
        rest = line[m.end():]
        for delim in ('"""', "'''"):
            if rest.count(delim) % 2 == 1:
                closing = delim
                break
    return found


def json_key_lines(text: str) -> dict[tuple[str, ...], int]:
    """Every object key path in JSON ``text`` -> the line it is written on (the last duplicate wins,
    as in Python's json). Arrays contribute their index as a string."""
    found: dict[tuple[str, ...], int] = {}
    stack: list[list] = []  # [kind, current key or index, expecting a key]
    line, i, n = 1, 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\n":
            line += 1
        elif ch == '"':
            j, start = i + 1, line
            while j < n and text[j] != '"':
                if text[j] == "\\":
                    j += 1
                elif text[j] == "\n":
                    line += 1
                j += 1
            raw = text[i + 1:j]
            if stack and stack[-1][0] == "{" and stack[-1][2]:
                try:
                    key = _json.loads('"' + raw + '"')
                except ValueError:
                    key = raw
                stack[-1][1] = key
                stack[-1][2] = False
                found[tuple(str(s[1]) for s in stack)] = start
            i = j
        elif ch in "{[":
            stack.append([ch, 0 if ch == "[" else None, ch == "{"])
        elif ch in "}]":
            if stack:
                stack.pop()
        elif ch == "," and stack:
            if stack[-1][0] == "{":
                stack[-1][2] = True
            else:
                stack[-1][1] += 1
        i += 1
    return found


def key_line(text: str, path: tuple[str, ...], *, json: bool = False) -> int | None:
    """The line of ``path`` in the text, or None."""
    lines = json_key_lines(text) if json else toml_key_lines(text)
    return lines.get(tuple(path))


def field_line(text: str, field: str, *, json: bool = False) -> tuple[str, int] | None:
    """Where a model file sets one of our fields: (the key as written, its line), or None.
    A config.json is searched under the Hugging Face spellings of the field."""
    lines = json_key_lines(text) if json else toml_key_lines(text)
    for key in (HF_KEYS.get(field, ()) + (field,) if json else (field,)):
        if (key,) in lines:
            return key, lines[(key,)]
    return None
