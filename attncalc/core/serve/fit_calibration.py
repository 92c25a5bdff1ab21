"""Fitting ``core.serve.calibration``'s constants on named start-up logs, exactly (Fractions of the
printed two-decimal GiB figures). An observation is one log: the model's description, the setup the
log ran, and what it printed. Each constant comes from the logs that isolate it:

- ``context_one`` / ``context_multi``: device total − "Initial free memory", averaged over the
  one-rank / several-rank logs;
- ``non_torch_one`` / ``_tp`` / ``_pp``: "non-torch forward increase memory", averaged per class;
- ``forward_factor``: on logs where the forward binds (fp32 activations; a first pipeline stage, which
  runs no sampler): torch peak increase / (act_bytes × tokens × (d_model + dense MLP gate/up width)),
  averaged;
- ``sampler_bytes_per_logit`` and ``sampler_fixed``: on the other logs, the sampler binds: torch peak
  increase − the hidden states = c × rows × vocabulary + fixed, solved by least squares (exact
  rationals; two logs give the exact solution).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from ...dtypes import canonical_dtype, dtype_bytes
from ...spec.arch import Architecture
from .calibration import Calibration, gib
from .startup import dense_mlp_width, moe_workspace


@dataclass(frozen=True)
class Observation:
    id: str
    arch: Architecture
    setup: object  # core.serve.engines.EngineSetup
    figures: dict  # the log's printed figures (logs.json "figures")


def _mean(xs: list[Fraction]) -> Fraction:
    return sum(xs, Fraction(0)) / len(xs)


def fit(observations: list[Observation]) -> Calibration:
    ctx_one, ctx_multi, nt_one, nt_tp, nt_pp, fwd, samp = [], [], [], [], [], [], []
    for o in observations:
        s, f = o.setup, o.figures
        total = s.device.cuda_total
        ranks = s.tp * s.pp
        if f.get("initial_free_gib") is not None:
            (ctx_multi if ranks > 1 else ctx_one).append(total - gib(f["initial_free_gib"]))
        nt = gib(f["non_torch_increase_gib"])
        (nt_tp if s.tp > 1 else nt_pp if s.pp > 1 else nt_one).append(nt)
        ab = dtype_bytes(canonical_dtype(s.dtype))
        tokens = s.max_num_batched_tokens
        peak = gib(f["torch_peak_increase_gib"]) - moe_workspace(o.arch, tokens, s.tp, ab)
        forward_bound = s.pp > 1 or canonical_dtype(s.dtype) == "fp32"
        if forward_bound:
            fwd.append(peak / (ab * tokens * (o.arch.d_model + dense_mlp_width(o.arch, s.tp))))
        else:
            rows = min(s.max_num_seqs, tokens)
            samp.append((Fraction(rows * o.arch.vocab_size), peak - ab * tokens * o.arch.d_model))
    # least squares of y = c x + b over the sampler-bound logs
    n = len(samp)
    sx = sum((x for x, _ in samp), Fraction(0))
    sy = sum((y for _, y in samp), Fraction(0))
    sxx = sum((x * x for x, _ in samp), Fraction(0))
    sxy = sum((x * y for x, y in samp), Fraction(0))
    c = (n * sxy - sx * sy) / (n * sxx - sx * sx)
    b = (sy - c * sx) / n
    return Calibration(
        context_one=round(_mean(ctx_one)), context_multi=round(_mean(ctx_multi)),
        non_torch_one=round(_mean(nt_one)), non_torch_tp=round(_mean(nt_tp)), non_torch_pp=round(_mean(nt_pp)),
        sampler_bytes_per_logit=c.limit_denominator(10 ** 6), sampler_fixed=round(b),
        forward_factor=_mean(fwd).limit_denominator(10 ** 6),
        logs=tuple(o.id for o in observations))
