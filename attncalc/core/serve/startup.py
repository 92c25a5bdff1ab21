"""What an engine measures at start-up on one rank, modelled from the one description.

Each figure is a ``Term`` saying how it was obtained: attncalc's exact arithmetic (the weights a rank
loads, the sampler's logits, the fused-MoE workspace), a constant fitted on named logs
(core.serve.calibration), or a figure read off a log (``Measured``), which always wins.

- Weights loaded (vLLM "Model loading took X GiB", ``torch.cuda.max_memory_allocated`` after
  ``load_model``; SGLang "Load weight end … mem usage"): the rank's exact serving weights
  (core.memory.serving.stage_weights, in the checkpoint's format with its scales), plus vLLM's
  rotary cos/sin cache (``RotaryEmbedding.cos_sin_cache``: max_position × rotary_dim in the model
  dtype, one per distinct rotary embedding, ``get_rope``'s cache; one counted).
- vLLM's profile run (``GPUModelRunner.profile_run``): a forward pass over ``max_num_batched_tokens``
  dummy tokens, then, on the last pipeline stage, the sampler warm-up on ``max_num_seqs`` rows
  (``_dummy_sampler_run``: fp32 logits of the whole vocabulary, gathered across tensor-parallel
  ranks, then top-k/top-p). Its torch peak increase is the larger of the two, plus the fused-MoE
  workspace the modular kernel keeps for the process (``WorkspaceManager``, sized by
  ``TritonExperts.workspace_shapes``: M × top_k × (max(ff/t, d) + max(2 ff/t, d)) activations).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from ...dtypes import canonical_dtype, dtype_bytes
from ...spec.arch import Architecture
from ..evaluate import kinds
from ..memory.layout import placed
from ..memory.serving import ServingSetup, stage_weights
from .calibration import Calibration
from .terms import CALIBRATED, GIVEN, MODELLED, Term, ceil

VLLM_RUNNER = "vllm/v1/worker/gpu_model_runner.py"


@dataclass(frozen=True)
class Measured:
    """Start-up figures read off a log (bytes); each replaces the modelled term of that name."""

    weights: int | None = None  # vLLM "Model loading took"; SGLang "mem usage"
    torch_peak: int | None = None  # vLLM "torch peak memory increase"
    non_torch: int | None = None  # vLLM "non-torch forward increase memory"
    cuda_graphs: int | None = None  # vLLM "Estimated CUDA graph memory"
    available_kv: int | None = None  # vLLM "Available KV cache memory"; TensorRT-LLM "available"
    free_before_weights: int | None = None  # SGLang "Load weight begin. avail mem"; vLLM "Initial free memory"
    free_after_weights: int | None = None  # SGLang "Load weight end … avail mem"
    peak: int | None = None  # TensorRT-LLM PyTorch: "Peak memory during memory usage profiling"
    free_for_kv: int | None = None  # TensorRT-LLM C++: "available" of "Memory usage when calculating max tokens"
    num_blocks: int | None = None  # vLLM "num_gpu_blocks is: N" (the report lines then follow from it)

    def any(self) -> bool:
        return any(v is not None for v in self.__dict__.values())


def _given(name: str, value: int, source: str) -> Term:
    return Term(name, value, GIVEN, source, "read off the log")


def rope_cache(a: Architecture, dtype: str) -> int:
    """vLLM's rotary cos/sin cache: max_position × rotary_dim in the model dtype (one per distinct
    rotary embedding; ``vllm/model_executor/layers/rotary_embedding``)."""
    if a.positions != "rotary":
        return 0
    dim = a.rope_dim if a.is_latent else a.head_dim
    return int(a.n_ctx * dim * dtype_bytes(dtype))


def weights_loaded(a: Architecture, *, tp: int, pp: int, quant, dtype: str, engine: str,
                   measured: Measured) -> list[Term]:
    """The weights each pipeline stage's rank 0 loads (with vLLM, its rotary cache)."""
    if measured.weights is not None:
        return [_given("weights", measured.weights, "log: weights loaded") for _ in range(pp)]
    per_stage = stage_weights(a, ServingSetup(tp=tp, pp=pp, quant=quant))
    rope = rope_cache(a, dtype) if engine == "vllm" else 0
    out = []
    for w in per_stage:
        formula = "rank's exact serving weights (core.memory.serving.stage_weights)"
        if rope:
            formula += f" + rotary cos/sin cache {rope:,} B"
        out.append(Term("weights", w + rope, MODELLED,
                        "vLLM gpu_model_runner.load_model 'Model loading took'" if engine == "vllm"
                        else "the weights the rank loads", formula))
    return out


def dense_mlp_width(a: Architecture, tp: int) -> int:
    """The widest gate + up output one token makes on a rank outside routed experts (a dense layer's
    MLP, or the shared experts every token runs): the MLP tensors live in the profile's forward (the
    routed experts' live in the fused-MoE workspace)."""
    widest = 0
    for kind in kinds(a):
        mlp = next((c for c in kind.children if c.name == "mlp"), None)
        if mlp is None:
            continue
        w = sum(times * -(-weight.rows // tp) for weight, times, experts in placed(mlp)
                if experts is None and weight.split == "col" and weight.module in ("gate", "up"))
        widest = max(widest, w)
    return widest


def moe_workspace(a: Architecture, tokens: int, tp: int, act_bytes: Fraction, expert_format: str = "") -> int:
    """vLLM's fused-MoE workspace for ``tokens`` tokens (``FusedMoEModularKernel`` via
    ``WorkspaceManager.get_simultaneous``: workspace13 of M × top_k × max(ff/t, d) shared with the output
    M × d, and workspace2 of M × top_k × max(2 ff/t, d), ``TritonExperts.workspace_shapes``), kept for
    the life of the process. 0 for a dense model, and for MXFP4 experts (``Mxfp4MoEMethod``'s
    triton_kernels / Marlin path allocates per call: the gpt-oss logs show no workspace)."""
    if not a.is_moe or expert_format.startswith("mxfp4"):
        return 0
    ff = 0
    for kind in kinds(a):
        mlp = next((c for c in kind.children if c.name == "mlp"), None)
        if mlp is None:
            continue
        for w, _, experts in placed(mlp):
            if experts is not None and w.module == "up":
                ff = max(ff, -(-w.rows // tp))
    if not ff:
        return 0
    d, k = a.d_model, a.top_k
    w13 = max(tokens * k * max(ff, d), tokens * d)
    w2 = tokens * k * max(2 * ff, d)
    return int(act_bytes * (w13 + w2))


@dataclass(frozen=True)
class ProfilePeak:
    forward: int
    sampler: int
    moe_workspace: int
    term: Term


def vllm_profile_peak(a: Architecture, cal: Calibration, *, tp: int, tokens: int, rows: int, act_dtype: str,
                      last_stage: bool, measured: Measured, expert_format: str = "") -> ProfilePeak:
    """The torch peak increase of vLLM's profile run on one rank (see the module docstring)."""
    ab = dtype_bytes(canonical_dtype(act_dtype))
    width = a.d_model + dense_mlp_width(a, tp)
    forward = ceil(cal.forward_factor * ab * tokens * width)
    sampler = 0
    if last_stage and a.unembedding != "none":
        r = min(rows, tokens)
        sampler = ceil(cal.sampler_bytes_per_logit * r * a.vocab_size) + cal.sampler_fixed + ceil(ab * tokens * a.d_model)
    ws = moe_workspace(a, tokens, tp, ab, expert_format)
    if measured.torch_peak is not None:
        return ProfilePeak(forward, sampler, ws, _given("torch peak increase", measured.torch_peak,
                                                         "log: 'torch peak memory increase'"))
    peak = max(forward, sampler) + ws
    formula = (f"max(forward {forward:,}: {cal.forward_factor} × {ab} B × {tokens:,} tokens × (d_model + MLP "
               f"gate/up width {width - a.d_model:,}), sampler {sampler:,}: {cal.sampler_bytes_per_logit} B × "
               f"{min(rows, tokens):,} rows × {a.vocab_size:,} vocabulary + {cal.sampler_fixed:,} + hidden states)")
    if ws:
        formula += f" + fused-MoE workspace {ws:,}"
    return ProfilePeak(forward, sampler, ws, Term("torch peak increase", peak, CALIBRATED,
                                                  f"{VLLM_RUNNER} profile_run (_dummy_run, _dummy_sampler_run)",
                                                  formula))


def non_torch(cal: Calibration, *, tp: int, pp: int, measured: Measured) -> Term:
    if measured.non_torch is not None:
        return _given("non-torch increase", measured.non_torch, "log: 'non-torch forward increase memory'")
    if tp > 1:
        v, why = cal.non_torch_tp, "tensor parallel (NCCL, custom all-reduce buffers)"
    elif pp > 1:
        v, why = cal.non_torch_pp, "pipeline parallel"
    else:
        v, why = cal.non_torch_one, "one rank (cuBLAS workspaces)"
    return Term("non-torch increase", v, CALIBRATED, "vllm/utils/mem_utils.py memory_profiling", why)


def context(cal: Calibration, *, ranks: int, measured_free: int | None, total: int) -> Term:
    """Memory in use before the engine's first snapshot (CUDA context; NCCL with several ranks)."""
    if measured_free is not None:
        return _given("in use before start", total - measured_free, "log: free memory at start")
    v = cal.context_multi if ranks > 1 else cal.context_one
    return Term("in use before start", v, CALIBRATED, "CUDA context" + (" and NCCL communicators" if ranks > 1 else ""),
                "total − free memory when the engine starts")
