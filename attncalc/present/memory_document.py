"""The memory plan (``core.memory.plan.MemoryPlan``) as the JSON document's ``memory`` section (and
``params.lora``): a plain walk of the typed results; exact integers, Fractions as {numerator,
denominator, approx}, in-flight micro-batches as an integer or "p/q"."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from ..core.memory.activations import ActivationMemory, Tensor, whole
from ..core.memory.lora import LoraFlops, LoraParams
from ..core.memory.quant import QuantizedWeights
from ..core.memory.serving import LIMIT, ServingFit
from ..core.memory.training import TrainingMemory
from ..core.memory.plan import MemoryPlan


def _frac(x: Fraction, digits: int | None = 6) -> dict[str, Any]:
    return {"numerator": x.numerator, "denominator": x.denominator,
            "approx": round(float(x), digits) if digits is not None else float(x)}


def _num(x: Fraction) -> int | str:
    return x.numerator if x.denominator == 1 else str(x)


def _tensors(ts: list[Tensor]) -> dict[str, Any]:
    return {t.name: {"part": t.part, "formula": t.formula, "bytes": whole(t.nbytes), "kind": t.kind} for t in ts}


def activations_dict(m: ActivationMemory) -> dict[str, Any]:
    """memory.activations.{per_block, total, tensors, settings, stages}."""
    peak = m.peak
    return {
        "settings": m.settings.as_dict(),
        "per_block": whole(m.per_block),
        "total": whole(peak.total),
        "most_loaded_stage": peak.stage,
        "tensors": _tensors(m.tensors),
        "embedding": _tensors(m.embedding_tensors),
        "output": _tensors(m.output_tensors),
        "kinds": [{"name": k, "per_block": whole(m.per_kind[k]), "tensors": _tensors(ts)}
                  for k, ts in m.kind_tensors.items()],
        "stages": [{"stage": s.stage, "blocks": s.blocks, "kinds": s.kinds, "in_flight": _num(s.in_flight),
                    "blocks_bytes": whole(s.blocks_bytes), "embedding": whole(s.embedding),
                    "output": whole(s.output), "recompute_working_set": whole(s.recompute_working_set),
                    "total": whole(s.total)} for s in m.stages],
    }


def per_gpu_dict(m: TrainingMemory, budget: int | None) -> dict[str, Any]:
    """memory.per_gpu.{weights, gradients, optimizer, activations, allowance, total}."""
    opt, peak = m.optimizer, m.peak
    out: dict[str, Any] = {
        "weights": peak.weights, "gradients": peak.gradients, "optimizer": peak.optimizer,
        "activations": peak.activations, "allowance": peak.allowance, "total": peak.total,
        "allowance_name": m.allowance_name, "most_loaded_stage": peak.stage,
    }
    lora = m.base_format is not None
    if lora:
        out["base_format"] = m.base_format
    else:
        out["params_on_gpu"] = peak.params
    out["parallel"] = m.parallel.as_dict()
    if lora:
        out["optimizer_preset"] = {"name": opt.name, "bytes_per_param": str(opt.bytes_per_param),
                                   "applies_to": "adapters only", "source": opt.source}
    else:
        out["optimizer_preset"] = {"name": opt.name, "bytes_per_param": str(opt.bytes_per_param),
                                   "weights": str(opt.weights), "gradients": str(opt.gradients),
                                   "optimizer": {k: str(v) for k, v in opt.parts}, "source": opt.source}
    out["stages"] = [{"stage": s.stage, ("adapter_params" if lora else "params"): s.params, "weights": s.weights,
                      "gradients": s.gradients, "optimizer": s.optimizer, "activations": s.activations,
                      "allowance": s.allowance, "total": s.total} for s in m.stages]
    if budget is not None:
        out["budget"] = budget
        out["fits"] = peak.total <= budget
    return out


def serving_dict(f: ServingFit) -> dict[str, Any]:
    """memory.serving.{per_gpu, max_context, max_batch, fits}."""
    s, m = f.setup, f.per_gpu
    doc: dict[str, Any] = {
        "settings": {"batch": s.batch, "context": s.context, "tp": s.tp, "pp": s.pp, "kv_dtype": s.kv_dtype,
                     "weights": s.quant.matrices, "prefill_chunk": m.prefill.chunk, "flash": s.flash},
        "per_gpu": {"weights": m.weights, "kv_cache": m.kv_cache, "activations": m.activations,
                    "allowance": m.allowance, "total": m.total},
        "kv_heads_per_gpu": m.kv_heads_per_gpu,
        "prefill_peak": {"residual": m.prefill.residual, "largest": m.prefill.largest,
                         "largest_bytes": m.prefill.largest_bytes, "logits": m.prefill.logits},
        "memory": f.memory, "max_context": None, "max_batch": None, "fits": f.fits,
    }
    if f.memory is not None:
        doc["max_context"] = "unbounded" if f.max_context == LIMIT else f.max_context
        doc["max_batch"] = "unbounded" if f.max_batch == LIMIT else f.max_batch
        doc["max_context_within_n_ctx"] = None if f.max_context is None else min(f.max_context, f.n_ctx)
    return doc


def quantization_dict(q: QuantizedWeights) -> dict[str, Any]:
    per_block = q.bits_per_weight_per_block
    return {
        "scheme": {"matrices": q.scheme.matrices, "keep": q.scheme.keep, "overrides": dict(q.scheme.overrides)},
        "bits_per_weight": _frac(q.bits_per_weight),
        "bits_per_weight_per_block": _frac(per_block) if per_block is not None else None,
        "bytes": q.bytes, "bytes_per_block": q.bytes_per_block, "bits": q.bits, "params": q.params,
        "formats": q.formats,
        "per_matrix": {k: {"format": v.format, "shape": list(v.shape), "count": v.count, "bits_each": v.bits_each,
                           "bits_per_weight": _frac(v.bits_per_weight)}
                       for k, v in q.leaves.items() if k.startswith("blocks.")},
    }


def lora_dict(p: LoraParams, f: LoraFlops | None) -> dict[str, Any]:
    share = p.trainable_share
    out: dict[str, Any] = {
        "rank": p.rank, "targets": p.targets,
        "per_matrix": {k: {"d_in": m.d_in, "d_out": m.d_out, "A": m.A, "B": m.B, "params": m.params,
                           "copies_per_block": m.copies_per_block, "layers": m.layers, **m.per_head}
                       for k, m in p.per_matrix.items()},
        "per_block": p.per_block, "per_kind": p.per_kind, "total": p.total,
        "base_params": p.base_params, "all_params": p.all_params,
        "trainable_share": {"numerator": share.numerator, "denominator": share.denominator,
                            "percent": float(share * 100)},
    }
    if f is not None:
        out["flops"] = {"convention": f.convention, "forward": f.forward, "base_matmuls": f.base_matmuls,
                        "attention_core": f.attention_core, "adapters": f.adapters, "recompute": f.recompute,
                        "step": f.step, "batch": f.batch, "seq": f.seq}
    return out


def memory_document(plan: MemoryPlan) -> dict[str, Any]:
    """{"memory": {activations, per_gpu, serving, quantization}, "params": {"lora": …}}."""
    mem: dict[str, Any] = {}
    if plan.activations is not None:
        mem["activations"] = activations_dict(plan.activations)
    if plan.per_gpu is not None:
        mem["per_gpu"] = per_gpu_dict(plan.per_gpu, plan.budget)
    if plan.serving is not None:
        mem["serving"] = serving_dict(plan.serving)
    if plan.engine is not None:
        from .serve_document import engine_dict

        mem.setdefault("serving", {})["engine"] = engine_dict(plan.engine)
    if plan.quantization is not None:
        mem["quantization"] = quantization_dict(plan.quantization)
    out: dict[str, Any] = {"memory": mem}
    if plan.lora is not None:
        out["params"] = {"lora": lora_dict(plan.lora, plan.lora_flops)}
    return out
