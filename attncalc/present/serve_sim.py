"""`attncalc serve-sim` as JSON (``serving.summary`` …) and as a page of the one table model: the
latency table, throughput, the binding limit, cost and energy, and the queue and KV occupancy over
time drawn as two strips of block characters (one column per slice of the run, its height the
slice's peak)."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from ..core.serve.cost import Cost
from ..core.serve.sim import SimResult, Stats
from .serve_document import engine_dict
from .tables import APPROX, EXACT, TEXT, Block, Column, Para, Table

BARS = " ▁▂▃▄▅▆▇█"
MS = Fraction(1, 10 ** 6)


def _ms(x: Fraction | int) -> float:
    return round(float(Fraction(x) * MS), 3)


def _stats(s: Stats | None) -> dict[str, Any] | None:
    if s is None:
        return None
    return {"mean": _ms(s.mean), "p50": _ms(s.p50), "p90": _ms(s.p90), "p99": _ms(s.p99), "count": s.count,
            "unit": "ms", "exact_ns": {"mean": str(s.mean), "p50": s.p50, "p90": s.p90, "p99": s.p99}}


def _f(x: Fraction | None, digits: int = 4) -> float | None:
    return None if x is None else round(float(x), digits)


def series_points(r: SimResult, points: int = 120) -> list[dict[str, Any]]:
    """The (time, waiting, running, KV occupancy) series, at most ``points`` samples (each the peak of
    its slice of the run)."""
    out = []
    for t, w, run, kv in _binned(r, points):
        out.append({"t_s": round(t / 1e9, 4), "waiting": w, "running": run,
                    "kv_occupancy": round(kv / r.kv_blocks, 4) if r.kv_blocks else 0})
    return out


def _binned(r: SimResult, bins: int) -> list[tuple[int, int, int, int]]:
    s = r.series
    if not s:
        return []
    t0, t1 = s[0][0], s[-1][0]
    span = max(t1 - t0, 1)
    out: list[list[int]] = [[0, 0, 0, 0] for _ in range(bins)]
    seen = [False] * bins
    for t, w, run, kv in s:
        i = min(bins - 1, (t - t0) * bins // span)
        o = out[i]
        o[0] = t
        o[1], o[2], o[3] = max(o[1], w), max(o[2], run), max(o[3], kv)
        seen[i] = True
    last = [t0, 0, 0, 0]
    for i in range(bins):  # carry a state through the slices no step ended in
        if seen[i]:
            last = out[i]
        else:
            out[i] = [t0 + span * (i + 1) // bins, last[1], last[2], last[3]]
    return [tuple(o) for o in out]


def sim_document(r: SimResult, cost: Cost | None) -> dict[str, Any]:
    s = r.setup
    summary: dict[str, Any] = {
        "requests": r.requests, "completed": r.completed, "duration_s": _f(Fraction(r.makespan_ns, 10 ** 9)),
        "throughput": {"requests_per_s": _f(r.throughput_requests), "output_tokens_per_s": _f(r.throughput_output, 2),
                       "total_tokens_per_s": _f(r.throughput_total, 2)},
        "input_tokens": r.input_tokens, "output_tokens": r.output_tokens,
        "ttft": _stats(r.ttft), "tpot": _stats(r.tpot), "e2e": _stats(r.e2e),
        "queue": {"max_waiting": max((x[1] for x in r.series), default=0),
                  "max_running": max((x[2] for x in r.series), default=0)},
        "kv": {"blocks": r.kv_blocks, "max_occupancy": _f(Fraction(max((x[3] for x in r.series), default=0),
                                                                    r.kv_blocks) if r.kv_blocks else Fraction(0))},
        "binding_limit": r.binding_limit, "binding_steps": dict(r.binding), "preemptions": r.preemptions,
        "steps": r.steps, "gpus": r.gpus,
        "busy_share": _f(Fraction(r.busy_ns, r.makespan_ns * max(1, r.gpus // (s.capacity.setup.tp * s.capacity.setup.pp)))
                         if r.makespan_ns else Fraction(0)),
    }
    if r.spec_expected_tokens is not None:
        summary["speculative"] = {"draft_tokens": s.draft_tokens, "acceptance": str(s.acceptance),
                                  "draft_cost": str(s.draft_cost),
                                  "expected_tokens_per_step": {"exact": str(r.spec_expected_tokens),
                                                               "approx": _f(r.spec_expected_tokens)},
                                  "expected_speedup": {"exact": str(r.spec_speedup), "approx": _f(r.spec_speedup)},
                                  "formula": "Leviathan et al. 2023 eq. 1 and Theorem 3.8"}
    if s.prefill_instances:
        summary["disaggregation"] = {"prefill_instances": s.prefill_instances, "decode_instances": s.decode_instances,
                                     "kv_link_bytes_per_s": s.kv_link_bytes_per_s,
                                     "kv_link_latency_ns": s.kv_link_latency_ns, "kv_transfer": _stats(r.transfer)}
    if cost is not None:
        summary["cost"] = {"gpus": cost.gpus, "price_per_gpu_hour": None if cost.price_per_gpu_hour is None else
                           str(cost.price_per_gpu_hour), "watts_per_gpu": None if cost.watts is None else str(cost.watts),
                           "watts_source": cost.watts_source,
                           "dollars_per_million_output_tokens": _f(cost.dollars_per_m_output),
                           "dollars_per_million_tokens": _f(cost.dollars_per_m_total),
                           "joules_per_output_token": _f(cost.joules_per_output_token),
                           "joules_per_token": _f(cost.joules_per_token)}
    return {"serving": {"summary": summary, "workload": r.workload.as_dict(),
                        "step_costs": s.costs.source, "instances": s.instances, "schedule": s.policy,
                        "step_overhead_ns": s.costs.overhead_ns, "request_overhead_ns": s.request_overhead_ns,
                        "engine": engine_dict(s.capacity), "series": series_points(r)}}


def strip(values: list[int], top: int) -> str:
    if top <= 0:
        return BARS[0] * len(values)
    return "".join(BARS[min(8, -(-v * 8 // top))] for v in values)


def sim_blocks(r: SimResult, cost: Cost | None, title: str, width: int = 60) -> list[Block]:
    blocks: list[Block] = [Para(title, "bold")]
    lat = Table("Latency (ms)", (Column("metric", TEXT), Column("mean", APPROX), Column("p50", APPROX),
                                 Column("p90", APPROX), Column("p99", APPROX)), key="latency")
    for name, st in (("TTFT", r.ttft), ("time per output token", r.tpot), ("end-to-end", r.e2e)):
        if st is not None:
            lat.add(name, f"{_ms(st.mean):,.2f}", f"{_ms(st.p50):,.2f}", f"{_ms(st.p90):,.2f}", f"{_ms(st.p99):,.2f}")
    blocks.append(lat)
    thr = Table("Throughput and limits", (Column("item", TEXT), Column("value", EXACT), Column("how", TEXT, fold=True)),
                key="throughput")
    thr.add("requests", r.completed, f"of {r.requests}; {r.steps:,} engine steps")
    thr.add("duration (ms)", round(r.makespan_ns / 1e6), "first arrival to last token")
    thr.add("output tokens/s", round(float(r.throughput_output)), f"{r.output_tokens:,} output tokens")
    thr.add("total tokens/s", round(float(r.throughput_total)), f"{r.input_tokens:,} prompt tokens")
    thr.add("binding limit", None, f"{r.binding_limit} ({', '.join(f'{k}: {v} steps' for k, v in r.binding.items()) or 'never'})")
    thr.add("preemptions", r.preemptions, "requests evicted for KV blocks and recomputed")
    if r.spec_expected_tokens is not None:
        thr.add("speculative", None, f"E[tokens per step] = {float(r.spec_expected_tokens):.4f}, expected speed-up "
                                     f"{float(r.spec_speedup):.4f} (Leviathan et al. 2023)")
    if r.transfer is not None:
        thr.add("KV transfer (ms)", None, f"mean {_ms(r.transfer.mean):.3f}, p99 {_ms(r.transfer.p99):.3f}")
    if cost is not None:
        if cost.dollars_per_m_output is not None:
            thr.add("$ per M output tokens", None, f"{float(cost.dollars_per_m_output):.4f} at "
                                                   f"{float(cost.price_per_gpu_hour):g} $/GPU-hour × {cost.gpus} GPUs")
        if cost.joules_per_output_token is not None:
            thr.add("J per output token", None, f"{float(cost.joules_per_output_token):.4f} at {float(cost.watts):g} W "
                                               f"per GPU ({cost.watts_source}) × {cost.gpus} GPUs")
    blocks.append(thr)
    bins = _binned(r, width)
    if bins:
        q = [b[1] for b in bins]
        kv = [b[3] for b in bins]
        qmax, kvmax = max(q), max(kv)
        blocks.append(Para("Over time (one column per 1/%d of the run, its peak):" % width, "bold"))
        blocks.append(Para(f"waiting  {strip(q, qmax)}  max {qmax}"))
        blocks.append(Para(f"KV used  {strip(kv, r.kv_blocks)}  max {100 * kvmax / max(r.kv_blocks, 1):.1f}% of "
                           f"{r.kv_blocks:,} blocks"))
        blocks.append(Para(f"0 s{' ' * (width - 4)}{r.makespan_ns / 1e9:.1f} s", "dim"))
    blocks.append(Para(f"step costs: {r.setup.costs.source}", "dim"))
    return blocks
