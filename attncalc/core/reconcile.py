"""Published training runs under their publishers' own MFU conventions, and under the exact count.

For a run of the cited registry (``spec.runs``) whose publisher prints both a utilization and the
formula behind it, ``reconcile`` (1) recomputes the publisher's figure from the publisher's formula
and printed inputs, to the printed digits; (2) walks from the publisher's FLOPs per step to
attncalc's exact count of the same step, one convention at a time, so the gap splits into causes:

- recomputation: a formula that counts the recomputed forward (Narayanan et al. 2021 Eq. 3: four
  passes of every layer; HFU) against model FLOPs (three passes, Chowdhery et al. 2022 Appendix B);
- formula terms: the publisher's closed form against the exact count of the same passes with the same
  attention convention (its approximations: the embedding and logits terms, biases, N as the
  publisher counts it, e.g. PaLM's 6N with the embedding in N);
- attention convention: every s x s score (PaLM, Korthikanti, Narayanan, MosaicML) against the causal
  pairs the model computes (core.workload.Mask);
- peak: the publisher's divisor against the hardware file's dense peak.
Mixture-of-experts N_total vs N_active and multi-token prediction are causes too, for publishers that
print both a utilization and a formula for such a model; none of the runs reconciled here is one.

The exact count: core.evaluate.forward over the run's sequences (matrix products, 2 FLOPs per
multiply-accumulate, logits included), times 3 (forward + backward, Kaplan et al. 2020). Predictions
(core.time.step) never read this registry.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

from ..spec.arch import Architecture
from ..spec.load import load_preset
from .evaluate import count_params, forward
from .workload import Convention

TERA = 10**12


@dataclass(frozen=True)
class Link:
    label: str  # the count at this link of the chain
    cause: str  # what changed from the previous link ("" for the first)
    flops_per_step: Fraction
    mfu: Fraction  # over the publisher's peak, except the last link's peak change


@dataclass(frozen=True)
class Reconciled:
    id: str
    source: str
    model: str
    gpus: int
    step_s: Fraction
    convention: str
    printed: dict[str, Any]  # the publisher's figures as printed
    reproduced: dict[str, Fraction]  # the same figures from the publisher's formula
    matches: bool  # every reproduced figure rounds to the printed one at the printed digits
    chain: tuple[Link, ...]
    peak_used: int
    notes: tuple[str, ...] = ()

    @property
    def exact_mfu(self) -> Fraction:
        return self.chain[-1].mfu


def _digits(printed: float | int) -> int:
    text = repr(float(printed)) if not isinstance(printed, int) else str(printed)
    return len(text.split(".")[1].rstrip("0")) if "." in text else 0


def _half_unit(printed: float | int) -> Fraction:
    return Fraction(1, 2 * 10 ** _digits(printed))


def _rounds_to(value: Fraction, printed: float | int, slack: Fraction = Fraction(0)) -> bool:
    """``value`` (known to within the relative ``slack`` of its printed input) rounds to ``printed``:
    the two intervals, value x (1 +- slack) and printed +- half its last digit, meet."""
    p, h = Fraction(str(printed)), _half_unit(printed)
    return value * (1 - slack) <= p + h and value * (1 + slack) >= p - h


def _gpt(row: dict, **extra) -> Architecture:
    arch = row["model"]["architecture"]
    base = load_preset(row["model"]["preset"]) if row["model"].get("preset") else load_preset("gpt3")
    return replace(base, n_layers=arch["n_layers"], d_model=arch["d_model"], n_heads=arch["n_heads"],
                   n_kv_heads=arch.get("n_kv_heads") or arch["n_heads"], d_head=None, d_ff=arch["d_ff"],
                   vocab_size=arch["vocab"], n_ctx=max(base.n_ctx, arch.get("seq") or 0), **extra)


def _exact(a: Architecture, batch: int, seq: int, attention: str) -> int:
    """3 x the forward of one step's sequences (matrix products, logits included)."""
    return 3 * forward(a, batch, seq, Convention(attention)).total


def _chain(start: tuple[str, Fraction], links: list[tuple[str, str, Fraction]], per: Fraction,
           peak_used: int, datasheet: int | None) -> tuple[Link, ...]:
    """MFU at each link = FLOPs / (step x GPUs x peak); ``per`` = 1 / (step x GPUs)."""
    out = [Link(start[0], "", start[1], start[1] * per / peak_used)]
    for label, cause, flops in links:
        out.append(Link(label, cause, flops, flops * per / peak_used))
    if datasheet and datasheet != peak_used:
        last = out[-1]
        out.append(Link(f"{last.label}, hardware file's dense peak", "peak: the datasheet's dense figure, not "
                        "the publisher's divisor", last.flops_per_step, last.flops_per_step * per / datasheet))
    return tuple(out)


def _korthikanti(row: dict) -> Reconciled:
    L = row["layout"]
    a = _gpt(row)
    B, s, l, h, v = L["global_batch"], L["seq"], a.n_layers, a.d_model, a.vocab_size
    model = 72 * B * l * s * h * h * (1 + Fraction(s, 6 * h) + Fraction(v, 12 * h * l))  # Eq. 7
    hardware = 72 * B * l * s * h * h * (1 + Fraction(s, 3 * h) + Fraction(v, 12 * h * l))  # Eq. 8
    t, n, peak = Fraction(str(row["reported"]["step_s"])), row["gpus"], 312 * TERA
    per = 1 / (t * n)
    rep = {"mfu_pct": 100 * model * per / peak}
    if "hfu_pct" in row["reported"]:
        rep["hfu_pct"] = 100 * hardware * per / peak
    chain = _chain(("Eq. 7 (model FLOPs)", model), [
        ("exact count, full s x s attention", "formula terms (logits and embeddings as Eq. 7 writes them, biases)",
         Fraction(_exact(a, B, s, "full"))),
        ("exact count, causal attention", "attention convention: causal pairs, not s x s",
         Fraction(_exact(a, B, s, "causal")))], per, peak, None)
    return _result(row, a, t, n, rep, chain, peak, ("MFU and HFU from the printed iteration time, whose last "
                                                    "digit bounds the match",),
                   _half_unit(row["reported"]["step_s"]) / t)


def _narayanan(row: dict) -> Reconciled:
    L, R = row["layout"], row["reported"]
    a = _gpt(row)
    B, s, l, h, V = L["global_batch"], L["seq"], a.n_layers, a.d_model, a.vocab_size
    eq3 = 96 * B * s * l * h * h * (1 + Fraction(s, 6 * h) + Fraction(V, 16 * l * h))
    n, peak = row["gpus"], 312 * TERA
    t = eq3 / (R["tflops_per_gpu"] * TERA * n)  # the iteration time the printed TFLOP/s implies (Eq. 3)
    per = 1 / (t * n)
    rep = {"tflops_per_gpu": eq3 * per / TERA}
    if "pct_of_peak" in R:
        rep["pct_of_peak"] = 100 * eq3 * per / peak
    model = 72 * B * s * l * h * h * (1 + Fraction(s, 6 * h)) + 6 * B * s * h * V  # three passes of the layers
    chain = _chain(("Eq. 3 (with the recomputed forward)", eq3), [
        ("Eq. 3 without the recomputed forward", "recomputation: 3 passes of each layer, not 4", model),
        ("exact count, full s x s attention", "formula terms (embedding, biases, norms)",
         Fraction(_exact(a, B, s, "full"))),
        ("exact count, causal attention", "attention convention: causal pairs, not s x s",
         Fraction(_exact(a, B, s, "causal")))], per, peak, None)
    return _result(row, a, t, n, rep, chain, peak, ("the iteration time is the one Eq. 3 and the printed "
                                                    "TFLOP/s imply; no time is printed",))


def _palm(row: dict) -> Reconciled:
    a = load_preset(row["model"]["preset"])
    L, R = row["layout"], row["reported"]
    s, B, n, peak = L["seq"], L["global_batch"], row["gpus"], 275 * TERA
    N = count_params(a).total
    per_token = 6 * N + 12 * a.n_layers * a.n_heads * a.head_dim * s  # Appendix B: 6N + 12 L H Q T
    tps = Fraction(R["tokens_per_s"])
    t = Fraction(B * s) / tps
    per = 1 / (t * n)
    rep = {"mfu_pct": 100 * per_token * B * s * per / peak}
    chain = _chain(("6N + 12 L H Q T", per_token * B * s), [
        ("exact count, full s x s attention", "formula terms (6N counts the embedding table as a matmul; "
         "norms and the logits as the model computes them)", Fraction(_exact(a, B, s, "full"))),
        ("exact count, causal attention", "attention convention: causal pairs, not s x s",
         Fraction(_exact(a, B, s, "causal")))], per, peak, None)
    return _result(row, a, t, n, rep, chain, peak, ("N = all parameters, the tied embedding once",),
                   _half_unit(R["tokens_per_s"]) / tps)


def _mosaic(row: dict) -> Reconciled:
    L, R = row["layout"], row["reported"]
    a = _gpt(row, qkv_bias=False, out_bias=False, mlp_bias=False, norm_bias=False, positions="alibi",
             unembedding="tied")
    # composer/callbacks/speed_monitor.py GPU_AVAILABLE_FLOPS["h100-sxm"]["amp_bf16"] = 1.979e15 / 2
    s, n, peak = L["seq"], row["gpus"], 9895 * TERA // 10
    N = R["num_params"]
    tokens_per_s = R.get("throughput_tokens_per_s")  # more digits than the sequences/s
    seq_per_s = Fraction(tokens_per_s, s) if tokens_per_s else Fraction(R["throughput_seq_per_s"])
    flops, attn = 2 * N * s, a.n_layers * 2 * 2 * a.d_model * s * s  # per sequence (module source)
    B = L["global_batch"]
    t = B / seq_per_s
    per = 1 / (t * n)
    rep = {"mfu_pct": 100 * (3 * flops + 3 * attn) * B * per / peak}
    recomputes = "full" in (L.get("recompute") or "")
    if "hfu_pct" in R:
        k = 4 if recomputes else 3
        rep["hfu_pct"] = 100 * (k * flops + k * attn) * B * per / peak
    chain = _chain(("(3 x 2Ns + 3 x 4 L d s^2) per sequence", (3 * flops + 3 * attn) * B), [
        ("exact count, full s x s attention", "formula terms (N as printed, the tied embedding as a matmul)",
         Fraction(_exact(a, B, s, "full"))),
        ("exact count, causal attention", "attention convention: causal pairs, not s x s",
         Fraction(_exact(a, B, s, "causal")))], per, peak, None)
    slack = _half_unit(tokens_per_s) / Fraction(tokens_per_s) if tokens_per_s else \
        _half_unit(R["throughput_seq_per_s"]) / seq_per_s
    return _result(row, a, t, n, rep, chain, peak, ("the exact count is of the printed MPT shape (ALiBi, no "
                                                    "biases, tied embedding); its N may differ from num_params",),
                   slack)


def _result(row: dict, a: Architecture, t: Fraction, n: int, rep: dict[str, Fraction], chain: tuple[Link, ...],
            peak: int, notes: tuple[str, ...] = (), slack: Fraction = Fraction(0)) -> Reconciled:
    """``slack``: the relative half-unit of the printed input (a time or throughput) the figures scale with."""
    printed = {k: row["reported"][k] for k in rep}
    matches = all(_rounds_to(rep[k], printed[k], slack) for k in rep)
    return Reconciled(row["id"], row["source_id"], row["model"]["name"], n, t, row["publisher_convention"], printed,
                      rep, matches, chain, peak, notes)


CONVENTIONS = {"korthikanti2022": _korthikanti, "narayanan2021": _narayanan, "palm2022": _palm,
               "llmfoundry_mpt": _mosaic}


def reconcilable(row: dict) -> bool:
    """A row whose publisher prints a utilization and the formula behind it, with what the formula needs."""
    R, L, src = row["reported"], row["layout"], row["source_id"]
    if src not in CONVENTIONS or row["kind"] not in ("training_run", "benchmark") or not row.get("gpus"):
        return False
    if src == "korthikanti2022":
        return "mfu_pct" in R and isinstance(R.get("step_s"), (int, float)) and bool(row["model"].get("architecture"))
    if src == "narayanan2021":
        return "tflops_per_gpu" in R and bool((row["model"].get("architecture") or {}).get("d_ff")) \
            and L.get("zero") != 3 and bool(L.get("global_batch"))
    if src == "palm2022":
        return bool(row["model"].get("preset")) and "mfu_pct" in R and "tokens_per_s" in R
    return "mfu_pct" in R and "throughput_seq_per_s" in R and "num_params" in R


def reconcile(row: dict) -> Reconciled:
    return CONVENTIONS[row["source_id"]](row)
