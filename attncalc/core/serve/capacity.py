"""What every engine's capacity rule shares: the setup (engine, version, knobs, device, layout), the
typed result (groups, stages, terms) and the helpers; each engine's rule is in its own module
(``vllm``, ``sglang``, ``trtllm``), chosen by ``engines.engine_capacity``."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from ...errors import WorkloadError
from ...spec.arch import Architecture
from ..memory.layout import check_pp, check_tp, stage_kinds
from ..memory.quant import QuantScheme
from .calibration import CAL, Calibration
from .devices import Device
from .layouts import LayerSpec
from .startup import Measured
from .terms import Term

ENGINES = ("vllm", "sglang", "tensorrt-llm")
DEFAULT_VERSION = {"vllm": "0.19.0", "sglang": "0.5.4", "tensorrt-llm": "1.0"}
VLLM_KV = "vllm/v1/core/kv_cache_utils.py"
VLLM_WORKER = "vllm/v1/worker/gpu_worker.py"
SGL_RUNNER = "python/sglang/srt/model_executor/model_runner.py"
TRT_UTIL = "tensorrt_llm/_torch/pyexecutor/_util.py"
TRT_CPP = "cpp/tensorrt_llm/batch_manager/kvCacheManager.cpp"


@dataclass(frozen=True)
class EngineSetup:
    """The engine, its version and knobs, the device and the parallel layout."""

    engine: str = "vllm"
    device: Device | None = None
    version: str | None = None
    tp: int = 1
    pp: int = 1
    dp: int = 1
    dtype: str = "bf16"  # the model (activation) dtype
    quant: QuantScheme = QuantScheme()
    kv_cache_dtype: str = "auto"
    gpu_memory_utilization: Fraction | None = None  # vLLM (default 0.9)
    mem_fraction_static: Fraction | None = None  # SGLang (default by version)
    free_gpu_memory_fraction: Fraction | None = None  # TensorRT-LLM (default 0.9)
    max_model_len: int | None = None  # default: the model's n_ctx
    max_num_batched_tokens: int | None = None
    max_num_seqs: int | None = None
    block_size: int | None = None  # vLLM block, SGLang page, TensorRT-LLM tokens_per_block
    enforce_eager: bool = False
    estimate_cudagraphs: bool = False  # vLLM VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS (0 in 0.19.0)
    disable_hybrid_kv_cache_manager: bool = False
    max_total_tokens: int | None = None  # SGLang --max-total-tokens
    swa_full_tokens_ratio: Fraction = Fraction(4, 5)  # SGLang default 0.8
    backend: str | None = None  # TensorRT-LLM: pytorch (default) | cpp
    measured: Measured = Measured()
    calibration: Calibration = CAL

    @property
    def ranks(self) -> int:
        return self.tp * self.pp

    @property
    def version_or_default(self) -> str:
        return self.version or DEFAULT_VERSION[self.engine]


@dataclass(frozen=True)
class Group:
    """One KV-cache group as the engine forms it (vLLM); one pool (SGLang, TensorRT-LLM)."""

    spec: str
    kinds: tuple[str, ...]
    layers: int  # layers of the whole model in this group (vLLM: group_size, padding included)
    block_size: int
    page_bytes: int  # one block of one layer on one rank
    request_blocks: int  # blocks one request of max_model_len takes in this group

    def as_dict(self) -> dict:
        return {"spec": self.spec, "kinds": list(self.kinds), "layers": self.layers, "block_size": self.block_size,
                "page_bytes": self.page_bytes, "request_blocks": self.request_blocks}


@dataclass(frozen=True)
class StageResult:
    stage: int
    terms: tuple[Term, ...]
    kv_bytes: int  # what this rank gives the KV cache
    blocks: int  # blocks (tokens for SGLang) this rank could hold


@dataclass(frozen=True)
class EngineCapacity:
    engine: str
    family: str
    version: str
    setup: EngineSetup
    specs: tuple[LayerSpec, ...]
    groups: tuple[Group, ...]
    stages: tuple[StageResult, ...]
    binding_stage: int
    kv_bytes: int  # KV memory on the binding rank (the pool the engine allocates)
    kv_blocks: int
    kv_tokens: int  # the token capacity the engine logs
    block_size: int
    max_model_len: int
    max_concurrency: Fraction  # requests of max_model_len tokens at once
    request_bytes: int  # what one max_model_len request takes in the engine's accounting (one rank)
    physical_bytes_per_token: Fraction  # attncalc's exact cache per token at max_model_len, one rank
    max_num_seqs: int
    max_num_batched_tokens: int
    defaults: dict[str, str] = field(default_factory=dict)  # knobs the engine's defaults set, and why
    notes: tuple[str, ...] = ()

    @property
    def terms(self) -> tuple[Term, ...]:
        return self.stages[self.binding_stage].terms

    @property
    def logged_bytes_per_token(self) -> Fraction:
        return Fraction(self.kv_bytes, self.kv_tokens) if self.kv_tokens else Fraction(0)


# --- shared --------------------------------------------------------------------------------------


def _check(a: Architecture, s: EngineSetup) -> None:
    if s.engine not in ENGINES:
        raise WorkloadError(f"--engine: unknown {s.engine!r}; use one of {', '.join(ENGINES)}")
    if s.device is None:
        raise WorkloadError("--engine needs the device: --hw NAME or --gpu-memory BYTES")
    for name in ("tp", "pp", "dp"):
        v = getattr(s, name)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise WorkloadError(f"--{name} must be an integer >= 1, got {v!r}")
    check_tp(a, s.tp)
    check_pp(a, s.pp)
    for name in ("max_model_len", "max_num_batched_tokens", "max_num_seqs", "block_size", "max_total_tokens"):
        v = getattr(s, name)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise WorkloadError(f"--{name.replace('_', '-')} must be an integer >= 1, got {v!r}")
    for name in ("gpu_memory_utilization", "mem_fraction_static", "free_gpu_memory_fraction"):
        v = getattr(s, name)
        if v is not None and not 0 < v <= 1:
            raise WorkloadError(f"--{name.replace('_', '-')} must be in (0, 1], got {v}")


def _stage_layers(a: Architecture, pp: int) -> list[dict[str, int]]:
    return stage_kinds(a, pp)


def _version_tuple(v: str) -> tuple[int, ...]:
    out = []
    for p in v.lstrip("v").split("."):
        digits = "".join(ch for ch in p if ch.isdigit())
        if not digits:
            break
        out.append(int(digits))
    return tuple(out) or (0,)


def _physical_per_token(specs: list[LayerSpec], context: int) -> Fraction:
    """attncalc's exact cache per token at ``context`` on one rank: each kind's bytes for the tokens
    it keeps (a window caps them), its state once per sequence, averaged over the context."""
    total = Fraction(0)
    for sp in specs:
        kept = min(context, sp.window) if sp.window else context
        total += sp.layers * (sp.token_bytes * kept + sp.sequence_bytes + sp.indexer_bytes * kept)
    return total / context if context else Fraction(0)
