"""Model FLOPs utilization of a measured throughput under each published convention."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from ...errors import WorkloadError
from ...units import plural
from ...spec.arch import Architecture
from ..evaluate import decode, forward, kinds
from ..workload import Convention
from .setup import Setup


@dataclass(frozen=True)
class MfuConvention:
    flops_per_token: Fraction
    mfu: Fraction
    what: str


def mfu(a: Architecture, setup: Setup, tokens_per_s: Fraction, mode: str, *, seq: int, context: int,
        batch: int = 1, devices: int | None = None) -> dict[str, MfuConvention]:
    """Model FLOPs utilization of a measured throughput under each published convention.

    MFU = FLOPs per token (convention) x tokens/s / (gpus x dense peak) (Chowdhery et al. 2022, PaLM,
    Appendix B). ``mode``: training (forward + backward: 3 x forward), prefill or decode (forward).
    ``devices``: the chips the throughput was measured on (default: ``setup.gpus``).
    Conventions: 6N or 2N (N all parameters: Kaplan et al. 2020 / GPT-3 Table D.1); PaLM's
    6N + 12 L H Q T (N all parameters, a tied embedding once: that N reproduces PaLM 540B's 46.2% at
    238.3K tokens/s on 6144 TPU v4, sec. 4; attention over the full sequence); the exact count, causal or
    full, with or without the logits; and, for training, hardware FLOPs with full recomputation
    (one more forward: Chowdhery et al. 2022 Appendix B 'hardware FLOPs utilization')."""
    from ..figures import params_of

    if mode not in ("training", "prefill", "decode"):
        raise WorkloadError(f"--mfu-mode must be training, prefill or decode, not {mode!r}")
    if tokens_per_s <= 0:
        raise WorkloadError("measured tokens/s must be positive")
    s = params_of(a)
    n_all = s.total
    f = 3 if mode == "training" else 1
    # L: the layers that attend (a hybrid's Mamba layers have no attention term)
    L, H, Q = sum(k.count for k in kinds(a) if k.pattern is None or not k.pattern.encoder
                  if any(c.name == "attention" for c in k.children)), a.n_heads, a.head_dim
    ctx_keys = seq if mode != "decode" else context + 1

    def exact(attention: str, logits: bool) -> Fraction:
        conv = Convention(attention=attention)
        if mode == "decode":
            tree, tokens = decode(a, batch, context, conv), batch
        else:
            tree, tokens = forward(a, batch, seq, conv), batch * seq
        total = tree.total - (0 if logits else tree.total_at("unembedding"))
        return Fraction(f * total, tokens)

    # a mixture of experts: N = the parameters a token runs (N_active), as the field reports MoE MFU
    # (DeepSeek-V3 technical report; Megatron-LM counts top-k experts); N_total labelled beside it
    n_active = s.conventions.active
    which = f"N = N_active, {n_active:,} parameters a token runs" if n_active != n_all else f"N = all {n_all:,} parameters"
    per_token: dict[str, tuple[Fraction, str]] = {
        f"{2 * f}N": (Fraction(2 * f * n_active), f"{2 * f} x N, {which} (Kaplan et al. 2020; GPT-3 Table D.1)"),
        "palm": (Fraction(f * (2 * n_active + 4 * L * H * Q * ctx_keys)),
                 f"{2 * f}N + {4 * f} L H Q T, {which}, T = {ctx_keys:,} keys (PaLM Appendix B)"),
    }
    if n_active != n_all:
        per_token[f"{2 * f}N_total"] = (Fraction(2 * f * n_all), f"{2 * f} x N, N = N_total, all {n_all:,} parameters")
        per_token["palm_total"] = (Fraction(f * (2 * n_all + 4 * L * H * Q * ctx_keys)),
                                   f"{2 * f}N + {4 * f} L H Q T, N = N_total, all {n_all:,} parameters")
    per_token |= {
        "exact_causal": (exact("causal", True), "exact count, causal attention, logits included"),
        "exact_causal_no_logits": (exact("causal", False), "exact count, causal attention, without the logits"),
        "exact_full": (exact("full", True), "exact count, full S x S attention, logits included"),
        "exact_full_no_logits": (exact("full", False), "exact count, full S x S attention, without the logits"),
    }
    if mode == "training":
        fwd = exact("causal", True) / 3
        per_token["hardware_recompute"] = (4 * fwd, "hardware FLOPs: exact causal with full recomputation "
                                                    "(4 passes; PaLM Appendix B, HFU)")
    peak = (devices or setup.gpus) * setup.peak
    out = {k: MfuConvention(v, v * tokens_per_s / peak, what) for k, (v, what) in per_token.items()}
    least = min(c.mfu for c in out.values())
    if least > 1:  # faster than the hardware under every convention: a unit or device-count slip
        raise WorkloadError(f"--mfu-tokens-per-s {float(tokens_per_s):,.6g} would need {float(least):,.4g} x the "
                            f"dense peak of {plural(devices or setup.gpus, 'device')} even with the fewest FLOPs per "
                            "token: check the throughput, --mfu-devices and --mfu-mode")
    return out
