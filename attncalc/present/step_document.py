"""`attncalc time MODEL --tp … --pp … --dp …`: the training step of a layout (core/time/step.py) as
the JSON document's ``time.training`` and as tables (floats only here, for display; the exact step
time beside it)."""

from __future__ import annotations

from dataclasses import asdict
from fractions import Fraction
from typing import Any

from ..core.time.step import DIMENSIONS, Prepared, StepTime, TrainLayout
from .tables import APPROX, SHARE, TEXT, Column, Para, Table

NAMES = {"tp": "tensor parallel", "cp": "context parallel", "ep": "expert parallel", "pp": "pipeline sends",
         "dp": "data parallel"}


def run_cost(st: StepTime, p: Prepared, tokens: int, price: Fraction | None) -> dict[str, Any]:
    """A run of ``tokens`` tokens at this step: GPU hours, GPU energy at the board's TDP, cost."""
    seconds = Fraction(tokens) / st.tokens_per_s
    gpu_hours = seconds * st.gpus / 3600
    out: dict[str, Any] = {"tokens": tokens, "steps": float(Fraction(tokens) / (st.tokens_per_s * st.step_s)),
                           "wall_s": float(seconds), "gpu_hours": float(gpu_hours)}
    if p.hw.power_w:
        out["energy_kwh"] = float(gpu_hours * p.hw.power_w / 1000)
        out["power_w_per_gpu"] = p.hw.power_w
    if price is not None:
        out["price_per_gpu_hour"] = float(price)
        out["cost"] = float(gpu_hours * price)
    return out


def step_document(st: StepTime, p: Prepared, layout: TrainLayout, run: dict[str, Any] | None = None) -> dict[str, Any]:
    f = float
    doc: dict[str, Any] = {
        "step_s": f(st.step_s), "step_s_exact": f"{st.step_s.numerator}/{st.step_s.denominator}",
        "tokens_per_s": f(st.tokens_per_s), "tflops_per_gpu": f(st.tflops_per_gpu), "mfu": f(st.mfu),
        "gpus": st.gpus, "micro_batches": st.micro_batches, "tokens_per_step": layout.batch * p.seq,
        "critical_path": {"compute_s": f(st.compute_s), "bubble_s": f(st.bubble_s),
                          **{f"exposed_{d}_s": f(st.exposed[d]) for d in DIMENSIONS}},
        "traffic_s": {d: f(st.traffic[d]) for d in DIMENSIONS},
        "per_micro_batch": {k: f(v) for k, v in st.breakdown.items()},
        "bound_s": f(st.bound_s), "model_flops_per_step": st.model_flops,
        "layout": {**asdict(layout), "global_batch": layout.batch},
        "conventions": {
            "seq": p.seq, "dtype": p.dtype, "overlap": p.overlap, "engine": p.engine.name,
            "attention_kernel": p.attention,
            "matmul_efficiency": f(p.efficiency), "matmul_efficiency_source": p.efficiency_source,
            "attention_efficiency": {"forward": f(p.attention_efficiency), "backward": f(p.attention_backward),
                                     "source": p.attention_source},
            "mfu": "exact causal count, 3 x the forward, logits included (time --mfu 'exact_causal'), over GPUs x "
                   f"the dense {p.dtype} peak",
            "schedule_bubble": st.schedule_method,
        },
    }
    if run is not None:
        doc["run"] = run
    return doc


def _s(x: Fraction) -> str:
    v = float(x)
    return f"{v * 1000:,.1f} ms" if v < 1 else f"{v:,.2f} s"  # 0 shows as 0.0 ms


def step_blocks(st: StepTime, p: Prepared, layout: TrainLayout, run: dict[str, Any] | None = None) -> list:
    L = layout
    split = f"tp {L.tp} · pp {L.pp} · dp {L.dp}" + (f" · ep {L.ep}" if L.ep > 1 else "") + \
        (f" · cp {L.cp}" if L.cp > 1 else "")
    head = Table(f"training step: {p.arch.name} on {st.gpus:,} × {p.hw.name} ({split})",
                 (Column("figure", TEXT), Column("value", TEXT)), key="training")
    head.add("step time", _s(st.step_s), strong=True)
    head.add("tokens/s", f"{float(st.tokens_per_s):,.0f}")
    head.add("TFLOP/s per GPU", f"{float(st.tflops_per_gpu):,.1f}")
    head.add("MFU", f"{100 * float(st.mfu):.1f}%")
    head.add("lower bound (peak)", _s(st.bound_s))
    path = Table("critical path per step (all traffic: its transfers' time, overlapped or not)",
                 (Column("part", TEXT), Column("time", APPROX), Column("share", SHARE),
                  Column("all traffic", APPROX, drop=1)), key="critical_path")
    path.add("compute", _s(st.compute_s), st.compute_s / st.step_s, None)
    if L.pp > 1:
        path.add("pipeline bubble", _s(st.bubble_s), st.bubble_s / st.step_s, None)
    for d in DIMENSIONS:
        if st.traffic[d]:
            path.add(f"exposed {NAMES[d]}", _s(st.exposed[d]), st.exposed[d] / st.step_s, _s(st.traffic[d]))
    blocks: list = [head, path]
    if run is not None:
        cost = Table(f"a run of {run['tokens']:,} tokens", (Column("figure", TEXT), Column("value", TEXT)), key="run")
        cost.add("GPU hours", f"{run['gpu_hours']:,.0f}")
        cost.add("wall time", f"{run['wall_s'] / 86400:,.2f} days")
        if "energy_kwh" in run:
            cost.add("GPU energy", f"{run['energy_kwh'] / 1000:,.1f} MWh at {run['power_w_per_gpu']} W per GPU (TDP)")
        if "cost" in run:
            cost.add("cost", f"{run['cost']:,.0f} at {run['price_per_gpu_hour']:g} per GPU hour")
        blocks.append(cost)
    blocks.append(Para(
        f"micro-batch {L.micro_batch} × {st.micro_batches} per step, global batch {L.batch:,} × {p.seq:,} tokens; "
        f"{L.schedule} schedule" + (f", {L.virtual_stages} virtual stages" if L.virtual_stages > 1 else "") +
        f"; recompute {L.recompute}; ZeRO {L.zero}; sequence parallel {'on' if L.sequence_parallel else 'off'}; "
        f"{p.dtype}; overlap '{p.overlap}'; {p.attention} attention; matmul efficiency {float(p.efficiency):.3f} "
        f"({p.efficiency_source}); MFU: exact causal count over the dense {p.dtype} peak.", "dim"))
    return blocks
