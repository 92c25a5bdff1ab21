"""`attncalc sweep` as JSON (``candidates``, ``results``, ``frontier``, ``rejected`` …) and as a page
of the one table model: the best layouts, the frontier of step time against memory per GPU (a
table and a plain-text chart), why every other (tp, pp, cp) lost, and what was refused."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from ..core.sweep.search import Result, Sweep
from ..core.sweep.timing import DIMENSIONS, schedule_of
from ..core.sweep.verdict import GIB, binding, regions, size_text
from .tables import APPROX, EXACT, TEXT, Block, Column, Para, Table

REGION_ROWS = 12  # units listed in the table (all of them in JSON)


@dataclass(frozen=True)
class Context:
    model: str
    hardware: str
    price_per_gpu_hour: Fraction | None = None
    time_model: str = ""
    assumptions: tuple[str, ...] = ()


def _f(x: Fraction | int | None, digits: int = 6) -> float | None:
    return None if x is None else float(f"{float(x):.{digits}g}")


def dollars_per_m_tokens(r: Result, sw: Sweep, price: Fraction) -> Fraction:
    """Price x GPUs x step time / tokens per step, per million tokens."""
    sp = sw.setup.space
    return price * sp.gpus * r.step_s / 3600 / (sp.global_batch * sp.seq) * 10 ** 6


def result_dict(r: Result, sw: Sweep, ctx: Context, rank: int | None = None) -> dict[str, Any]:
    L, t = r.layout, r.timed
    out: dict[str, Any] = {} if rank is None else {"rank": rank}
    out |= {"tp": L.tp, "pp": L.pp, "dp": L.dp, "ep": L.ep, "cp": L.cp, "micro_batch": L.micro_batch,
            "virtual_stages": L.virtual_stages, "schedule": schedule_of(L) if L.pp > 1 else "none",
            "recompute": L.recompute, "sequence_parallel": L.sequence_parallel, "zero": L.zero,
            "step_s": _f(r.step_s), "tokens_per_s": _f(t.tokens_per_s), "memory_per_gpu": r.memory,
            "memory_gib": round(r.memory / GIB, 3), "mfu": _f(t.mfu, 4),
            "compute_s": _f(t.compute_s), "bubble_s": _f(t.bubble_s),
            "communication_s": {d: _f(t.exposed.get(d, 0)) for d in DIMENSIONS},
            "binding": binding(r, sw.setup.budget)}
    if ctx.price_per_gpu_hour is not None:
        out["dollars_per_million_tokens"] = _f(dollars_per_m_tokens(r, sw, ctx.price_per_gpu_hour), 5)
    return out


def sweep_document(sw: Sweep, ctx: Context) -> dict[str, Any]:
    s, t = sw.setup, sw.tally
    sp, ms = s.space, s.memory
    regs = regions(sw)
    return {
        "model": ctx.model, "hardware": ctx.hardware, "gpus": sp.gpus,
        "workload": {"global_batch": sp.global_batch, "seq": sp.seq, "tokens_per_step": sp.global_batch * sp.seq},
        "settings": {"memory_per_gpu_budget": s.budget, "optimizer": ms.optimizer, "flash": ms.flash,
                     "dropout": ms.dropout, "capacity_factor": str(ms.capacity_factor), "allowance": ms.allowance,
                     "max_tp": s.max_tp, "recompute": list(sp.recompute), "zero": list(sp.zero),
                     "sequence_parallel": list(sp.sequence_parallel), "max_virtual_stages": sp.max_virtual_stages,
                     "price_per_gpu_hour": None if ctx.price_per_gpu_hour is None else str(ctx.price_per_gpu_hour)},
        "time_model": ctx.time_model, "assumptions": list(ctx.assumptions),
        "candidates": t.candidates, "fitting": t.fitting, "timed": t.timed,
        "results": [result_dict(r, sw, ctx, i + 1) for i, r in enumerate(t.best)],
        "frontier": [result_dict(r, sw, ctx) for r in t.frontier],
        "regions": [{"tp": g.tp, "pp": g.pp, "cp": g.cp,
                     "best": None if g.best is None else result_dict(g.best, sw, ctx),
                     "slower": None if g.slower is None else _f(g.slower, 4), "reason": g.reason,
                     "miss_bytes": g.miss} for g in regs],
        "rejected": dict(sorted(t.rejected.items())),
        "closest_miss_bytes": t.closest_miss,
        "excluded": dict(sorted(sw.excluded.items())),
    }


# --- the page ---------------------------------------------------------------------------------------


def _layout_cells(r: Result) -> tuple:
    L = r.layout
    return (L.tp, L.pp, L.dp, L.ep, L.cp, L.micro_batch, L.virtual_stages, L.recompute,
            "on" if L.sequence_parallel else "off", L.zero)


LAYOUT_COLUMNS = (Column("tp", EXACT), Column("pp", EXACT), Column("dp", EXACT), Column("ep", EXACT, drop=2),
                  Column("cp", EXACT), Column("mb", EXACT), Column("v", EXACT, drop=3), Column("recompute", TEXT),
                  Column("sp", TEXT, drop=3), Column("zero", EXACT))


def _results_table(title: str, rs: list[Result], sw: Sweep, ctx: Context, key: str, note: str = "") -> Table:
    cols = (Column("#", EXACT), Column("step s", APPROX), Column("tokens/s", APPROX, drop=4),
            Column("GiB/GPU", APPROX), Column("MFU", APPROX, drop=5)) + LAYOUT_COLUMNS
    if ctx.price_per_gpu_hour is not None:
        cols += (Column("$/M tok", APPROX, drop=4),)
    cols += (Column("binding", TEXT, fold=True, drop=6),)
    t = Table(title, cols, key=key, note=note)
    for i, r in enumerate(rs):
        cells = (i + 1, f"{float(r.step_s):,.3f}", f"{float(r.timed.tokens_per_s):,.0f}", f"{r.memory / GIB:,.1f}",
                 f"{100 * float(r.timed.mfu):.1f}%") + _layout_cells(r)
        if ctx.price_per_gpu_hour is not None:
            cells += (f"{float(dollars_per_m_tokens(r, sw, ctx.price_per_gpu_hour)):,.3f}",)
        t.add(*cells, binding(r, sw.setup.budget), strong=i == 0 and key == "best")
    return t


def chart(frontier: list[Result], width: int, height: int = 10) -> list[str]:
    """The frontier as plain text: memory per GPU across (GiB), step time down (s); each point the
    number of its frontier row. ASCII only, at most ``width`` columns."""
    if not frontier:
        return []
    xs = [r.memory / GIB for r in frontier]
    ys = [float(r.step_s) for r in frontier]
    label = max(4, max(len(f"{y:,.3f}") for y in ys) + 1)
    cols = max(10, min(width, 120) - label - 1)
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    grid = [[" "] * cols for _ in range(height)]
    for i, (x, y) in enumerate(zip(xs, ys)):
        c = 0 if x1 == x0 else round((x - x0) / (x1 - x0) * (cols - 1))
        row = 0 if y1 == y0 else round((y - y0) / (y1 - y0) * (height - 1))
        mark = str(i + 1) if i < 9 else "*"
        grid[row][c] = mark if grid[row][c] == " " else "*"
    lines = []
    for row in range(height):  # every line starts with its label: a page drops leading spaces
        y = y0 + (y1 - y0) * row / max(1, height - 1)
        lines.append(f"{y:<{label},.3f}|" + "".join(grid[row]).rstrip())
    lines.append(f"{'s':<{label}}+" + "-" * cols)
    left, right = f"{x0:,.1f}", f"{x1:,.1f}"
    lines.append(f"{'GiB':<{label}} " + left + " " * max(1, cols - len(left) - len(right)) + right)
    return lines


def sweep_blocks(sw: Sweep, ctx: Context, width: int) -> list[Block]:
    s, t = sw.setup, sw.tally
    sp = s.space
    blocks: list[Block] = [Para(
        f"{ctx.model} on {sp.gpus:,} x {ctx.hardware}: {sp.global_batch:,} sequences of {sp.seq:,} tokens per step; "
        f"{t.candidates:,} layouts weighed, {t.fitting:,} fit in {s.budget / GIB:,.1f} GiB per GPU, {t.timed:,} timed",
        "bold")]
    if not t.best:
        miss = f": the closest misses by {size_text(t.closest_miss)}" if t.closest_miss is not None else ""
        blocks.append(Para(f"No layout fits{miss}.", "bold"))
    else:
        blocks.append(_results_table("Best layouts (fastest step first)", t.best, sw, ctx, "best",
                                     "mb micro-batch, v virtual stages (interleaved 1F1B), sp sequence parallelism; "
                                     "binding: what limits the layout"))
        blocks.append(_results_table("Frontier: step time against memory per GPU", t.frontier, sw, ctx, "frontier",
                                     "no other layout is both faster and smaller"
                                     + ("; cost is proportional to step time at a fixed GPU count"
                                        if ctx.price_per_gpu_hour is not None else "")))
        if len(t.frontier) > 1:
            blocks.append(Para("Frontier chart: step time (s) down, memory per GPU (GiB) across, points by row number", "bold"))
            blocks += [Para(line) for line in chart(t.frontier, width)]
    regs = regions(sw)
    rt = Table("Why the others lose: best layout of each (tp, pp, cp)",
               (Column("tp", EXACT), Column("pp", EXACT), Column("cp", EXACT), Column("step s", APPROX),
                Column("slower", APPROX), Column("reason", TEXT, fold=True)), key="regions",
               note=(f"{len(regs) - REGION_ROWS} more in --format json; " if len(regs) > REGION_ROWS else "")
               + "reason: the piece of its step that grew most against the best layout's, as a share of its step")
    for g in regs[:REGION_ROWS]:
        rt.add(g.tp, g.pp, g.cp, "" if g.best is None else f"{float(g.best.step_s):,.3f}",
               "" if g.slower is None else f"+{100 * float(g.slower):.1f}%", g.reason)
    blocks.append(rt)
    rj = Table("Refused", (Column("reason", TEXT, fold=True), Column("layouts", EXACT)), key="rejected",
               note="degree choices the divisibility rules left out before any layout was built: "
                    + ("; ".join(f"{k} ({v})" for k, v in sorted(sw.excluded.items())) or "none"))
    for k, v in sorted(t.rejected.items()):
        text = k
        if k == "memory" and t.closest_miss is not None:
            text = f"memory: over {s.budget / GIB:,.1f} GiB per GPU (the closest by {size_text(t.closest_miss)})"
        rj.add(text, v)
    blocks.append(rj)
    for a in ctx.assumptions:
        blocks.append(Para(a, "dim"))
    return blocks


# --- serving ------------------------------------------------------------------------------------------


def serve_result_dict(r, price: Fraction | None, gpus: int) -> dict[str, Any]:
    L = r.layout
    out = {"tp": L.tp, "pp": 1, "ep": 1, "instances": L.instances, "batch": L.batch, "weights": L.weights,
           "kv_dtype": L.kv_dtype, "tokens_per_s": _f(r.tokens_per_s), "time_per_token_s": _f(r.decode_s),
           "prefill_s": _f(r.prefill_s), "memory_per_gpu": r.memory, "memory_gib": round(r.memory / GIB, 3),
           "bound_by": r.bound_by}
    if price is not None:
        out["dollars_per_million_tokens"] = _f(price * gpus / 3600 / r.tokens_per_s * 10 ** 6, 5)
    return out


def serve_document(sw, model: str, hardware: str, price: Fraction | None) -> dict[str, Any]:
    sp = sw.space
    return {"model": model, "hardware": hardware, "gpus": sp.gpus, "mode": "serve",
            "workload": {"context": sp.context, "max_batch": sp.max_batch},
            "settings": {"memory_per_gpu_budget": sw.budget, "weights": list(sp.weights), "kv_dtype": list(sp.kv_dtypes),
                         "max_tp": sp.max_tp, "allowance": sp.allowance,
                         "price_per_gpu_hour": None if price is None else str(price)},
            "time_model": "core.time.roofline decode_time / prefill_time (the `time` estimate), tensor parallel only",
            "candidates": sw.candidates, "fitting": sw.fitting,
            "results": [{"rank": i + 1, **serve_result_dict(r, price, sp.gpus)} for i, r in enumerate(sw.results)],
            "frontier": [serve_result_dict(r, price, sp.gpus) for r in sw.frontier],
            "rejected": dict(sorted(sw.rejected.items())), "closest_miss_bytes": sw.closest_miss}


def serve_blocks(sw, model: str, hardware: str, price: Fraction | None) -> list[Block]:
    sp = sw.space
    blocks: list[Block] = [Para(
        f"{model} serving on {sp.gpus:,} x {hardware}: {sp.context:,}-token contexts; {sw.candidates:,} layouts weighed, "
        f"{sw.fitting:,} fit in {sw.budget / GIB:,.1f} GiB per GPU", "bold")]
    cols = (Column("#", EXACT), Column("tokens/s", APPROX), Column("ms/token", APPROX), Column("prefill s", APPROX, drop=3),
            Column("GiB/GPU", APPROX), Column("tp", EXACT), Column("inst", EXACT, drop=2), Column("batch", EXACT),
            Column("weights", TEXT), Column("KV", TEXT, drop=1))
    if price is not None:
        cols += (Column("$/M tok", APPROX, drop=2),)
    cols += (Column("bound by", TEXT, drop=4),)
    for title, rows, key in (("Best layouts (highest decode throughput first)", sw.results, "best"),
                             ("Frontier: time per token against throughput", sw.frontier, "frontier")):
        t = Table(title, cols, key=key)
        for i, r in enumerate(rows):
            L = r.layout
            cells = (i + 1, f"{float(r.tokens_per_s):,.0f}", f"{1000 * float(r.decode_s):,.2f}", f"{float(r.prefill_s):,.3f}",
                     f"{r.memory / GIB:,.1f}", L.tp, L.instances, L.batch, L.weights, L.kv_dtype)
            if price is not None:
                cells += (f"{float(price * sp.gpus / 3600 / r.tokens_per_s * 10 ** 6):,.3f}",)
            t.add(*cells, r.bound_by, strong=i == 0 and key == "best")
        blocks.append(t)
    if not sw.results:
        miss = f": the closest misses by {size_text(sw.closest_miss)}" if sw.closest_miss is not None else ""
        blocks.append(Para(f"No layout fits{miss}.", "bold"))
    rj = Table("Refused", (Column("reason", TEXT, fold=True), Column("layouts", EXACT)), key="rejected")
    for k, v in sorted(sw.rejected.items()):
        rj.add(k, v)
    blocks.append(rj)
    blocks.append(Para("memory per GPU as `attncalc fit --serve` computes it (weights in their format, KV cache at the "
                       "full context, prefill peak); time: `attncalc time`'s roofline estimate of one decode step and "
                       "one request's prefill; pipeline parallelism 1, experts not split (the roofline times tensor "
                       "parallelism only); N / tp data-parallel instances", "dim"))
    return blocks
