"""The `time` document drawn as text: a summary, one block's parts, MFU, the assumptions.

Returns lines or Rich renderables, never prints. ``explain_block`` writes out the bound arithmetic
of one block (FLOPs / peak against bytes / bandwidth, part by part) for `explain` to show.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from ..spec.arch import Architecture
from ..units import human_bytes, human_flops, plural


def seconds(s: float | None) -> str:
    if s is None:
        return ""
    if s >= 100:
        return f"{s:,.0f} s"
    if s >= 1:
        return f"{s:.3g} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3g} ms"
    return f"{s * 1e6:.3g} µs"


def rate(b: int | None) -> str:
    """Bytes per second in decimal units, as datasheets print them (3.35 TB/s)."""
    if not b:
        return ""
    for scale, unit in ((10**12, "TB/s"), (10**9, "GB/s"), (10**6, "MB/s")):
        if b >= scale:
            return f"{b / scale:.3g} {unit}"
    return f"{b} B/s"


def _short(name: str) -> str:
    """blocks.block.attention.kv_groups.group.heads.head.query -> attention.query"""
    parts = [p for p in name.split(".") if p not in ("blocks", "block", "kv_groups", "group", "heads", "head")]
    return ".".join(parts)


def summary_rows(doc: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(what, lower bound, estimate, bound by) rows."""
    t = doc["time"]
    w = t["workload"]
    p, d = t["prefill"], t["decode"]
    rows = [
        (f"prefill (time to first token), batch {w['batch']} × seq {w['seq']:,}", seconds(p["bound_s"]),
         seconds(p["estimate_s"]), p["bound_by"]),
        (f"decode, per output token, context {w['context']:,}", seconds(d["bound_s_per_token"]),
         seconds(d["estimate_s_per_token"]), d["bound_by"]),
        (f"decode tokens/s ({'all ' + plural(w['batch'], 'sequence') if w['batch'] > 1 else 'one sequence'})", f"≤ {d['tokens_per_s_bound']:,.1f}",
         f"{d['tokens_per_s']:,.1f}", ""),
    ]
    if "training" in t:
        tr = t["training"]
        rows.append((f"training step, {tr['step_tokens']:,} tokens{' (recompute)' if w['recompute'] else ''}",
                     seconds(tr["bound_s"]), seconds(tr["estimate_s"]), tr["bound_by"]))
        if "steps" in tr:
            rows.append((f"training on {tr['tokens']:,} tokens ({tr['steps']:,.6g} steps)",
                         seconds(tr["total_bound_s"]), seconds(tr["total_estimate_s"]), tr["bound_by"]))
    return rows


def block_rows(doc: dict[str, Any], which: str) -> list[tuple[str, ...]]:
    """One block's parts (per instance × instances in the block) and the parts outside the blocks."""
    ridge = doc["time"]["ridge_flops_per_byte"]
    rows = []
    for p in doc["time"]["parts"]:
        if p["pass"] != which:
            continue
        in_block = "blocks" in p["name"].split(".")[:-1]
        n = p["per_block"] if in_block else 1
        share = Fraction(n, p["count"]) if in_block else Fraction(1)
        fl, by = int(p["flops"] * share), int(p["bytes"] * share)
        i = p["intensity"]
        rows.append((_short(p["name"]) + (f" ×{n}" if n > 1 else ""), human_flops(fl), human_bytes(by),
                     "" if i is None else f"{i:,.1f}", "below" if i is not None and i < ridge else "above",
                     p["bound_by"], seconds(p["bound_s"] * float(share))))
    return rows


def mfu_rows(doc: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    det = doc.get("mfu_detail")
    if not det:
        return []
    return [(k, f"{v['flops_per_token']:,.0f}", f"{100 * v['mfu']:.2f}%", v["what"])
            for k, v in det["conventions"].items()]


def header(doc: dict[str, Any], a: Architecture) -> list[str]:
    t = doc["time"]
    hw = doc["hardware"]
    e = t["efficiency"]
    return [f"{a.name} on {hw['label']}{' × ' + str(t['gpus']) + ' (tensor parallel)' if t['gpus'] > 1 else ''}",
            f"LOWER BOUNDS under the roofline: no run can be faster than the 'bound' column. "
            f"Peak {t['compute_dtype']} {'sparse' if t['sparse'] else 'dense'} {human_flops(t['peak_flops_per_s'])}/s, "
            f"bandwidth {rate(t['memory_bytes_per_s'])}, ridge {t['ridge_flops_per_byte']:,.1f} FLOP/byte",
            f"estimate: peak × {e['compute']['approx']:.4g}, bandwidth × {e['memory']['approx']:.4g} ({e['source']})"]


def blocks(doc: dict[str, Any], a: Architecture) -> list:
    """The `time` page as blocks of the one renderer (present/tables.py)."""
    from .tables import EXACT, TEXT, Column, Para, Table

    head = header(doc, a)
    out: list = [Para(head[0], "bold")] + [Para(h, "dim") for h in head[1:]]
    t = Table("time", (Column("what", TEXT), Column("lower bound", EXACT), Column("estimate", EXACT),
                       Column("bound by", TEXT)), key="time")
    for r in summary_rows(doc):
        t.add(*r)
    out.append(t)
    for which, title in (("prefill", "prefill: one block's parts and the rest"),
                         ("decode", "decode step: one block's parts and the rest")):
        bt = Table(title, (Column("part", TEXT), Column("FLOPs", EXACT), Column("bytes", EXACT),
                           Column("FLOP/byte", EXACT), Column("vs ridge", TEXT), Column("bound by", TEXT),
                           Column("lower bound", EXACT)), key=which)
        for r in block_rows(doc, which):
            bt.add(*r)
        out.append(bt)
    rows = mfu_rows(doc)
    if rows:
        det = doc["mfu_detail"]
        mt = Table(f"MFU at {det['tokens_per_s']:,.6g} tokens/s ({det['mode']}, {plural(det['gpus'], 'GPU')})",
                   (Column("convention", TEXT), Column("FLOPs/token", EXACT), Column("MFU", EXACT), Column("what", TEXT)),
                   key="mfu")
        for r in rows:
            mt.add(*r)
        out.append(mt)
    notes = doc["time"]["prefill"]["notes"] + doc["time"]["decode"]["notes"]
    out += [Para("assumptions", "bold")] + [Para(f"- {x}") for x in doc["time"]["assumptions"] + notes]
    return out


def markdown(doc: dict[str, Any], a: Architecture) -> str:
    from ..escape import markdown as md

    def row(cells: tuple[str, ...]) -> str:
        return f"| {' | '.join(md(c) for c in cells)} |"

    head = [md(h) for h in header(doc, a)]  # the model's name and the hardware's label are user text
    out = [f"### {head[0]}", ""] + [f"{h}  " for h in head[1:]]
    out += ["", "| what | lower bound | estimate | bound by |", "|---|---:|---:|---|"]
    out += [row(r) for r in summary_rows(doc)]
    for which in ("prefill", "decode"):
        out += ["", f"#### {which}: one block's parts and the rest", "",
                "| part | FLOPs | bytes | FLOP/byte | vs ridge | bound by | lower bound |",
                "|---|---:|---:|---:|---|---|---:|"]
        out += [row(r) for r in block_rows(doc, which)]
    rows = mfu_rows(doc)
    if rows:
        out += ["", "#### MFU", "", "| convention | FLOPs/token | MFU | what |", "|---|---:|---:|---|"]
        out += [row(r) for r in rows]
    out += ["", "#### assumptions", ""] + [f"- {md(s)}" for s in doc["time"]["assumptions"]]
    return "\n".join(out) + "\n"


def explain_block(doc: dict[str, Any], which: str = "decode") -> list[tuple[str, str, str]]:
    """The bound arithmetic of one block, part by part: (part, FLOPs ÷ peak, bytes ÷ bandwidth → bound).

    ``doc`` is ``core.roofline.time_document``'s result; ``which`` is prefill or decode. For
    `explain` to show: each line is the roofline's max(F / P, B / W) with its numbers."""
    t = doc["time"]
    peak, bw, n = t["peak_flops_per_s"], t["memory_bytes_per_s"], t["gpus"]
    lines = []
    for p in t["parts"]:
        if p["pass"] != which or "blocks" not in p["name"].split(".")[:-1]:
            continue
        k = p["per_block"]
        f, b = Fraction(p["flops"] * k, p["count"]), Fraction(p["bytes"] * k, p["count"])
        cs, ms = f / (n * peak), b / (n * bw)
        lines.append((_short(p["name"]) + (f" ×{k}" if k > 1 else ""),
                      f"{int(f):,} FLOP ÷ {n * peak:,} FLOP/s = {seconds(float(cs))}",
                      f"{int(b):,} B ÷ {n * bw:,} B/s = {seconds(float(ms))} → "
                      f"{'compute' if cs >= ms else 'memory'}-bound, {seconds(float(max(cs, ms)))}"))
    return lines
