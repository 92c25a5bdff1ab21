"""One call behind `attncalc fit` and the memory additions to `count --format json`:
``memory_document(arch, settings)`` -> {"memory": {activations, per_gpu, serving, quantization},
"params": {"lora": …}} (each key present when its settings ask for it)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

from ...spec.arch import Architecture
from .activations import ActivationSettings, activation_document, whole
from .layout import Parallelism, stage_params
from .lora import LoraSetup, adapter_outputs, lora_flops, lora_params
from .quant import QuantScheme, leaf_bits, quantized
from .serving import ServingSetup, serving_document
from .training import OPTIMIZERS, TrainingSetup, per_gpu, per_gpu_document


@dataclass(frozen=True)
class MemorySettings:
    train: bool = True
    serve: bool = False
    parallel: Parallelism = Parallelism()
    activations: ActivationSettings = ActivationSettings()
    optimizer: str = "adam"
    allowance: int = 0
    quant: QuantScheme | None = None  # weights format (serving; the frozen base under LoRA)
    lora: LoraSetup | None = None
    serving: ServingSetup | None = None
    gpu_memory: int | None = None  # the budget per GPU, bytes


def memory_document(a: Architecture, s: MemorySettings) -> dict[str, Any]:
    mem: dict[str, Any] = {}
    params: dict[str, Any] = {}
    if s.train:
        st = replace(s.activations, tp=s.parallel.tp, pp=s.parallel.pp, cp=s.parallel.cp)
        mem["activations"] = activation_document(a, st)
        setup = TrainingSetup(s.optimizer, s.parallel, st, s.allowance)
        if s.lora is not None:
            mem["per_gpu"] = lora_per_gpu(a, setup, s.lora, s.quant or QuantScheme())
            params["lora"] = lora_params(a, s.lora)
            params["lora"]["flops"] = lora_flops(a, s.lora, st.micro_batch, st.seq, st.recompute == "full")
        else:
            mem["per_gpu"] = per_gpu_document(a, setup)
        if s.gpu_memory is not None:
            mem["per_gpu"]["budget"] = s.gpu_memory
            mem["per_gpu"]["fits"] = mem["per_gpu"]["total"] <= s.gpu_memory
    if s.serve:
        sv = s.serving or ServingSetup()
        if s.quant is not None:
            sv = replace(sv, quant=s.quant)
        mem["serving"] = serving_document(a, replace(sv, allowance=s.allowance), s.gpu_memory)
    if s.quant is not None or s.serve:
        q = quantized(a, s.quant or QuantScheme())
        mem["quantization"] = {k: v for k, v in q.items() if k != "leaves"}
        mem["quantization"]["per_matrix"] = {k: v for k, v in q["leaves"].items() if k.startswith("blocks.")}
    out: dict[str, Any] = {"memory": mem}
    if params:
        out["params"] = params
    return out


def lora_per_gpu(a: Architecture, setup: TrainingSetup, lora: LoraSetup, base: QuantScheme) -> dict:
    """LoRA/QLoRA per GPU: the frozen base in ``base`` format (no gradients, no optimizer state);
    the adapters with the optimizer preset's weights, gradients and state (ZeRO applies to them);
    activations as for full training plus each adapter's r-wide intermediate (x·A) per token."""
    par, opt = setup.parallel.check(a), OPTIMIZERS[setup.optimizer]
    lp = lora_params(a, lora)
    full = per_gpu(a, setup)
    st = setup.activations

    def bits(w, elements: int) -> Fraction:
        return Fraction(leaf_bits(base, w) * elements, max(w.rows * w.cols, 1))

    base_stages = stage_params(a, Parallelism(tp=par.tp, pp=par.pp, ep=par.ep, dp=par.dp, cp=par.cp), bits)
    tok = Fraction(st.seq * st.micro_batch, st.cp)
    outs = adapter_outputs(a, lora)
    # each adapter's r-wide intermediate per token, per layer of a kind (none kept with full recomputation)
    extra = {k: st.act_bytes * tok * lora.rank * n_out / par.tp if st.recompute != "full" else Fraction(0)
             for k, n_out in outs.items()}
    ways = par.dp * par.cp
    stages = []
    for i, held in enumerate(base_stages):
        adapters = -(-sum(lp["per_kind"][k] * n for k, n in held.kinds.items()) // par.tp)
        part = -(-adapters // ways)
        zero = max(par.zero, 1) if opt.shards_optimizer else par.zero
        w = whole(base_stages[i].measured / 8) + whole(opt.weights * (part if zero >= 3 else adapters))
        g = whole(opt.gradients * (part if zero >= 2 else adapters))
        o = whole(opt.optimizer * (part if zero >= 1 else adapters))
        act = full["activations"]["stages"][i]
        acts = whole(act["total"] + act["in_flight"] * sum((n * extra[k] for k, n in held.kinds.items()), Fraction(0)))
        row = {"weights": w, "gradients": g, "optimizer": o, "activations": acts, "allowance": setup.allowance}
        row["total"] = sum(row.values())
        stages.append({"stage": i, "adapter_params": adapters, **row})
    peak = max(stages, key=lambda r: r["total"])
    return {**{k: peak[k] for k in ("weights", "gradients", "optimizer", "activations", "allowance", "total")},
            "allowance_name": setup.allowance_name, "most_loaded_stage": peak["stage"],
            "base_format": base.matrices, "parallel": par.as_dict(),
            "optimizer_preset": {"name": opt.name, "bytes_per_param": str(opt.bytes_per_param), "applies_to": "adapters only",
                                 "source": opt.source},
            "stages": stages}
