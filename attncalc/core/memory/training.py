"""Per-GPU training memory: weights, gradients, optimizer state, activations and an allowance.

Model state per parameter comes from an optimizer preset (``OPTIMIZERS``, each row citing its
source); ZeRO (Rajbhandari et al. 2020, §5.1-5.3 and Figure 1) shards the optimizer state (stage
1), then the gradients (stage 2), then the weights (stage 3) over the data-parallel ranks.

How parameters land on one rank (the most-loaded one is reported): ``core.memory.layout``.
Activations come from ``activations.activation_memory`` (Korthikanti et al. 2022), per stage.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from ...errors import WorkloadError
from ...spec.arch import Architecture
from .activations import ActivationMemory, ActivationSettings, activation_memory, whole
from .layout import Parallelism, shard, stage_params


@dataclass(frozen=True)
class Optimizer:
    name: str
    weights: Fraction  # bytes per parameter kept for the forward/backward (the working copy)
    gradients: Fraction
    optimizer: Fraction  # master weights + optimizer states
    parts: tuple[tuple[str, Fraction], ...]
    source: str
    shards_optimizer: bool = False  # Megatron's distributed optimizer: ZeRO-1 by construction

    @property
    def bytes_per_param(self) -> Fraction:
        return self.weights + self.gradients + self.optimizer


def _opt(name, w, g, parts, source, shards=False) -> Optimizer:
    parts = tuple((k, Fraction(v)) for k, v in parts)
    return Optimizer(name, Fraction(w), Fraction(g), sum((v for _, v in parts), Fraction(0)), parts, source, shards)


OPTIMIZERS: dict[str, Optimizer] = {o.name: o for o in (
    _opt("adam", 2, 2, [("fp32 master weights", 4), ("Adam first moment (fp32)", 4), ("Adam second moment (fp32)", 4)],
         "mixed-precision Adam, 16 bytes/param: Rajbhandari et al. 2020 (ZeRO) §3.1, K = 12"),
    _opt("adam-fp32-grads", 2, 4, [("fp32 master weights", 4), ("Adam first moment (fp32)", 4), ("Adam second moment (fp32)", 4)],
         "Megatron-LM, fp32 gradient accumulation, 18 bytes/param: megatron/training/theoretical_memory_usage.py"),
    _opt("adam-distributed", 2, 4, [("fp32 master weights", 4), ("Adam first moment (fp32)", 4), ("Adam second moment (fp32)", 4)],
         "Megatron-LM distributed optimizer, 6 + 12/dp bytes/param: theoretical_memory_usage.py (state sharded over DP)", True),
    _opt("adam-8bit", 2, 2, [("fp32 master weights", 4), ("Adam moments, 8-bit (2 × 1 byte)", 2),
                             ("block-wise fp32 absmax, 2 states / 2048-element block", Fraction(8, 2048))],
         "8-bit Adam: Dettmers et al. 2021, 'Optimizers via Block-wise Quantization' §2 (block size 2048)"),
    _opt("sgd-momentum", 2, 2, [("fp32 master weights", 4), ("momentum (fp32)", 4)],
         "SGD with momentum in mixed precision: one fp32 state (Rajbhandari et al. 2020 §3.1 counting)"),
    _opt("muon", 2, 2, [("fp32 master weights", 4), ("momentum (fp32)", 4)],
         "Muon: a single momentum buffer per matrix (Jordan et al. 2024); counted as for SGD momentum"),
    _opt("adam-fp32", 4, 4, [("Adam first moment (fp32)", 4), ("Adam second moment (fp32)", 4)],
         "full fp32 Adam, 16 bytes/param: fp32 weights and gradients, two fp32 moments, no master copy"),
)}


def optimizer(name: str) -> Optimizer:
    try:
        return OPTIMIZERS[name]
    except KeyError:
        raise WorkloadError(f"--optimizer must be one of {', '.join(OPTIMIZERS)}, got {name!r}") from None


@dataclass(frozen=True)
class ModelState:
    """Weights, gradients and optimizer state of some parameters on one rank (bytes, exact)."""

    weights: Fraction
    gradients: Fraction
    optimizer: Fraction

    @property
    def total(self) -> Fraction:
        return self.weights + self.gradients + self.optimizer

    def __add__(self, other: "ModelState") -> "ModelState":
        return ModelState(self.weights + other.weights, self.gradients + other.gradients,
                          self.optimizer + other.optimizer)


def model_state_bytes(params: int, opt: Optimizer, zero: int, ways: int, rank: int = 0) -> ModelState:
    """Weights, gradients and optimizer bytes of ``params`` parameters replicated on ``ways``
    data-parallel ranks, on rank ``rank`` under ZeRO ``zero`` (Rajbhandari et al. 2020 §5, Figure 1:
    (2 + 2 + K)Ψ; P_os: 2Ψ + 2Ψ + KΨ/N_d; P_os+g: 2Ψ + (2 + K)Ψ/N_d; P_os+g+p: (2 + 2 + K)Ψ/N_d)."""
    zero = max(zero, 1) if opt.shards_optimizer else zero
    part = shard(params, ways, rank)
    return ModelState(opt.weights * (part if zero >= 3 else params), opt.gradients * (part if zero >= 2 else params),
                      opt.optimizer * (part if zero >= 1 else params))


@dataclass(frozen=True)
class TrainingSetup:
    optimizer: str = "adam"
    parallel: Parallelism = Parallelism()
    activations: ActivationSettings = ActivationSettings()
    allowance: int = 0  # bytes set aside for buffers, fragmentation, the CUDA context
    allowance_name: str = "allowance (buffers, fragmentation, CUDA context)"


@dataclass(frozen=True)
class StageMemory:
    """One GPU of a pipeline stage (bytes, rounded up to whole bytes)."""

    stage: int
    params: int  # parameters it holds (LoRA: adapter parameters)
    weights: int
    gradients: int
    optimizer: int
    activations: int
    allowance: int
    params_by_part: dict[str, int]

    @property
    def total(self) -> int:
        return self.weights + self.gradients + self.optimizer + self.activations + self.allowance


@dataclass(frozen=True)
class TrainingMemory:
    """Memory per GPU for training: every stage, and the most loaded one."""

    optimizer: Optimizer
    parallel: Parallelism
    stages: list[StageMemory]
    activations: ActivationMemory
    allowance_name: str
    base_format: str | None = None  # LoRA/QLoRA: the frozen base's format (None: full training)

    @property
    def peak(self) -> StageMemory:
        return max(self.stages, key=lambda s: s.total)


def per_gpu(a: Architecture, setup: TrainingSetup) -> TrainingMemory:
    """Memory of the most-loaded GPU: per pipeline stage, model state + activations; the peak stage."""
    par, opt = setup.parallel.check(a), optimizer(setup.optimizer)
    st = setup.activations
    if st.tp != par.tp or st.pp != par.pp or st.cp != par.cp:
        raise WorkloadError("activation settings and parallelism disagree on tp/pp/cp")
    acts = activation_memory(a, st)
    ways_dense = par.dp * par.cp
    ways_expert = ways_dense // par.ep
    stages = []
    for sp, sa in zip(stage_params(a, par), acts.stages):
        m = model_state_bytes(sp.dense, opt, par.zero, ways_dense) + model_state_bytes(sp.expert, opt, par.zero, ways_expert)
        stages.append(StageMemory(sp.stage, sp.total, whole(m.weights), whole(m.gradients), whole(m.optimizer),
                                  whole(sa.total), setup.allowance, dict(sp.parts)))
    return TrainingMemory(opt, par, stages, acts, setup.allowance_name)
