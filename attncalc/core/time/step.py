"""The time of one training step of a layout on a cluster: public API (``prepare`` once per model,
hardware and sequence; ``step_time`` per layout, cheap: closed forms in the layout's variables).

Per GPU of the most loaded pipeline stage (core.memory.layout deals the layers), per micro-batch of
``micro_batch`` sequences of ``seq`` tokens (``seq / cp`` on each context-parallel rank):

- compute: every matrix product of the layer kinds on the stage at its sharded shape through the
  tile-and-wave model (core.time.kernels.matmul, the ONE fitted constant of the generation);
  backward = the input-gradient GEMM (M x K from M x N by N x K) and the weight-gradient GEMM
  (N x K over M), each timed at its own shape; attention: the exact causal pairs' FLOPs at the
  attention kernel's efficiency, the backward 2.5 x the forward's FLOPs (the count FlashAttention-2's
  benchmarks use, Dao 2023 sec. 4.1: five matrix products against two); element-wise kernels at the
  memory bandwidth (fused recipe), backward twice the forward's bytes; each kernel at least its launch
  (the engine's host time per kernel: a layer takes max(GPU time, kernels x host time)).
  Attention ``materialized`` (``prepare(attention=...)``; MATERIALIZED_BYTES): the S x S scores as
  batched GEMMs and the softmax/dropout bytes, as Megatron-LM ran it before FlashAttention. fp8:
  Transformer Engine's casts at the memory bandwidth (FP8_CAST_BYTES); attention stays in bf16. A
  routed layer adds its token permutation (PERMUTE_PASSES).
  Recomputation (Korthikanti et al. 2022): ``full`` runs each layer's forward again before its
  backward (its TP traffic too); ``selective`` recomputes the attention core: with a flash-style
  kernel the backward already does (its 2.5 x), so it adds nothing; materialized, its forward again;
  ``none`` adds nothing.
  The optimizer: Adam over the rank's parameter shard, 16 bytes read and 14 written per parameter
  (fp32 master, moments and gradient; bf16 weight out: Rajbhandari et al. 2020, ZeRO, sec. 3.1's
  16 bytes of state), at the memory bandwidth.
- traffic, each collective through core.time.collectives with its tier (Megatron-LM's rank order:
  tp fastest, then cp, dp (ep inside dp x cp, or tp x dp x cp when wider), pp slowest; a group's ranks in one node are
  gpus_per_node / stride of them):
  TP: per row-parallel output of a layer, forward and backward, an all-reduce of the micro-batch's
  activations (tokens x d_model), or with sequence parallelism a reduce-scatter and an all-gather of
  the same (Korthikanti et al. 2022 sec. 4.2.2); DP, per step: ZeRO 0 an all-reduce of the fp32
  gradients, ZeRO 1 and 2 a reduce-scatter of them and an all-gather of the bf16 weights (Megatron's
  distributed optimizer), ZeRO 3 per micro-batch two all-gathers of the weights (forward, backward)
  and a reduce-scatter of the gradients (Rajbhandari et al. 2020 sec. 5; PyTorch FSDP); dense weights
  over dp x cp ranks, expert weights over dp x cp / ep; PP: per micro-batch and model chunk, one
  activation forward and one gradient backward between neighbouring stages (point-to-point,
  tokens x d_model, / tp with sequence parallelism); EP: per routed layer, a dispatch and a combine
  all-to-all forward and again backward (tokens x top-k x d_model); CP: ring attention passes each
  rank's K and V block cp - 1 times forward and K, V and their gradients backward (Liu et al. 2023,
  Ring Attention; Megatron-LM/Transformer Engine's context parallelism).
- overlap, a named convention (``OVERLAPS``): ``none``: every transfer on the critical path;
  ``default`` (Megatron-LM with --overlap-grad-reduce --overlap-param-gather, Transformer Engine's
  ring attention): TP, EP and PP transfers exposed, the CP ring hidden behind the attention kernel
  it feeds, DP gradient reduction behind one micro-batch's backward and the weight gather behind one
  forward (ZeRO 3: behind the whole step's compute); with DualPipe the EP and PP transfers are hidden
  too (DeepSeek-V3 report sec. 3.2.1: "both all-to-all and PP communication can be fully hidden");
  ``full``: every transfer hidden behind the step's compute, what exceeds it exposed.
- the bubble: core.time.schedules' closed form (its simulation outside the closed form's domain)
  on the stage's per-micro-batch F, B (input gradients, recomputation) and W (weight gradients).

step = compute + exposed traffic + bubble. MFU: the exact causal count, 3 x the forward, logits
included (core/time/mfu.py 'exact_causal'), over GPUs x the dense peak of the matmuls' dtype.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from fractions import Fraction
from math import gcd

from ...errors import WorkloadError
from ...spec.arch import Architecture
from ...spec.hardware import Hardware
from ..memory.layout import Parallelism, stage_kinds, stage_params
from ..workload import positive
from . import collectives as C
from . import kernels as K
from . import schedules as S
from .step_model import Gemm, KindCost, Prepared, build

OVERLAPS = ("none", "default", "full")
SIMULATION_LIMIT = 100_000  # stages x micro-batches x chunks a schedule's event simulation may run
RECOMPUTE = ("none", "selective", "full")
DIMENSIONS = ("tp", "cp", "ep", "pp", "dp")
GRAD_BYTES = 4  # fp32 gradients reduced (Megatron-LM accumulate_allreduce_grads_in_fp32; FSDP reduce_dtype)
ADAM_BYTES = 30  # per parameter: 16 read, 14 written (module docstring)
ATTENTION_BACKWARD = Fraction(5, 2)  # Dao 2023 sec. 4.1
# Attention kernels of training engines: Megatron-LM / NeMo / torchtitan run cuDNN or
# FlashAttention-3 on Hopper: forward (Shah et al. 2024, abstract: "up to 740 TFLOPs/s (75%
# utilization)" in FP16), backward 559 TFLOP/s (the paper's figure "Attention backward speed, head dim
# 128 (H100 80GB SXM5)", FlashAttention-3 at 8k), of the 989.5 dense peak; elsewhere the table of
# core.time.kernels (FlashAttention-2), forward and backward alike.
TRAINING_ATTENTION = {"hopper": (Fraction(3, 4), Fraction(1118, 1979),
                                 "Shah et al. 2024 (FlashAttention-3): forward 75% of H100 peak (abstract), "
                                 "backward 559 TFLOP/s (hd 128, 8k)")}
# fp8 (Transformer Engine's recipe, "Using FP8 with Transformer Engine"): each GEMM's activation input
# and output gradient are cast from bf16 (read 2 bytes, write 1) and transposed for the weight
# gradient (write 1 more): 4 bytes per element moved, per micro-batch (the weights' casts, once per
# step, are left out).
FP8_CAST_BYTES = 4
# Attention without a fused kernel (Megatron-LM before FlashAttention: Narayanan et al. 2021,
# Korthikanti et al. 2022 sec. 3): the full S x S scores as batched GEMMs (the mask applied after),
# then per score element the bytes of the fused scale-mask-softmax (read 2, write 2), dropout (read
# 2, write 2, mask 1), the scores GEMM's write and the values GEMM's read (2 + 2): 13 forward, the
# backward twice that; selective recomputation (Korthikanti sec. 4.3) runs this forward again.
MATERIALIZED_BYTES = 13
ATTENTION_KERNELS = ("flash", "materialized")
# A routed layer's token permutation (Megatron-Core's MoE token dispatcher: permute before the
# experts, unpermute and weight after): each of the tokens x top-k copies read and written once each
# way, 2 x 2 x d_model elements forward.
PERMUTE_PASSES = 4


@dataclass(frozen=True)
class TrainLayout:
    tp: int = 1
    pp: int = 1
    dp: int = 1
    ep: int = 1
    cp: int = 1
    micro_batch: int = 1
    global_batch: int | None = None  # sequences per step; default dp x micro_batch (one micro-batch)
    virtual_stages: int = 1
    recompute: str = "selective"  # none | selective | full
    sequence_parallel: bool = True
    zero: int = 1
    schedule: str = "1f1b"  # gpipe | 1f1b | interleaved | zb-h1 | dualpipe

    @property
    def gpus(self) -> int:
        return self.tp * self.pp * self.dp * self.cp

    @property
    def batch(self) -> int:
        return self.dp * self.micro_batch if self.global_batch is None else self.global_batch

    @property
    def micro_batches(self) -> int:
        """Micro-batches per pipeline per step: global batch / (dp x micro-batch)."""
        return self.batch // (self.dp * self.micro_batch)


@dataclass(frozen=True)
class StepTime:
    step_s: Fraction
    compute_s: Fraction  # kernels of all micro-batches + the optimizer step
    exposed: dict[str, Fraction]  # per dimension (DIMENSIONS): traffic on the critical path
    traffic: dict[str, Fraction]  # per dimension: all its transfers' time per step
    bubble_s: Fraction
    tokens_per_s: Fraction
    tflops_per_gpu: Fraction  # model FLOPs (exact causal) per second per GPU, in TFLOP/s
    mfu: Fraction
    bound_s: Fraction  # roofline lower bound: model FLOPs / (GPUs x dense peak)
    model_flops: int  # per step, all GPUs
    gpus: int
    micro_batches: int
    breakdown: dict[str, Fraction] = field(default_factory=dict)  # per micro-batch and stage, seconds
    schedule_method: str = ""

    @property
    def comm_s(self) -> Fraction:
        return sum(self.exposed.values(), Fraction(0))


def prepare(a: Architecture, hw: Hardware, *, seq: int, dtype: str = "bf16", overlap: str = "default",
            engine: str = "eager", efficiency: Fraction | None = None, attention: str = "flash") -> Prepared:
    """Read the model description once for ``seq``-token sequences on ``hw``. ``efficiency``: the
    generation's matmul constant (default: the hardware file's fitted ``matmul_efficiency``);
    ``attention``: the attention kernel, flash (fused, IO-aware) or materialized (module docstring)."""
    if attention not in ATTENTION_KERNELS:
        raise WorkloadError(f"unknown attention kernel {attention!r}; use one of {', '.join(ATTENTION_KERNELS)}")
    if overlap not in OVERLAPS:
        raise WorkloadError(f"unknown overlap convention {overlap!r}; use one of {', '.join(OVERLAPS)}")
    if efficiency is None:
        efficiency, source = K.matmul_efficiency(hw), f"[fitted] matmul_efficiency of {hw.name}"
    else:
        source = "given"
    if not 0 < efficiency <= 1:
        raise WorkloadError(f"matmul efficiency must be in (0, 1], got {efficiency}")
    attn = TRAINING_ATTENTION.get(hw.generation)
    if attn is None:
        fa2 = K.ATTENTION_EFFICIENCY.get(hw.generation) \
            or (efficiency, "the matmul efficiency (no published attention figure for this generation)")
        attn = (fa2[0], fa2[0], fa2[1])
    return build(a, hw, seq, dtype, efficiency, source, attn, overlap, K.engine(engine), attention)


def check_layout(p: Prepared, L: TrainLayout) -> Parallelism:
    for name in ("tp", "pp", "dp", "ep", "cp", "micro_batch", "virtual_stages"):
        positive(f"--{name.replace('_', '-')}", getattr(L, name))
    if L.recompute not in RECOMPUTE:
        raise WorkloadError(f"--recompute must be one of {', '.join(RECOMPUTE)}, not {L.recompute!r}")
    if L.batch % (L.dp * L.micro_batch) or L.batch < L.dp * L.micro_batch:
        raise WorkloadError(f"--global-batch {L.batch} is not a multiple of dp x micro-batch = "
                            f"{L.dp * L.micro_batch}")
    if p.seq % L.cp:
        raise WorkloadError(f"--cp {L.cp} does not divide the sequence of {p.seq} tokens")
    S.check(L.schedule, L.pp, L.micro_batches, L.virtual_stages)
    if L.pp * L.virtual_stages > sum(k.layers for k in p.kinds):
        raise WorkloadError(f"pp x virtual stages = {L.pp * L.virtual_stages} is more than the layers")
    wide = L.ep > 1 and (L.dp * L.cp) % L.ep and (L.tp * L.dp * L.cp) % L.ep == 0
    if wide:  # EP carved out of tp x dp x cp (Megatron-Core, expert tensor parallelism 1): the memory
        if p.arch.n_experts % L.ep:  # layout's Parallelism holds EP inside dp x cp, so the experts are
            raise WorkloadError(f"--ep {L.ep} does not divide n_experts = {p.arch.n_experts}")  # placed here
        return Parallelism(L.dp, L.tp, L.pp, 1, L.cp, L.zero).check(p.arch)
    return Parallelism(L.dp, L.tp, L.pp, L.ep, L.cp, L.zero).check(p.arch)


def _gemm_s(p: Prepared, m: int, n: int, k: int, batch: int = 1) -> Fraction:
    key = (m, n, k, batch)
    t = p.cache.get(key)
    if t is None:
        t = p.cache[key] = K.matmul(m, n, k, p.dtype, p.hw, batch=batch, efficiency=p.efficiency).time
    return t


def _layer_gemms(p: Prepared, gemms: tuple[Gemm, ...], tokens: int, L: TrainLayout) -> tuple[Fraction, Fraction, Fraction, int, int]:
    """Forward, input-gradient and weight-gradient GEMM time of one layer on one GPU, kernels, and
    the elements of the activation inputs and output gradients (fp8 casts)."""
    f = b = w = Fraction(0)
    n_k = cast = 0
    for g in gemms:
        if g.split == "expert":  # grouped GEMM over the rank's experts, tokens balanced (module docstring)
            local = max(1, g.experts // L.ep)
            m = max(1, -(-(tokens * g.per_token * L.ep) // (L.tp * g.experts)))
            n, k, batch = g.rows, g.cols, local
        else:
            m, batch = max(1, -(-(tokens * g.per_token) // 1)), 1
            n = -(-g.rows // L.tp) if g.split in ("col", "vocab") else g.rows
            k = -(-g.cols // L.tp) if g.split == "row" else g.cols
        m = int(m)
        f += _gemm_s(p, m, n, k, batch)
        b += _gemm_s(p, m, k, n, batch)
        w += _gemm_s(p, n, k, m, batch)
        n_k += 3
        cast += batch * m * (k + n)
    return f, b, w, n_k, cast


def _coll(op: str, nbytes: Fraction, group: int, stride: int, p: Prepared) -> Fraction:
    """One collective over ``group`` ranks ``stride`` apart in Megatron's rank order."""
    if group <= 1 or nbytes <= 0:
        return Fraction(0)
    g = p.hw.gpus_per_node or group
    per_node = gcd(group, max(1, g // stride)) if stride < g else 1
    nb = int(-(-Fraction(nbytes) // 1))
    if op == "send_recv":
        return _cached(p, (op, nb, per_node == 1), lambda: C.send_recv(nb, p.hw, across_nodes=per_node == 1).time)
    return _cached(p, (op, nb, group, per_node),
                   lambda: C.collective(op, nb, group, p.hw, gpus_per_node=per_node).time)


def _cached(p: Prepared, key: tuple, make):
    """Per-Prepared memo of what repeats across layouts (stage layouts, kernel and collective times)."""
    v = p.cache.get(key)
    if v is None:
        v = p.cache[key] = make()
    return v


def _kind_times(p: Prepared, k: KindCost, L: TrainLayout) -> dict[str, Fraction]:
    """One layer of kind ``k``, one micro-batch, one GPU: compute F/B/W and each dimension's traffic."""
    tokens = L.micro_batch * p.seq // L.cp
    gf, gb, gw, n_k, cast = _layer_gemms(p, k.gemms, tokens, L)
    share = Fraction(L.micro_batch, L.cp * L.tp)
    bw = p.hw.memory_bytes_per_s * K.MEMORY_EFFICIENCY
    attn_io = k.attention_bytes * share / bw
    attn_f = max(k.attention_flops * share / (p.attention_peak * p.attention_efficiency), attn_io)
    attn_b = max(ATTENTION_BACKWARD * k.attention_flops * share / (p.attention_peak * p.attention_backward), 2 * attn_io)
    attn_recompute = Fraction(0)
    if not k.attention_flops:
        attn_f = attn_b = Fraction(0)
    elif p.attention == "materialized":
        h, s_q = -(-k.attention_heads // L.tp) * L.micro_batch, p.seq // L.cp
        mem = Fraction(MATERIALIZED_BYTES * h * s_q * p.seq) / bw
        attn_f = _gemm_s(p, s_q, p.seq, k.head_dim, h) + _gemm_s(p, s_q, k.head_dim, p.seq, h) + mem
        attn_b = 2 * attn_f
        attn_recompute = attn_f if L.recompute == "selective" else Fraction(0)
    ew = k.elementwise_bytes * share / bw
    if k.routed_top_k:
        ew += Fraction(PERMUTE_PASSES * tokens * k.routed_top_k * p.d_model, L.tp) * p.act_bytes / bw
    if p.act_bytes < 2:  # fp8 casts, half in the forward, half in the backward (FP8_CAST_BYTES)
        ew += Fraction(FP8_CAST_BYTES * cast, 2) / bw
    host = p.engine.host_s
    kernels_f = n_k // 3 + (1 if k.attention_flops else 0) + k.elementwise_kernels
    f = max(gf + attn_f + ew, kernels_f * host)
    b = max(gb + attn_b + 2 * ew, 2 * kernels_f * host)
    w = max(gw, (n_k // 3) * host)
    act = tokens * p.d_model * p.act_bytes
    if L.tp > 1:
        one = (_coll("reduce_scatter", act, L.tp, 1, p) + _coll("all_gather", act, L.tp, 1, p)
               if L.sequence_parallel else _coll("all_reduce", act, L.tp, 1, p))
        tp_f = k.row_outputs * one
    else:
        tp_f = Fraction(0)
    ep_f = Fraction(0)
    if k.routed_top_k and L.ep > 1:
        sent = Fraction(tokens * k.routed_top_k * p.d_model, L.tp) * p.act_bytes
        ep_f = 2 * _coll("all_to_all", sent, L.ep, L.tp * L.cp, p)
    cp_all = Fraction(0)
    if L.cp > 1 and k.kv_bytes_per_token:
        block = Fraction(tokens * k.kv_bytes_per_token, L.tp if p.arch.kv_heads >= L.tp else 1)
        cp_all = 3 * (L.cp - 1) * _coll("send_recv", block, 2, L.tp, p)
    recompute = f + tp_f + ep_f if L.recompute == "full" else attn_recompute
    return {"f": f, "b": b + recompute, "w": w, "tp": 2 * tp_f + (tp_f if L.recompute == "full" else 0),
            "ep": 2 * ep_f + (ep_f if L.recompute == "full" else 0), "cp": cp_all,
            "attention": attn_f + attn_b, "recompute": recompute}


def step_time(p: Prepared, layout: TrainLayout) -> StepTime:
    """The training step of ``layout`` (module docstring). Raises WorkloadError for a layout that
    does not run (a degree that does not divide, a schedule's requirement)."""
    L = layout
    par = check_layout(p, L)
    m = L.micro_batches
    v = L.virtual_stages
    per_kind = {k.name: _kind_times(p, k, L) for k in p.kinds}
    stages = _cached(p, ("stage_kinds", L.pp), lambda: stage_kinds(p.arch, L.pp))
    tokens = L.micro_batch * p.seq // L.cp
    # the logits on the last stage: vocab-parallel GEMMs and the loss's element-wise traffic
    hf, hb, hw_, _, _ = _layer_gemms(p, p.top, tokens, L)
    head_ew = p.top_elementwise_bytes * Fraction(L.micro_batch, L.cp * L.tp) / (
        p.hw.memory_bytes_per_s * K.MEMORY_EFFICIENCY)
    best = None
    for i, counts in enumerate(stages):
        t = {x: Fraction(0) for x in ("f", "b", "w", "tp", "ep", "cp", "attention", "recompute")}
        for name, n in counts.items():
            for x, val in per_kind[name].items():
                t[x] += n * val
        if i == len(stages) - 1:
            t["f"] += hf + head_ew
            t["b"] += hb + 2 * head_ew
            t["w"] += hw_
        load = t["f"] + t["b"] + t["w"] + t["tp"] + t["ep"]
        if best is None or load > best[0]:
            best = (load, t, i)
    _, t, stage = best
    sp = _cached(p, ("stage_params", L.tp, L.pp, par.ep), lambda: stage_params(p.arch, par))[stage]
    dense_group, expert_group = L.dp * L.cp, L.dp * L.cp // L.ep
    if par.ep != L.ep:  # EP wider than dp x cp (check_layout): E / ep whole experts per rank, their
        sp = replace(sp, expert=sp.expert * L.tp // L.ep)  # gradients reduced over tp x dp x cp / ep
        expert_group = L.tp * L.dp * L.cp // L.ep
    # --- per-step traffic of each dimension ---
    dp = Fraction(0)
    for params, group, stride in ((sp.dense, dense_group, L.tp), (sp.expert, expert_group, L.tp * L.ep)):
        if group <= 1 or not params:
            continue
        if L.zero == 0:
            dp += _coll("all_reduce", GRAD_BYTES * params, group, stride, p)
        elif L.zero < 3:
            dp += _coll("reduce_scatter", GRAD_BYTES * params, group, stride, p) + \
                _coll("all_gather", p.act_bytes * params, group, stride, p)
        else:
            dp += m * (_coll("reduce_scatter", GRAD_BYTES * params, group, stride, p) +
                       2 * _coll("all_gather", p.act_bytes * params, group, stride, p))
    pp = Fraction(0)
    if L.pp > 1:
        act = Fraction(tokens * p.d_model, L.tp if L.sequence_parallel else 1) * p.act_bytes
        pp = 2 * m * v * _coll("send_recv", act, 2, L.tp * L.cp * L.dp, p)
    traffic = {"tp": m * t["tp"], "cp": m * t["cp"], "ep": m * t["ep"], "pp": pp, "dp": dp}
    # --- compute, exposure, bubble ---
    per_mb = t["f"] + t["b"] + t["w"]
    shard = sp.dense // (dense_group if L.zero >= 1 else 1) + sp.expert // (max(1, expert_group) if L.zero >= 1 else 1)
    optimizer = Fraction(ADAM_BYTES * shard) / (p.hw.memory_bytes_per_s * K.MEMORY_EFFICIENCY)
    compute = m * per_mb + optimizer
    exposed = _exposed(p, L, traffic, t, compute, m)
    stage_t = S.StageTimes(t["f"] + (exposed["tp"] + exposed["ep"] + exposed["cp"]) / (3 * m) if m else t["f"],
                           t["b"] + (exposed["tp"] + exposed["ep"] + exposed["cp"]) / (3 * m) * 2 if m else t["b"],
                           t["w"])
    if L.pp > 1:
        if L.schedule == "dualpipe":  # F&B: a forward and a backward chunk overlapped, no faster than either
            stage_t = S.StageTimes(stage_t.f, stage_t.b, stage_t.w, stage_t.f + stage_t.b + stage_t.w)
        try:
            cost = S.closed_form(L.schedule, L.pp, m, stage_t, v)
        except WorkloadError:  # outside the closed form's domain: the event simulation, when it is small
            if L.pp * m * v > SIMULATION_LIMIT:
                raise WorkloadError(f"{L.schedule} with these stage times needs an event simulation of "
                                    f"{L.pp * m * v:,} micro-batch passes (at most {SIMULATION_LIMIT:,})") from None
            cost = S.simulate(L.schedule, L.pp, m, stage_t, v)
        bubble, method = cost.bubble, cost.method
    else:
        bubble, method = Fraction(0), "no pipeline"
    step = compute + sum(exposed.values(), Fraction(0)) + bubble
    flops = p.model_flops_per_seq * L.batch
    gpus = L.gpus
    breakdown = {"forward_s": t["f"], "backward_input_s": t["b"] - t["recompute"], "backward_weight_s": t["w"],
                 "recompute_s": t["recompute"], "attention_s": t["attention"], "optimizer_s": optimizer}
    return StepTime(step, compute, exposed, traffic, bubble, Fraction(L.batch * p.seq) / step,
                    Fraction(flops, gpus) / step / 10**12, Fraction(flops) / (step * gpus * p.peak),
                    Fraction(flops, gpus * p.peak), flops, gpus, m, breakdown, method)


def _exposed(p: Prepared, L: TrainLayout, traffic: dict[str, Fraction], t: dict, compute: Fraction,
             m: int) -> dict[str, Fraction]:
    if p.overlap == "none":
        return dict(traffic)
    if p.overlap == "full":
        total = sum(traffic.values(), Fraction(0))
        over = max(Fraction(0), total - compute)
        return {d: (traffic[d] * over / total if total else Fraction(0)) for d in DIMENSIONS}
    out = dict(traffic)
    out["cp"] = max(Fraction(0), traffic["cp"] - m * t["attention"])
    if L.zero >= 3:
        out["dp"] = max(Fraction(0), traffic["dp"] - compute)
    else:  # the reduction behind the last micro-batch's backward, the gather behind the first forward
        out["dp"] = max(Fraction(0), traffic["dp"] - (t["b"] + t["w"] + t["f"]))
    if L.schedule == "dualpipe":
        for d in ("ep", "pp"):
            out[d] = max(Fraction(0), traffic[d] - compute)
    return out
