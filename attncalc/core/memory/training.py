"""Per-GPU training memory: weights, gradients, optimizer state, activations and an allowance.

Model state per parameter comes from an optimizer preset (``OPTIMIZERS``, each row citing its
source); ZeRO (Rajbhandari et al. 2020, §5.1-5.3 and Figure 1) shards the optimizer state (stage
1), then the gradients (stage 2), then the weights (stage 3) over the data-parallel ranks.

How parameters land on one rank (the most-loaded one is reported):
- Tensor parallelism (Shoeybi et al. 2019, Megatron-LM §3): every weight matrix and the
  vocab-parallel embedding/unembedding are split t ways; norms, row-parallel biases (attention
  output, MLP output), position tables and the MoE router are replicated on every TP rank.
  Column-parallel biases (Q/K/V, MLP input) are split. A split that does not divide evenly leaves
  rank 0 the larger share (ceil), so the reported rank is the most loaded.
- Pipeline parallelism: blocks are dealt to stages as evenly as possible (first stages take the
  remainder); stage 0 holds the embedding, the last stage the final norm and unembedding; with tied
  embeddings and p > 1 the last stage also keeps a copy of the token embedding (Megatron-LM
  ``shared_embedding``; Narayanan et al. 2021).
- Expert parallelism: each EP rank holds n_experts / ep experts (expert weights also split by t).
- ZeRO sharding group: dp × cp ranks hold replicas of a dense parameter (Megatron-LM reduces
  gradients over data- and context-parallel ranks); expert parameters are replicated on dp × cp / ep.
Activations come from ``activations.activation_memory`` (Korthikanti et al. 2022), per stage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from ...errors import WorkloadError
from ...spec.arch import Architecture
from .activations import ActivationSettings, activation_memory, stage_layers, whole
from ..evaluate import count_params


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


def check_tp(a: Architecture, tp: int, flag: str = "--tp") -> None:
    """Megatron-style tensor parallelism gives each rank whole heads: t divides n_heads, and the
    KV heads either split evenly (t divides n_kv_heads) or are replicated (n_kv_heads divides t).
    ``flag``: the option that set t (`time` calls it --gpus)."""
    if a.n_heads % tp:
        raise WorkloadError(f"{flag} {tp} does not divide n_heads = {a.n_heads}")
    if a.kv_heads % tp and tp % a.kv_heads:
        raise WorkloadError(f"{flag} {tp} neither divides nor is a multiple of n_kv_heads = {a.kv_heads}")


@dataclass(frozen=True)
class Parallelism:
    dp: int = 1
    tp: int = 1
    pp: int = 1
    ep: int = 1
    cp: int = 1
    zero: int = 0

    def check(self, a: Architecture | None = None) -> "Parallelism":
        for name in ("dp", "tp", "pp", "ep", "cp"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise WorkloadError(f"--{name} must be an integer >= 1, got {v!r}")
        if self.zero not in (0, 1, 2, 3):
            raise WorkloadError(f"--zero must be 0, 1, 2 or 3, got {self.zero!r}")
        if (self.dp * self.cp) % self.ep:
            raise WorkloadError(f"--ep {self.ep} must divide dp × cp = {self.dp * self.cp}")
        if a is not None:
            if self.ep > 1 and a.n_experts % self.ep:
                raise WorkloadError(f"--ep {self.ep} does not divide n_experts = {a.n_experts}")
            if self.pp > a.n_layers:
                raise WorkloadError(f"--pp {self.pp} is more than the {a.n_layers} blocks")
            check_tp(a, self.tp)
        return self

    @property
    def world(self) -> int:
        return self.dp * self.tp * self.pp * self.cp

    def as_dict(self) -> dict:
        return {"dp": self.dp, "tp": self.tp, "pp": self.pp, "ep": self.ep, "cp": self.cp, "zero": self.zero,
                "gpus": self.world}


def shard(n: int, ways: int, rank: int = 0) -> int:
    """Elements rank ``rank`` holds when ``n`` is split ``ways`` ways: the first n % ways ranks
    take one more, so the shares sum to n exactly and rank 0 is the most loaded."""
    q, r = divmod(n, ways)
    return q + (1 if rank < r else 0)


def _tp_elements(path: str, leaf, t: int) -> int:
    """One instance of a leaf on TP rank 0 (see the module docstring for the rules)."""
    n, kind = leaf.value, leaf.kind
    if t == 1 or kind in ("norm", "position") or leaf.name == "router":
        return n
    if kind == "bias" and (path.endswith("attention.biases.out") or ".pooler." in path + "."):
        return n  # row-parallel output bias: replicated
    return -(-n // t)


@dataclass
class StageParams:
    stage: int
    dense: int = 0  # parameters replicated over dp × cp
    expert: int = 0  # expert parameters replicated over dp × cp / ep
    parts: dict = field(default_factory=dict)
    measured: Fraction = Fraction(0)  # sum of ``measure`` over the rank's leaves (e.g. bits)

    @property
    def total(self) -> int:
        return self.dense + self.expert


def stage_params(a: Architecture, par: Parallelism, measure=None) -> list[StageParams]:
    """Parameters one (TP rank 0, EP rank 0) GPU of each pipeline stage holds. ``measure(leaf,
    elements)`` (optional) weighs one leaf instance's share on the rank, e.g. in bits."""
    par.check(a)
    tree = count_params(a)
    layers = stage_layers(a.n_layers, par.pp)
    stages = [StageParams(i) for i in range(par.pp)]
    last = par.pp - 1
    for path, leaf, times in tree.leaves():
        per_tp = _mlp_bias_split(a, path, leaf, par.tp) if (leaf.kind == "bias" and ".mlp." in path + ".") \
            else _tp_elements(path, leaf, par.tp)
        is_expert = a.is_moe and ".mlp.expert." in path + "."
        if is_expert:
            times = times // a.n_experts * (a.n_experts // par.ep)
        part = _part_of(path)
        w = Fraction(measure(leaf, per_tp)) if measure else Fraction(0)
        if path.startswith("model.blocks."):
            for i, n in enumerate(layers):
                k = times // a.n_layers * n
                _add(stages[i], part, k * per_tp, is_expert, k * w)
        elif part == "embedding":
            _add(stages[0], part, times * per_tp, False, times * w)
            if leaf.kind == "embedding" and a.unembedding == "tied" and par.pp > 1:
                _add(stages[last], "embedding copy (tied, last stage)", times * per_tp, False, times * w)
        else:
            _add(stages[last], part, times * per_tp, False, times * w)
    return stages


def _mlp_bias_split(a: Architecture, path: str, leaf, t: int) -> int:
    # The MLP bias leaf holds the input biases (n_in × d_ff, column-parallel: split) and the
    # output bias (d_model, row-parallel: replicated).
    d = a.d_model
    return -(-(leaf.value - d) // t) + d


def _part_of(path: str) -> str:
    for key in ("embedding", "attention", "mlp", "norms", "final_norm", "unembedding", "pooler"):
        if f".{key}" in path or path.startswith(key):
            return key
    return "other"


def _add(s: StageParams, part: str, n: int, expert: bool, measured: Fraction = Fraction(0)) -> None:
    s.measured += measured
    if expert:
        s.expert += n
    else:
        s.dense += n
    s.parts[part] = s.parts.get(part, 0) + n


def model_state_bytes(params: int, opt: Optimizer, zero: int, ways: int, rank: int = 0) -> dict[str, Fraction]:
    """Weights, gradients and optimizer bytes of ``params`` parameters replicated on ``ways``
    data-parallel ranks, on rank ``rank`` under ZeRO ``zero`` (Rajbhandari et al. 2020 §5, Figure 1:
    (2 + 2 + K)Ψ; P_os: 2Ψ + 2Ψ + KΨ/N_d; P_os+g: 2Ψ + (2 + K)Ψ/N_d; P_os+g+p: (2 + 2 + K)Ψ/N_d)."""
    zero = max(zero, 1) if opt.shards_optimizer else zero
    part = shard(params, ways, rank)
    return {
        "weights": opt.weights * (part if zero >= 3 else params),
        "gradients": opt.gradients * (part if zero >= 2 else params),
        "optimizer": opt.optimizer * (part if zero >= 1 else params),
    }


@dataclass(frozen=True)
class TrainingSetup:
    optimizer: str = "adam"
    parallel: Parallelism = Parallelism()
    activations: ActivationSettings = ActivationSettings()
    allowance: int = 0  # bytes set aside for buffers, fragmentation, the CUDA context
    allowance_name: str = "allowance (buffers, fragmentation, CUDA context)"


def per_gpu(a: Architecture, setup: TrainingSetup) -> dict:
    """Memory of the most-loaded GPU: per pipeline stage, model state + activations; the peak stage."""
    par, opt = setup.parallel.check(a), optimizer(setup.optimizer)
    st = setup.activations
    if st.tp != par.tp or st.pp != par.pp or st.cp != par.cp:
        raise WorkloadError("activation settings and parallelism disagree on tp/pp/cp")
    acts = activation_memory(a, st)
    ways_dense = par.dp * par.cp
    ways_expert = ways_dense // par.ep
    stages = []
    for sp, sa in zip(stage_params(a, par), acts["stages"]):
        d = model_state_bytes(sp.dense, opt, par.zero, ways_dense)
        e = model_state_bytes(sp.expert, opt, par.zero, ways_expert)
        row = {k: d[k] + e[k] for k in d}
        row["activations"] = sa["total"]
        row["allowance"] = Fraction(setup.allowance)
        row = {k: whole(v) for k, v in row.items()}
        row["total"] = sum(row.values())
        stages.append({"stage": sp.stage, "params": sp.total, "params_by_part": dict(sp.parts), **row})
    peak = max(stages, key=lambda s: s["total"])
    return {"optimizer": opt, "parallel": par, "stages": stages, "peak": peak, "activations": acts}


def per_gpu_document(a: Architecture, setup: TrainingSetup) -> dict:
    """The JSON form: memory.per_gpu.{weights, gradients, optimizer, activations, allowance, total}."""
    m = per_gpu(a, setup)
    opt, peak = m["optimizer"], m["peak"]
    return {
        "weights": peak["weights"], "gradients": peak["gradients"], "optimizer": peak["optimizer"],
        "activations": peak["activations"], "allowance": peak["allowance"], "total": peak["total"],
        "allowance_name": setup.allowance_name,
        "most_loaded_stage": peak["stage"], "params_on_gpu": peak["params"],
        "parallel": m["parallel"].as_dict(),
        "optimizer_preset": {"name": opt.name, "bytes_per_param": str(opt.bytes_per_param),
                             "weights": str(opt.weights), "gradients": str(opt.gradients),
                             "optimizer": {k: str(v) for k, v in opt.parts}, "source": opt.source},
        "stages": [{k: v for k, v in s.items() if k != "params_by_part"} for s in m["stages"]],
    }
