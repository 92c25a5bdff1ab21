"""The few start-up figures an engine measures that attncalc does not derive, fitted on named logs.

Everything else an engine's rule reads is either its own arithmetic (core.serve.engines), a knob, or
attncalc's exact arithmetic over the description (weights per rank, cache bytes per token). What
remains is measured by the engine on the device at start-up, and is fitted here, on AT MOST A QUARTER
of tests/golden/engines/logs.json (the ids in ``CALIBRATION_LOGS``), so the rest stays a held-out
test (tests/test_engines.py):

- ``context``: memory in use before the engine's first snapshot: the CUDA context of the process, and
  with several ranks NCCL's communicators (vLLM logs it as total − "Initial free memory"). One rank,
  and several ranks.
- ``non_torch``: vLLM's "non-torch forward increase memory" (``memory_profiling``: CUDA memory used
  outside PyTorch's allocator, from engine creation to the end of the profile run: cuBLAS/cuDNN
  workspaces, and with tensor parallelism the custom all-reduce and NCCL buffers). One rank, tensor
  parallel, pipeline parallel.
- the profile run's activation peak (vLLM ``gpu_model_runner.profile_run``): the larger of the
  forward pass over ``max_num_batched_tokens`` tokens and the sampler warm-up over ``max_num_seqs``
  rows (``_dummy_sampler_run``: fp32 logits, then top-k/top-p over the full vocabulary, which sorts the
  logits: values and int64 indices, softmax and cumulative sums), plus the fused-MoE workspace,
  which stays allocated:
  - ``sampler_bytes_per_logit``: bytes of the sampler's live tensors per logit (rows × vocabulary);
  - ``sampler_fixed``: bytes the sampler warm-up adds whatever its size;
  - ``forward_factor``: the forward's peak per token, as a multiple of act_bytes × (d_model + the
    MLP's gate and up widths on the rank), the tensors live at the MLP of one layer.

``fit(entries)`` recomputes every constant from the logs named here (exact rationals from the printed
two-decimal GiB figures); the test holds the shipped constants equal to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

GIB = 1 << 30

# The logs the constants below are fitted on: 6 of the 87 entries of logs.json (under a quarter; all
# vLLM 0.19.0 on an H100 80GB HBM3, the llm-d sweep). Every other entry is held out.
CALIBRATION_LOGS = (
    "llmd-meta-llama-llama-3-1-8b---h100-80gb--tp1pp1dp1--8192",  # one rank: context, non-torch; sampler-bound
    "llmd-google-gemma-2-9b-it--h100-80gb--tp1pp1dp1--8192",  # sampler-bound, 256k vocabulary
    "llmd-meta-llama-llama-3--h100-80gb--tp1pp1dp1--8192-dtf32",  # forward-bound (fp32 activations)
    "llmd-meta-llama-llama-3-1-8b---h100-80gb--tp1pp2dp1--8192",  # pipeline: first stage, forward only; non-torch
    "llmd-meta-llama-llama-3-1-8b---h100-80gb--tp2pp1dp1--8192",  # tensor parallel 2: context, non-torch
    "llmd-qwen-qwen2-5-7b-instruct--h100-80gb--tp4pp1dp1--8192",  # tensor parallel 4: context, non-torch
)


@dataclass(frozen=True)
class Calibration:
    context_one: int  # bytes in use before the engine starts, one rank
    context_multi: int  # the same with several ranks (NCCL communicators)
    non_torch_one: int
    non_torch_tp: int
    non_torch_pp: int
    sampler_bytes_per_logit: Fraction
    sampler_fixed: int
    forward_factor: Fraction
    logs: tuple[str, ...] = CALIBRATION_LOGS

    def as_dict(self) -> dict:
        def num(x):
            x = Fraction(x)
            return x.numerator if x.denominator == 1 else str(x)

        return {"context_one": self.context_one, "context_multi": self.context_multi,
                "non_torch_one": self.non_torch_one, "non_torch_tp": self.non_torch_tp,
                "non_torch_pp": self.non_torch_pp, "sampler_bytes_per_logit": num(self.sampler_bytes_per_logit),
                "sampler_fixed": self.sampler_fixed, "forward_factor": num(self.forward_factor),
                "fitted_on": list(self.logs)}


def gib(text: str | float) -> Fraction:
    """A printed GiB figure as exact bytes (the printed digits, no float)."""
    return Fraction(str(text)) * GIB


# Fitted by core.serve.fit_calibration.fit on CALIBRATION_LOGS (tests/test_engines.py re-fits and compares):
# context 0.51 / 1.50 GiB, non-torch 0.25 / 2.10 / 0.07 GiB, 14.51 bytes per logit + 0.052 GiB, and the
# forward's 2.205 × act_bytes × tokens × (d_model + dense MLP gate/up width).
CAL = Calibration(
    context_one=547608330,
    context_multi=1614191875,
    non_torch_one=268435456,
    non_torch_tp=2254857830,
    non_torch_pp=75161928,
    sampler_bytes_per_logit=Fraction(10385647, 715603),
    sampler_fixed=55661483,
    forward_factor=Fraction(441, 200),
)
