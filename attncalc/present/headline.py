"""The opening of `count`: the figures most people came for, the most important first (and all of
`count --summary`)."""

from __future__ import annotations

from ..core.report import Report
from .tables import APPROX, EXACT, TEXT, Block, Column, Para, Table
from .terminal import approx


def headline(r: Report) -> list[Block]:
    a, p, f, m = r.arch, r.params, r.flops, r.memory
    mac = f.convention["unit"] == "mac"
    unit = "MACs" if mac else "FLOPs"
    t = Table("", (Column("figure", TEXT), Column("exact", EXACT), Column("≈", APPROX, drop=1),
                   Column("how", TEXT, fold=True, drop=2)), key="headline")
    t.add("parameters", p.total, approx(p.total, "count"), "all, tied weights once", strong=True)
    t.add("one attention head", p.attention.per_head, approx(p.attention.per_head, "count"),
          "W_Q + W_K + W_V + W_O slice")
    share = 100 * p.attention.heads_total / p.total if p.total else 0
    t.add("all heads, all blocks", p.attention.heads_total, approx(p.attention.heads_total, "count"),
          f"{p.attention.heads_total // max(p.attention.heads_per_block, 1)} blocks; {share:.1f}% of the parameters")
    per_token = f.forward_per_token
    t.add(f"forward {unit} per token", per_token, approx(round(per_token), "macs" if mac else "flops"),
          f"at seq {f.workload.seq:,}, {f.convention['attention']} attention")
    if a.causal:
        kv = m.kv_cache
        t.add("KV cache bytes per token", kv.per_token, approx(kv.per_token, "bytes"), f"{kv.dtype}, all layers")
    t.add("weights", m.weights.total, approx(m.weights.total, "bytes"), f"bytes in {m.dtype}")
    title = f"{a.name}: {p.total:,} parameters ({approx(p.total, 'count')})"
    return [Para(title, "bold"), t]
