"""The engine's capacity (core.serve.engines.EngineCapacity) as JSON (``memory.serving.engine``) and as a
section of `fit`'s report: every term with its basis and source, the layout, and the result."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from ..core.serve.engines import EngineCapacity
from .sections import Row, Section

GIB = 1 << 30


def _frac(x: Fraction | int, digits: int = 4) -> dict[str, Any] | int:
    x = Fraction(x)
    if x.denominator == 1:
        return x.numerator
    return {"numerator": x.numerator, "denominator": x.denominator, "approx": round(float(x), digits)}


def engine_dict(c: EngineCapacity) -> dict[str, Any]:
    """memory.serving.engine: the engine's figures as it computes and logs them, each term named."""
    s = c.setup
    knobs = {"tp": s.tp, "pp": s.pp, "dp": s.dp, "dtype": s.dtype, "weights": s.quant.matrices,
             "kv_cache_dtype": s.kv_cache_dtype, "max_model_len": c.max_model_len,
             "max_num_batched_tokens": c.max_num_batched_tokens, "max_num_seqs": c.max_num_seqs,
             "block_size": c.block_size}
    for name in ("gpu_memory_utilization", "mem_fraction_static", "free_gpu_memory_fraction"):
        v = getattr(s, name)
        if v is not None:
            knobs[name] = str(v)
    return {
        "engine": c.engine, "family": c.family, "version": c.version, "device": s.device.as_dict(),
        "knobs": knobs, "defaults": dict(c.defaults),
        "terms": [t.as_dict() for t in c.terms],
        "stages": [{"stage": st.stage, "kv_bytes": st.kv_bytes, "blocks": st.blocks} for st in c.stages],
        "binding_stage": c.binding_stage,
        "layout": {"specs": [sp.as_dict() for sp in c.specs], "groups": [g.as_dict() for g in c.groups]},
        "kv_bytes": c.kv_bytes, "kv_gib": round(c.kv_bytes / GIB, 4),
        "kv_blocks": c.kv_blocks, "kv_tokens": c.kv_tokens,
        "max_concurrency": _frac(c.max_concurrency),
        "request_bytes": c.request_bytes,
        "bytes_per_logged_token": _frac(c.logged_bytes_per_token),
        "physical_bytes_per_token": _frac(c.physical_bytes_per_token),
        "physical_note": "attncalc's exact cache per token at max_model_len on one rank (windows capped, states "
                         "once per sequence): what the tokens need, beside what the engine charges",
        "notes": list(c.notes),
    }


def engine_section(c: EngineCapacity) -> Section:
    rows = []
    for t in c.terms:
        how = f"[{t.basis}] {t.formula or t.source}"
        if t.unit == "bytes":
            rows.append(Row(t.name, how, int(t.value)))
        elif Fraction(t.value).denominator == 1:
            rows.append(Row(t.name, how, int(t.value), unit="count"))
        else:
            rows.append(Row(t.name, f"{float(t.value):g}: {how}", None))
    rows.append(Row("KV cache memory", f"stage {c.binding_stage}, rank 0: the binding rank", c.kv_bytes, strong=True))
    rows.append(Row("KV blocks", f"{len(c.groups)} group(s) of block size {c.block_size}", c.kv_blocks, unit="count"))
    rows.append(Row("KV tokens (as logged)", "the engine's token line", c.kv_tokens, unit="count", strong=True))
    conc = c.max_concurrency
    rows.append(Row("max concurrency", f"requests of {c.max_model_len:,} tokens at once ({float(conc):.2f}x)",
                    conc.numerator // conc.denominator, unit="count"))
    rows.append(Row("bytes per logged token", "KV memory / logged tokens", round(float(c.logged_bytes_per_token)),
                    unit="bytes"))
    rows.append(Row("physical bytes per token", f"attncalc's exact need at {c.max_model_len:,} tokens",
                    round(float(c.physical_bytes_per_token)), unit="bytes"))
    note = f"{c.engine} {c.version} ({c.family}) on {c.setup.device.name}"
    if c.defaults:
        note += "; defaults: " + "; ".join(f"{k} {v}" for k, v in c.defaults.items())
    if c.notes:
        note += "; " + "; ".join(c.notes)
    return Section("Serving engine: KV cache as the engine computes it (bytes)", tuple(rows), note, "bytes")
