"""The `time` report as the JSON document's ``time`` (and ``mfu``) sections: a plain walk of the
typed ``core.time.report.TimeReport`` (floats only here, for display; exact bounds beside them)."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from ..core.time.report import TimeReport, View, Views
from ..core.time.roofline import PartTime, PassTime


def _frac(x: Fraction) -> dict[str, Any]:
    return {"numerator": x.numerator, "denominator": x.denominator, "approx": float(x)}


def part_dict(t: PartTime) -> dict[str, Any]:
    p = t.part
    i = p.intensity
    return {"name": p.name, "label": p.label, "kind": p.kind, "count": p.count, "per_block": p.per_block,
            "flops": p.flops, "bytes": p.bytes, "weight_bytes": p.weight_bytes,
            "activation_bytes": p.activation_bytes, "kv_bytes": p.kv_bytes,
            "intensity": None if i is None else float(i), "bound_by": t.bound_by, "bound_s": float(t.bound_s),
            "estimate_s": float(t.estimate_s)}


def pass_dict(pt: PassTime) -> dict[str, Any]:
    return {"bound_s": float(pt.bound_s), "bound_s_exact": f"{pt.bound_s.numerator}/{pt.bound_s.denominator}",
            "estimate_s": float(pt.estimate_s), "bound_by": pt.bound_by, "tokens": pt.tokens, "flops": pt.flops,
            "bytes": pt.bytes, "compute_bound_s": float(pt.time_by("compute")),
            "memory_bound_s": float(pt.time_by("memory")), "comm_bytes_per_gpu": pt.comm_bytes,
            "comm_s": float(pt.comm_s), "notes": pt.notes}


def _view(v: View) -> dict[str, Any]:
    return {"flops": v.flops, "bytes": v.bytes, "intensity": None if v.intensity is None else float(v.intensity),
            "bound_s": float(v.bound_s)}


def _views(v: Views) -> dict[str, Any]:
    return {"per_head": _view(v.per_head), "per_block": _view(v.per_block), "total": _view(v.total)}


def time_document(r: TimeReport) -> dict[str, Any]:
    """{"time": …, "mfu": …, "mfu_detail": …}: ``count --hw`` merges it into its own document."""
    s, e = r.setup, r.setup.efficiency
    ridge = r.ridge
    dec = pass_dict(r.decode)
    doc: dict[str, Any] = {
        "lower_bound": True,
        "what": "bound_s is a LOWER BOUND under the roofline; estimate_s divides the peaks by the efficiencies",
        "hardware": s.hw.name, "compute_dtype": s.compute, "sparse": s.sparse, "gpus": s.gpus,
        "peak_flops_per_s": s.peak, "memory_bytes_per_s": s.hw.memory_bytes_per_s,
        "ridge_flops_per_byte": float(ridge), "ridge_exact": f"{ridge.numerator}/{ridge.denominator}",
        "efficiency": {"compute": _frac(e.compute), "memory": _frac(e.memory), "network": _frac(e.network),
                       "source": e.source},
        "assumptions": r.assumptions,
        "workload": {"batch": r.batch, "seq": r.seq, "context": r.context, "tokens": r.tokens, "recompute": r.recompute,
                     "dtype": s.dtype, "kv_dtype": s.kv, "attention": "causal" if r.causal else "full"},
        "prefill": {**pass_dict(r.prefill), "estimate_ms": float(r.prefill.estimate_s * 1000), **_views(r.prefill_views)},
        "decode": {"bound_s_per_token": dec.pop("bound_s"), "estimate_s_per_token": dec.pop("estimate_s"),
                   "estimate_ms_per_token": float(r.decode.estimate_s * 1000),
                   "tokens_per_s": float(r.decode_tokens_per_s), "tokens_per_s_bound": float(r.decode_tokens_per_s_bound),
                   "what_tokens_per_s": "estimate, all sequences together; tokens_per_s_bound is the upper bound",
                   **dec, **_views(r.decode_views)},
        "parts": [{"pass": "prefill", **part_dict(t)} for t in r.prefill.times]
                 + [{"pass": "decode", **part_dict(t)} for t in r.decode.times],
    }
    m = r.measured
    if m.any():
        doc["measured"] = {k: float(v) for k, v in (("prefill_s", m.prefill_s), ("decode_s", m.decode_s),
                                                    ("decode_tokens_per_s", m.decode_tokens_per_s)) if v is not None}
    if r.training is not None:
        tr = r.training
        td = {**pass_dict(tr.step), "step_tokens": tr.step_tokens}
        if tr.tokens is not None:
            td.update(tokens=tr.tokens, steps=float(tr.steps), total_bound_s=float(tr.total_bound_s),
                      total_estimate_s=float(tr.total_estimate_s))
        doc["training"] = td
    out: dict[str, Any] = {"time": doc}
    if r.mfu is not None:
        res = r.mfu.conventions
        out["mfu"] = {k: float(v.mfu) for k, v in res.items()}
        out["mfu_detail"] = {"mode": r.mfu.mode, "tokens_per_s": float(r.mfu.tokens_per_s), "gpus": r.mfu.gpus,
                             "peak_flops_per_s": r.mfu.peak_flops_per_s,
                             "conventions": {k: {"flops_per_token": float(v.flops_per_token), "mfu": float(v.mfu),
                                                 "what": v.what} for k, v in res.items()}}
    return out
