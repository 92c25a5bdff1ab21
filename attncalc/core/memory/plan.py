"""One call behind `attncalc fit` and `count --train/--serve`: the typed ``MemoryPlan`` of a model
under memory settings (activations, memory per GPU, serving, quantization, LoRA), each part present
when its settings ask for it. Its JSON document is ``present.memory_document``."""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction
from typing import TYPE_CHECKING

from ...spec.arch import Architecture
from .activations import ActivationMemory, ActivationSettings, whole
from .layout import Parallelism, stage_params
from .lora import LoraFlops, LoraParams, LoraSetup, adapter_outputs, lora_flops, lora_params
from .quant import QuantizedWeights, QuantScheme, leaf_bits, quantized
from .serving import ServingFit, ServingSetup, serving_fit
from .training import OPTIMIZERS, StageMemory, TrainingMemory, TrainingSetup, per_gpu

if TYPE_CHECKING:  # the engine rules import the memory core: only their types here
    from ..serve.engines import EngineCapacity, EngineSetup


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
    engine: "EngineSetup | None" = None  # serving as an engine does it (core.serve.engines)


@dataclass(frozen=True)
class MemoryPlan:
    settings: MemorySettings
    activations: ActivationMemory | None
    per_gpu: TrainingMemory | None  # full training, or LoRA (base_format set)
    serving: ServingFit | None
    quantization: QuantizedWeights | None
    lora: LoraParams | None
    lora_flops: LoraFlops | None
    engine: "EngineCapacity | None" = None

    @property
    def budget(self) -> int | None:
        return self.settings.gpu_memory

    @property
    def training_fits(self) -> bool | None:
        if self.per_gpu is None or self.budget is None:
            return None
        return self.per_gpu.peak.total <= self.budget


def at_workload(report, *, train: bool = True, serve: bool = True, gpu_memory: int | None = None) -> MemorySettings:
    """`fit`'s default settings at a count Report's workload: training at its sequence and batch,
    serving at its batch and context in its KV dtype."""
    w = report.flops.workload
    return MemorySettings(train=train, serve=serve, activations=ActivationSettings(seq=w.seq, micro_batch=w.batch),
                          serving=ServingSetup(batch=w.batch, context=w.context, kv_dtype=report.memory.kv_cache.dtype),
                          gpu_memory=gpu_memory)


def memory_plan(a: Architecture, s: MemorySettings) -> MemoryPlan:
    acts = train = lp = lf = sv = q = None
    if s.train:
        st = replace(s.activations, tp=s.parallel.tp, pp=s.parallel.pp, cp=s.parallel.cp)
        setup = TrainingSetup(s.optimizer, s.parallel, st, s.allowance)
        if s.lora is not None:
            train = lora_per_gpu(a, setup, s.lora, s.quant or QuantScheme())
            lp = lora_params(a, s.lora)
            lf = lora_flops(a, s.lora, st.micro_batch, st.seq, st.recompute == "full")
        else:
            train = per_gpu(a, setup)
        acts = train.activations
    if s.serve:
        setup_s = s.serving or ServingSetup()
        if s.quant is not None:
            setup_s = replace(setup_s, quant=s.quant)
        sv = serving_fit(a, replace(setup_s, allowance=s.allowance), s.gpu_memory)
    if s.quant is not None or s.serve:
        q = quantized(a, s.quant or QuantScheme())
    eng = None
    if s.engine is not None:
        from ..serve.engines import engine_capacity

        eng = engine_capacity(a, s.engine)
    return MemoryPlan(s, acts, train, sv, q, lp, lf, eng)


def lora_per_gpu(a: Architecture, setup: TrainingSetup, lora: LoraSetup, base: QuantScheme) -> TrainingMemory:
    """LoRA/QLoRA per GPU: the frozen base in ``base`` format (no gradients, no optimizer state);
    the adapters with the optimizer preset's weights, gradients and state (ZeRO applies to them);
    activations as for full training plus each adapter's r-wide intermediate (x·A) per token."""
    par, opt = setup.parallel.check(a), OPTIMIZERS[setup.optimizer]
    lp = lora_params(a, lora)
    full = per_gpu(a, setup)
    st = setup.activations

    def bits(w, elements: int, expert: bool = False) -> Fraction:
        return Fraction(leaf_bits(base, w, expert) * elements, max(w.rows * w.cols, 1))

    base_stages = stage_params(a, Parallelism(tp=par.tp, pp=par.pp, ep=par.ep, dp=par.dp, cp=par.cp), bits)
    tok = Fraction(st.seq * st.micro_batch, st.cp)
    outs = adapter_outputs(a, lora)
    # each adapter's r-wide intermediate per token, per layer of a kind (none kept with full recomputation)
    extra = {k: st.act_bytes * tok * lora.rank * n_out / par.tp if st.recompute != "full" else Fraction(0)
             for k, n_out in outs.items()}
    ways = par.dp * par.cp
    zero = max(par.zero, 1) if opt.shards_optimizer else par.zero
    stages = []
    for held, act in zip(base_stages, full.activations.stages):
        adapters = -(-sum(lp.per_kind[k] * n for k, n in held.kinds.items()) // par.tp)
        part = -(-adapters // ways)
        w = whole(held.measured / 8) + whole(opt.weights * (part if zero >= 3 else adapters))
        g = whole(opt.gradients * (part if zero >= 2 else adapters))
        o = whole(opt.optimizer * (part if zero >= 1 else adapters))
        acts = whole(act.total + act.in_flight * sum((n * extra[k] for k, n in held.kinds.items()), Fraction(0)))
        stages.append(StageMemory(held.stage, adapters, w, g, o, acts, setup.allowance, {}))
    return TrainingMemory(opt, par, stages, full.activations, setup.allowance_name, base_format=base.matrices)
