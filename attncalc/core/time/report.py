"""The typed result of `attncalc time` (and of `count --hw`, `explain --hw`): every figure built
once, read by attribute by the documents, the tables and the budgets.

``time_report`` evaluates prefill, a decode step and (with --tokens or --recompute) a training
step under the roofline (``core.time.roofline``); with measurements it first fits the
efficiencies exactly (``core.time.calibrate``); with a measured throughput it adds MFU under every
convention (``core.time.mfu``).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from ...errors import WorkloadError
from ...spec.arch import Architecture
from ..workload import Convention, positive
from .calibrate import Measured, fit_efficiency, with_efficiency
from .mfu import MfuConvention, mfu
from .parts import ceil
from .roofline import PartTime, PassTime, decode_time, prefill_time, training_time
from .setup import Setup


@dataclass(frozen=True)
class View:
    """FLOPs, bytes, intensity and lower bound of a piece of a pass (one head, one block, all)."""

    flops: int
    bytes: int
    intensity: Fraction | None
    bound_s: Fraction


@dataclass(frozen=True)
class Views:
    per_head: View
    per_block: View
    total: View


@dataclass(frozen=True)
class TrainingTime:
    step: PassTime
    step_tokens: int
    tokens: int | None  # the run's tokens (--tokens), None for one step
    steps: Fraction | None

    @property
    def total_bound_s(self) -> Fraction | None:
        return None if self.steps is None else self.step.bound_s * self.steps

    @property
    def total_estimate_s(self) -> Fraction | None:
        return None if self.steps is None else self.step.estimate_s * self.steps


@dataclass(frozen=True)
class Mfu:
    mode: str
    tokens_per_s: Fraction
    gpus: int
    peak_flops_per_s: int
    conventions: dict[str, MfuConvention]


@dataclass(frozen=True)
class TimeReport:
    arch: Architecture
    setup: Setup  # its efficiency is the one the estimate used (fitted when measurements were given)
    batch: int
    seq: int
    context: int
    tokens: int | None
    recompute: bool
    causal: bool
    prefill: PassTime
    decode: PassTime
    training: TrainingTime | None
    measured: Measured
    mfu: Mfu | None
    assumptions: list[str]
    prefill_views: Views
    decode_views: Views

    @property
    def ridge(self) -> Fraction:
        return self.setup.hw.ridge(self.setup.compute, self.setup.sparse)

    @property
    def decode_ms(self) -> Fraction:
        """The decode estimate per token, in milliseconds (exact)."""
        return self.decode.estimate_s * 1000

    @property
    def prefill_ms(self) -> Fraction:
        return self.prefill.estimate_s * 1000

    @property
    def decode_tokens_per_s(self) -> Fraction:
        """Estimate, all sequences together."""
        return Fraction(self.batch) / self.decode.estimate_s

    @property
    def decode_tokens_per_s_bound(self) -> Fraction:
        return Fraction(self.batch) / self.decode.bound_s


def assumptions(setup: Setup) -> list[str]:
    hw = setup.hw
    out = [
        "LOWER BOUNDS under the roofline (Williams et al. 2009): each part takes max(FLOPs / peak, bytes / bandwidth); "
        "the parts run one after another; no launch, synchronisation or framework overhead",
        f"peak: {hw.name} {setup.compute} {'SPARSE (2:4 structured sparsity)' if setup.sparse else 'dense'} "
        f"{setup.peak:,} FLOP/s; bandwidth {hw.memory_bytes_per_s:,} bytes/s"
        + (" (measured on this machine)" if hw.measured else f" ({hw.source})"),
        f"weights {setup.dtype}, matmuls in {setup.compute}, activations {float(setup.act_bytes):g} bytes per "
        f"element, KV cache {setup.kv}",
        "each weight matrix is read once per pass; a d_model-wide activation is read or written once per block; "
        "the attention core reads Q, K, V and writes O once and never writes the score matrix (Dao et al. 2022); "
        "element-wise work (norms, activations, softmax) is fused and moves no extra bytes",
        "a decode step reads every weight and the whole KV cache of the context once (Pope et al. 2022)",
        "mixture of experts: balanced routing, min(n_experts, routed tokens) experts' weights read",
    ]
    if setup.gpus > 1:
        link = hw.link_bytes_per_s()
        out.append(f"tensor parallel over {setup.gpus} GPUs: FLOPs and bytes split evenly; a ring all-reduce of "
                   f"tokens x d_model after each row-parallel output (2 per block; Megatron-LM) over {link:,} "
                   f"bytes/s per direction ({hw.interconnect}), not overlapped with compute")
    e = setup.efficiency
    out.append(f"estimate = the same with peak x {float(e.compute):.4g} and bandwidth x {float(e.memory):.4g}"
               + (f" and link x {float(e.network):.4g}" if setup.gpus > 1 else "") + f" ({e.source})")
    return out


def pass_factor(pt: PassTime) -> int:
    """3 (4 with recomputation) for a training step, 1 for a forward or decode pass."""
    base = sum(t.part.flops for t in pt.times)
    return pt.flops // base if base else 1


def views(pt: PassTime, a: Architecture) -> Views:
    """One query head (with its share of a key/value head it shares with the group), one block,
    and the whole pass: FLOPs, bytes, intensity and the bound of each."""
    factor = pass_factor(pt)
    block = [t for t in pt.times if t.part.in_block]

    def head_share(t: PartTime) -> Fraction:
        p = t.part
        if ".attention." not in f".{p.name}." or p.kind == "elementwise" and p.per_block != a.n_heads:
            return Fraction(0)
        if p.per_block == a.n_heads:
            return Fraction(1)
        if p.per_block == a.kv_heads:
            return Fraction(1, a.group_size)
        return Fraction(0)

    def summary(weights: list[tuple[PartTime, Fraction]]) -> View:
        f = sum((Fraction(t.part.flops, t.part.count) * w for t, w in weights), Fraction(0)) * factor
        b = sum((Fraction(t.part.bytes, t.part.count) * w for t, w in weights), Fraction(0)) * factor
        s = sum((t.bound_s / t.part.count * w for t, w in weights), Fraction(0))
        return View(ceil(f), ceil(b), f / b if b else None, s)

    return Views(summary([(t, head_share(t)) for t in block]),
                 summary([(t, Fraction(t.part.per_block)) for t in block]),
                 View(pt.flops, pt.bytes, Fraction(pt.flops, pt.bytes) if pt.bytes else None, pt.bound_s))


def time_report(a: Architecture, setup: Setup, *, batch: int, seq: int, context: int,
                tokens: int | None = None, conv: Convention = Convention(), recompute: bool = False,
                measured: Measured = Measured(), mfu_tokens_per_s: Fraction | None = None,
                mfu_mode: str = "training", mfu_devices: int | None = None) -> TimeReport:
    """Everything `attncalc time` shows, evaluated once."""
    positive("--batch", batch), positive("--seq", seq), positive("--context", context, 0)
    positive("--gpus", setup.gpus)
    pre = prefill_time(a, setup, batch, seq, conv)
    dec = decode_time(a, setup, batch, context, conv)
    if measured.any():
        m: dict[str, tuple[PassTime, Fraction]] = {}
        if measured.prefill_s is not None:
            m["prefill"] = (pre, measured.prefill_s)
        step = measured.decode_s
        if step is None and measured.decode_tokens_per_s is not None:
            if measured.decode_tokens_per_s <= 0:
                raise WorkloadError("--measured-tokens-per-s must be positive")
            step = Fraction(batch) / measured.decode_tokens_per_s
        if step is not None:
            m["decode"] = (dec, step)
        setup = with_efficiency(setup, fit_efficiency(m, setup.efficiency))
        pre = prefill_time(a, setup, batch, seq, conv)
        dec = decode_time(a, setup, batch, context, conv)
    train = None
    if tokens is not None or recompute:
        tr = training_time(a, setup, batch, seq, conv, recompute)
        train = TrainingTime(tr, batch * seq, tokens, Fraction(tokens, batch * seq) if tokens is not None else None)
    result = None
    if mfu_tokens_per_s is not None:
        if mfu_devices is not None:
            positive("--mfu-devices", mfu_devices)
        res = mfu(a, setup, mfu_tokens_per_s, mfu_mode, seq=seq, context=context, batch=batch, devices=mfu_devices)
        result = Mfu(mfu_mode, mfu_tokens_per_s, mfu_devices or setup.gpus, setup.peak, res)
    return TimeReport(a, setup, batch, seq, context, tokens, recompute, conv.causal(a), pre, dec, train, measured,
                      result, assumptions(setup), views(pre, a), views(dec, a))
