"""The `time` report drawn as text: a summary, one block's parts, MFU, the assumptions.

Returns lines or Rich renderables, never prints. ``explain_block`` writes out the bound arithmetic
of one block (FLOPs / peak against bytes / bandwidth, part by part) for `explain` to show.
"""

from __future__ import annotations

from fractions import Fraction

from ..core.time.report import TimeReport
from ..core.time.roofline import PassTime
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


def summary_rows(r: TimeReport) -> list[tuple[str, str, str, str]]:
    """(what, lower bound, estimate, bound by) rows."""
    p, d = r.prefill, r.decode
    rows = [
        (f"prefill (time to first token), batch {r.batch} × seq {r.seq:,}", seconds(float(p.bound_s)),
         seconds(float(p.estimate_s)), p.bound_by),
        (f"decode, per output token, context {r.context:,}", seconds(float(d.bound_s)),
         seconds(float(d.estimate_s)), d.bound_by),
        (f"decode tokens/s ({'all ' + plural(r.batch, 'sequence') if r.batch > 1 else 'one sequence'})", f"≤ {float(r.decode_tokens_per_s_bound):,.1f}",
         f"{float(r.decode_tokens_per_s):,.1f}", ""),
    ]
    if r.training is not None:
        tr = r.training
        rows.append((f"training step, {tr.step_tokens:,} tokens{' (recompute)' if r.recompute else ''}",
                     seconds(float(tr.step.bound_s)), seconds(float(tr.step.estimate_s)), tr.step.bound_by))
        if tr.steps is not None:
            rows.append((f"training on {tr.tokens:,} tokens ({float(tr.steps):,.6g} steps)",
                         seconds(float(tr.total_bound_s)), seconds(float(tr.total_estimate_s)), tr.step.bound_by))
    return rows


def _pass(r: TimeReport, which: str) -> PassTime:
    return r.prefill if which == "prefill" else r.decode


def block_rows(r: TimeReport, which: str) -> list[tuple[str, ...]]:
    """One block's parts (per instance × instances in the block) and the parts outside the blocks."""
    ridge = r.ridge
    rows = []
    for t in _pass(r, which).times:
        p = t.part
        n = p.per_block if p.in_block else 1
        share = Fraction(n, p.count) if p.in_block else Fraction(1)
        fl, by = int(p.flops * share), int(p.bytes * share)
        i = p.intensity
        rows.append((_short(p.name) + (f" ×{n}" if n > 1 else ""), human_flops(fl), human_bytes(by),
                     "" if i is None else f"{float(i):,.1f}", "below" if i is not None and i < ridge else "above",
                     t.bound_by, seconds(float(t.bound_s * share))))
    return rows


def mfu_rows(r: TimeReport) -> list[tuple[str, str, str, str]]:
    if r.mfu is None:
        return []
    return [(k, f"{float(v.flops_per_token):,.0f}", f"{100 * float(v.mfu):.2f}%", v.what)
            for k, v in r.mfu.conventions.items()]


def header(r: TimeReport) -> list[str]:
    s, e = r.setup, r.setup.efficiency
    return [f"{r.arch.name} on {s.hw.label}{' × ' + str(s.gpus) + ' (tensor parallel)' if s.gpus > 1 else ''}",
            f"LOWER BOUNDS under the roofline: no run can be faster than the 'bound' column. "
            f"Peak {s.compute} {'sparse' if s.sparse else 'dense'} {human_flops(s.peak)}/s, "
            f"bandwidth {rate(s.hw.memory_bytes_per_s)}, ridge {float(r.ridge):,.1f} FLOP/byte",
            f"estimate: peak × {float(e.compute):.4g}, bandwidth × {float(e.memory):.4g} ({e.source})"]


def blocks(r: TimeReport) -> list:
    """The `time` page as blocks of the one renderer (present/tables.py)."""
    from .tables import EXACT, TEXT, Column, Para, Table

    head = header(r)
    out: list = [Para(head[0], "bold")] + [Para(h, "dim") for h in head[1:]]
    t = Table("time", (Column("what", TEXT), Column("lower bound", EXACT), Column("estimate", EXACT),
                       Column("bound by", TEXT)), key="time")
    for row in summary_rows(r):
        t.add(*row)
    out.append(t)
    for which, title in (("prefill", "prefill: one block's parts and the rest"),
                         ("decode", "decode step: one block's parts and the rest")):
        bt = Table(title, (Column("part", TEXT), Column("FLOPs", EXACT), Column("bytes", EXACT),
                           Column("FLOP/byte", EXACT), Column("vs ridge", TEXT), Column("bound by", TEXT),
                           Column("lower bound", EXACT)), key=which)
        for row in block_rows(r, which):
            bt.add(*row)
        out.append(bt)
    rows = mfu_rows(r)
    if rows:
        m = r.mfu
        mt = Table(f"MFU at {float(m.tokens_per_s):,.6g} tokens/s ({m.mode}, {plural(m.gpus, 'GPU')})",
                   (Column("convention", TEXT), Column("FLOPs/token", EXACT), Column("MFU", EXACT), Column("what", TEXT)),
                   key="mfu")
        for row in rows:
            mt.add(*row)
        out.append(mt)
    notes = r.prefill.notes + r.decode.notes
    out += [Para("assumptions", "bold")] + [Para(f"- {x}") for x in r.assumptions + notes]
    return out


def explain_block(r: TimeReport, which: str = "decode") -> list[tuple[str, str, str]]:
    """The bound arithmetic of one block, part by part: (part, FLOPs ÷ peak, bytes ÷ bandwidth → bound).

    ``which`` is prefill or decode. For `explain` to show: each line is the roofline's
    max(F / P, B / W) with its numbers."""
    peak, bw, n = r.setup.peak, r.setup.hw.memory_bytes_per_s, r.setup.gpus
    lines = []
    for t in _pass(r, which).times:
        p = t.part
        if not p.in_block:
            continue
        k = p.per_block
        f, b = Fraction(p.flops * k, p.count), Fraction(p.bytes * k, p.count)
        cs, ms = f / (n * peak), b / (n * bw)
        lines.append((_short(p.name) + (f" ×{k}" if k > 1 else ""),
                      f"{int(f):,} FLOP ÷ {n * peak:,} FLOP/s = {seconds(float(cs))}",
                      f"{int(b):,} B ÷ {n * bw:,} B/s = {seconds(float(ms))} → "
                      f"{'compute' if cs >= ms else 'memory'}-bound, {seconds(float(max(cs, ms)))}"))
    return lines
