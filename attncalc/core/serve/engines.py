"""Serving engines' KV-cache capacity, term by term, as each engine computes and logs it at start-up.

One function per engine and version family; each term names the engine source it follows
(tests/golden/engines/RULES.md holds the rules with the lines quoted and worked checks):

- ``vllm_v1`` (vLLM V1 engine, 0.11-0.19; "v1-late" for later builds): available =
  ceil(total × gpu_memory_utilization) − (weights + torch peak increase of the profile run + non-torch
  increase) [− the CUDA-graph estimate when VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS=1]
  (``Worker.determine_available_memory``); layers grouped by KV spec and pages unified
  (``kv_cache_utils.get_kv_cache_groups``); num_blocks = available // page // group_size
  (``get_num_blocks``; min over pipeline stages, ``get_kv_cache_configs``); "GPU KV cache size" =
  num_blocks // groups × block_size and "Maximum concurrency" = num_blocks / blocks one request of
  max_model_len needs (``_report_kv_cache_config``, ``get_max_concurrency_for_kv_cache_config``).
  Later builds log max_concurrency × max_model_len as the token count (vllm#51041).
- ``vllm_v0`` (≤ 0.6): kv = total × util − peak torch memory (weights included, profiled at
  max_num_batched_tokens = max(max_model_len, 2048) without chunked prefill) − non-torch;
  "# GPU blocks" = kv // (block_size × bytes per token of all layers) (``Worker.determine_num_available_blocks``).
- ``sglang`` (0.4.x / 0.5.x): rest = free after the weights − free before the weights × (1 −
  mem_fraction_static); max_total_num_tokens = rest // cell_size (``ModelRunner.profile_max_num_token``),
  rounded down to the page size (``init_memory_pool``); the mem_fraction_static default by version
  (0.4.x: by tensor-parallel size; 0.5.x: ``ServerArgs._handle_gpu_memory_settings``); Mamba/GDN state
  carved out first (``handle_max_mamba_cache``); sliding-window pools split by swa_full_tokens_ratio
  (``set_num_token_hybrid``).
- ``trtllm_pytorch`` (TensorRT-LLM PyTorch backend, ``KvCacheCreator._cal_max_memory``): available =
  (total − peak + temporary KV) × free_gpu_memory_fraction; max_tokens = available // kv_size_per_token;
  blocks of tokens_per_block (32).
- ``trtllm_cpp`` (TensorRT engines, ``BaseKVCacheManager::calculateMaxNumBlocks``): free after the
  engine's buffers × free_gpu_memory_fraction // bytes per token, in blocks of tokens_per_block (64).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from fractions import Fraction

from ...dtypes import canonical_dtype, dtype_bytes
from ...errors import WorkloadError
from ...spec.arch import Architecture
from ..memory.layout import check_pp, check_tp, stage_kinds
from ..memory.quant import QuantScheme
from .calibration import CAL, Calibration
from .devices import Device
from .layouts import LayerSpec, kv_format, layer_specs
from .startup import Measured, context, non_torch, vllm_profile_peak, weights_loaded
from .terms import CALIBRATED, DEVICE, GIVEN, MODELLED, RULE, Term, cdiv, ceil, floor

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


# --- vLLM ----------------------------------------------------------------------------------------


def vllm_family(version: str) -> str:
    v = _version_tuple(version)
    if v[:2] < (0, 7):
        return "v0"
    if v[:2] > (0, 19) or v[0] >= 1:
        return "v1-late"
    return "v1"


def _vllm_defaults(s: EngineSetup, a: Architecture) -> tuple[int, int, int, dict[str, str]]:
    """max_model_len, max_num_batched_tokens, max_num_seqs (``EngineArgs._set_default_max_num_seqs_and_
    batched_tokens_args``: 8192 and 1024 for the OpenAI server on a GPU of >= 70 GiB that is not an
    A100, else 2048 and 256)."""
    why = {}
    mml = s.max_model_len or a.n_ctx
    if s.max_model_len is None:
        why["max_model_len"] = "the model's max_position_embeddings (n_ctx)"
    big = s.device.cuda_total >= 70 * (1 << 30) and "a100" not in s.device.name
    mnbt, mns = s.max_num_batched_tokens, s.max_num_seqs
    if vllm_family(s.version_or_default) == "v0" and mnbt is None:
        mnbt = max(mml, 2048)
        why["max_num_batched_tokens"] = "V0 without chunked prefill: max(max_model_len, 2048)"
    if mnbt is None:
        mnbt = 8192 if big else 2048
        why["max_num_batched_tokens"] = f"{mnbt}: OpenAI server default on {'>= 70 GiB (not A100)' if big else 'this GPU'}"
    if mns is None:
        mns = (256 if vllm_family(s.version_or_default) == "v0" else (1024 if big else 256))
        why["max_num_seqs"] = f"{mns}: server default"
    return mml, mnbt, mns, why


def _vllm_block_size(s: EngineSetup, specs: list[LayerSpec]) -> tuple[int, dict[str, str]]:
    why = {}
    if s.block_size is not None:
        bs = s.block_size
    else:
        fmt = kv_format(s.kv_cache_dtype, s.dtype)
        bs = 64 if fmt == "fp8_ds_mla" else 16
        why["block_size"] = (f"{bs}: " + ("FlashMLA sparse backend (fp8_ds_mla) preferred block" if bs == 64 else
                                          "CacheConfig.DEFAULT_BLOCK_SIZE"))
    attn = [sp for sp in specs if sp.spec != "mamba"]
    mamba = [sp for sp in specs if sp.spec == "mamba"]
    if mamba and attn:  # HybridAttentionMambaModelConfig.verify_and_update_config
        align = 64 if attn[0].spec == "mla" else 16
        one = attn[0].token_bytes
        need = align * ceil(Fraction(max(m.sequence_bytes for m in mamba)) / (align * one))
        if need > bs:
            bs = need
            why["block_size"] = (f"{bs}: raised so the attention page holds the Mamba state "
                                 "(HybridAttentionMambaModelConfig.verify_and_update_config)")
    return bs, why


def _vllm_page(sp: LayerSpec, bs: int, attn_page: int | None) -> int:
    if sp.spec == "mamba":
        return max(sp.sequence_bytes, attn_page or 0)  # padded up to the attention page
    return int(bs * (sp.token_bytes + sp.indexer_bytes))


def _mmu_blocks(sp: LayerSpec, block: int, mml: int, mnbt: int) -> int:
    """Blocks of ``block`` tokens one request of max_model_len takes in this spec
    (``KVCacheSpec.max_memory_usage_bytes`` / page)."""
    if sp.spec == "mamba":
        return 1
    if sp.spec == "sliding":
        return cdiv(min(sp.window - 1 + mnbt, mml), block) + 1
    if sp.spec == "chunked":
        return cdiv(min(sp.window + mnbt, mml), block)
    return cdiv(mml, block)


def _vllm_groups(specs: list[LayerSpec], bs: int, mml: int, mnbt: int, hybrid_manager: bool):
    """(case, groups, page, group_size, per-type group count) per ``get_kv_cache_groups``."""
    if not hybrid_manager:  # unify_hybrid_kv_cache_specs: windowed layers kept as full attention
        specs = [replace(sp, spec="full", window=None) if sp.spec in ("sliding", "chunked") else sp for sp in specs]
    attn_page = next((_vllm_page(sp, bs, None) for sp in specs if sp.spec != "mamba"), None)
    pages = {sp.kind: _vllm_page(sp, bs, attn_page) for sp in specs}
    types: dict[tuple, list[LayerSpec]] = {}
    for sp in specs:
        types.setdefault((sp.spec, pages[sp.kind], sp.window), []).append(sp)
    if len(types) == 1:
        (spec, page, _), members = next(iter(types.items()))
        n = sum(m.layers for m in members)
        g = Group(spec, tuple(m.kind for m in members), n, bs, page, _mmu_blocks(members[0], bs, mml, mnbt))
        return "uniform", [g], page, n, {}
    if all(sp.spec in ("full", "mla") for sp in specs):  # UniformTypeKVCacheSpecs: one group, per-layer pages
        total_page = sum(pages[sp.kind] * sp.layers for sp in specs)
        n = sum(sp.layers for sp in specs)
        g = Group("full", tuple(sp.kind for sp in specs), n, bs, total_page, cdiv(mml, bs))
        return "uniform-type", [g], total_page, n, {}
    # hybrid: unify_kv_cache_spec_page_size, then _get_kv_cache_groups_uniform_page_size
    big = max(pages.values())
    counts = {key: sum(m.layers for m in members) for key, members in types.items()}
    lo, hi = min(counts.values()), max(counts.values())
    group_size = hi if hi < lo * Fraction(3, 2) else lo
    groups, per_type = [], {}
    for key, members in types.items():
        page = key[1]
        if big % page:
            raise WorkloadError("vLLM cannot unify these KV page sizes (the largest is not a multiple of each)")
        block = bs * (big // page) if members[0].spec != "mamba" else bs
        n_groups = cdiv(counts[key], group_size)
        per_type[key] = (n_groups, [m.kind for m in members])
        for _ in range(n_groups):
            groups.append(Group(key[0], tuple(m.kind for m in members), group_size, block, big,
                                _mmu_blocks(members[0], block, mml, mnbt)))
    return "hybrid", groups, big, group_size, per_type


def vllm_v1(a: Architecture, s: EngineSetup) -> EngineCapacity:
    fam = vllm_family(s.version_or_default)
    specs = layer_specs(a, "vllm", tp=s.tp, kv_dtype=s.kv_cache_dtype, model_dtype=s.dtype)
    if not specs:
        raise WorkloadError(f"{a.name}: no layer keeps a cache")
    mml, mnbt, mns, defaults = _vllm_defaults(s, a)
    if fam == "v0":
        return _vllm_v0(a, s, specs, mml, mnbt, mns, defaults)
    bs, why = _vllm_block_size(s, specs)
    defaults |= why
    util = s.gpu_memory_utilization if s.gpu_memory_utilization is not None else Fraction(9, 10)
    if s.gpu_memory_utilization is None:
        defaults["gpu_memory_utilization"] = "0.9: CacheConfig default"
    case, groups, page, group_size, per_type = _vllm_groups(specs, bs, mml, mnbt, not s.disable_hybrid_kv_cache_manager)
    total = s.device.cuda_total
    requested = ceil(total * util)
    weights = weights_loaded(a, tp=s.tp, pp=s.pp, quant=s.quant, dtype=s.dtype, engine="vllm", measured=s.measured)
    nt = non_torch(s.calibration, tp=s.tp, pp=s.pp, measured=s.measured)
    held = _stage_layers(a, s.pp)
    stages = []
    for i, kinds_held in enumerate(held):
        last = i == len(held) - 1
        peak = vllm_profile_peak(a, s.calibration, tp=s.tp, tokens=mnbt, rows=mns, act_dtype=s.dtype,
                                 last_stage=last, measured=s.measured,
                                 expert_format=s.quant.format_for("expert").name).term
        graphs = Term("CUDA graphs (estimate)", s.measured.cuda_graphs or 0, GIVEN if s.measured.cuda_graphs else RULE,
                      f"{VLLM_WORKER} determine_available_memory",
                      "subtracted only with VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS=1 (0 in 0.19.0): graphs are "
                      "captured after the KV cache, out of the 1 − utilization headroom")
        non_kv = weights[i].value + peak.value + nt.value
        applied = graphs.value if s.estimate_cudagraphs else 0
        if s.measured.available_kv is not None:
            avail = Term("available KV cache memory", s.measured.available_kv, GIVEN, "log: 'Available KV cache memory'")
        else:
            avail = Term("available KV cache memory", requested - non_kv - applied, RULE,
                         f"{VLLM_WORKER} determine_available_memory",
                         "requested − (weights + torch peak increase + non-torch increase)"
                         + (" − CUDA-graph estimate" if s.estimate_cudagraphs else ""))
        if avail.value < 0:
            raise WorkloadError(f"vLLM would not start: rank 0 of stage {i} needs {non_kv:,} bytes besides the KV "
                                f"cache, more than the requested {requested:,} (util {float(util):g})")
        m = avail.value
        if case == "uniform":
            layers_here = sum(kinds_held.get(k, 0) for k in groups[0].kinds)
            blocks = m // page // layers_here
            rule = f"available // page {page:,} // {layers_here} layers (get_num_blocks)"
        elif case == "uniform-type":
            pg = sum(_vllm_page(sp, bs, None) * kinds_held.get(sp.kind, 0) for sp in specs)
            blocks = m // pg
            rule = f"available // Σ per-layer pages {pg:,} (UniformTypeKVCacheSpecs)"
        else:
            gs = max(cdiv(sum(kinds_held.get(k, 0) for k in ks), n) for (n, ks) in per_type.values())
            blocks = m // page // gs
            rule = f"available // page {page:,} // group size {gs} on this stage (get_num_blocks)"
        terms = (Term("device total", total, DEVICE, s.device.source),
                 Term("requested", requested, RULE, "vllm/v1/worker/utils.py request_memory",
                      f"ceil(total × {util})"),
                 weights[i], peak, nt, graphs, avail,
                 Term("blocks", blocks, RULE, f"{VLLM_KV} get_kv_cache_config_from_groups", rule, unit="blocks"))
        stages.append(StageResult(i, terms, m, blocks))
    binding = min(range(len(stages)), key=lambda j: stages[j].blocks)
    num_blocks = stages[binding].blocks if s.measured.num_blocks is None else s.measured.num_blocks
    min_block = min(g.block_size for g in groups)
    if case == "hybrid":
        per_req = sum(g.request_blocks for g in groups)
        per_req = cdiv(per_req * page, page)
    else:
        per_req = groups[0].request_blocks
    conc = Fraction(num_blocks, per_req)
    tokens = num_blocks // len(groups) * min_block
    notes = []
    if fam == "v1-late":
        tokens = floor(conc * mml)
        notes.append("later builds log max_concurrency × max_model_len as the token count (vllm#51041)")
    if case == "hybrid" and any(g.spec in ("sliding", "chunked") for g in groups):
        notes.append("'GPU KV cache size' charges every group a block per block of tokens, windowed layers "
                     "included; 'Maximum concurrency' counts the window")
    return EngineCapacity("vllm", fam, s.version_or_default, s, tuple(specs), tuple(groups), tuple(stages), binding,
                          stages[binding].kv_bytes, num_blocks, tokens, min_block, mml, conc,
                          per_req * page * (group_size if case == "hybrid" else
                                            (1 if case == "uniform-type" else groups[0].layers)),
                          _physical_per_token(specs, mml), mns, mnbt, defaults, tuple(notes))


def _vllm_v0(a, s, specs, mml, mnbt, mns, defaults) -> EngineCapacity:
    """vLLM V0 (``Worker.determine_num_available_blocks``): total × util − peak torch (weights included)
    − non-torch; blocks of block_size tokens over every layer (a sliding window is not dropped)."""
    bs = s.block_size or 16
    util = s.gpu_memory_utilization if s.gpu_memory_utilization is not None else Fraction(9, 10)
    total = s.device.cuda_total
    weights = weights_loaded(a, tp=s.tp, pp=s.pp, quant=s.quant, dtype=s.dtype, engine="vllm", measured=Measured())
    peak = vllm_profile_peak(a, s.calibration, tp=s.tp, tokens=mnbt, rows=mns, act_dtype=s.dtype,
                             last_stage=True, measured=Measured()).term
    nt = non_torch(s.calibration, tp=s.tp, pp=s.pp, measured=Measured())
    if s.measured.torch_peak is not None:  # V0 logs the peak with the weights in it
        torch_peak = Term("peak torch memory", s.measured.torch_peak, GIVEN, "log: 'peak_torch_memory'")
    else:
        torch_peak = Term("peak torch memory", weights[0].value + peak.value, MODELLED,
                          "vllm/worker/worker.py determine_num_available_blocks", "weights + profile-run peak")
    nt = Term(nt.name, s.measured.non_torch, GIVEN, "log") if s.measured.non_torch is not None else nt
    kv = Term("kv_cache_size", floor(total * util) - torch_peak.value - nt.value, RULE,
              "vllm/worker/worker.py determine_num_available_blocks", "total × util − peak torch − non-torch")
    if s.measured.available_kv is not None:
        kv = Term("kv_cache_size", s.measured.available_kv, GIVEN, "log: 'kv_cache_size'")
    layers = sum(sp.layers for sp in specs)
    block_bytes = sum(int(bs * sp.token_bytes) * sp.layers for sp in specs)
    blocks = max(kv.value, 0) // block_bytes
    terms = (Term("device total", total, DEVICE, s.device.source), torch_peak, nt, kv,
             Term("blocks", blocks, RULE, "vllm/worker/cache_engine.py get_cache_block_size",
                  f"kv // ({bs} tokens × Σ {layers} layers' bytes per token)", unit="blocks"))
    g = Group("full", tuple(sp.kind for sp in specs), layers, bs, block_bytes, cdiv(mml, bs))
    conc = Fraction(blocks, cdiv(mml, bs))
    return EngineCapacity("vllm", "v0", s.version_or_default, s, tuple(specs), (g,), (StageResult(0, terms, kv.value, blocks),),
                          0, kv.value, blocks, blocks * bs, bs, mml, conc, cdiv(mml, bs) * block_bytes,
                          _physical_per_token(specs, mml), mns, mnbt, defaults,
                          ("V0: the profile runs max_num_batched_tokens = max_model_len, so the pool shrinks as the "
                           "context grows (vllm#10517)",))


# --- SGLang --------------------------------------------------------------------------------------


def sglang_family(version: str) -> str:
    return "0.4" if _version_tuple(version)[:2] < (0, 5) else "0.5"


def sglang_mem_fraction(s: EngineSetup) -> tuple[Fraction, str, int]:
    """mem_fraction_static's default and chunked_prefill_size: 0.4.x by tensor-parallel size
    (``ServerArgs.__post_init__``); 0.5.x from nvidia-smi's total (``_handle_gpu_memory_settings``)."""
    fam = sglang_family(s.version_or_default)
    if fam == "0.4":
        t = s.tp
        v = "0.79" if t >= 16 else "0.81" if t >= 8 else "0.85" if t >= 4 else "0.87" if t >= 2 else "0.88"
        return Fraction(v), f"{v}: 0.4.x default for tp {t} (ServerArgs.__post_init__)", 8192
    gpu = s.device.smi_total_mib
    if gpu is None:
        return Fraction(88, 100), "0.88: 0.5.x default when the GPU memory is unknown", 4096
    small = s.tp < 4
    table = [(20 * 1024, 2048, 8, 8), (35 * 1024, 2048, 16, 80), (60 * 1024, 4096, 32, 160),
             (90 * 1024, 8192, 256, 512), (160 * 1024, 8192, 256, 512)]
    chunk, graph_bs = 16384, 512
    for limit, c, g_small, g_big in table:
        if gpu < limit:
            chunk, graph_bs = c, (g_small if small else g_big)
            break
    reserved = 512 + Fraction(3, 2) * max(chunk, 2048) + graph_bs * 2 + Fraction(s.tp * s.pp, 8) * 1024
    if gpu > 60 * 1024:
        reserved = max(reserved, Fraction(10 * 1024))
    mfs = Fraction(round(Fraction(gpu - reserved, gpu) * 1000), 1000)  # round(…, 3)
    return mfs, (f"{float(mfs):.3f} = round(({gpu} MiB − reserved {float(reserved):g} MiB) / {gpu} MiB, 3) "
                 "(0.5.x _handle_gpu_memory_settings)"), chunk


def sglang(a: Architecture, s: EngineSetup) -> EngineCapacity:
    specs = layer_specs(a, "sglang", tp=s.tp, kv_dtype=s.kv_cache_dtype, model_dtype=s.dtype)
    defaults: dict[str, str] = {}
    mml = s.max_model_len or a.n_ctx
    if s.mem_fraction_static is not None:
        mfs, chunk = s.mem_fraction_static, 8192
    else:
        mfs, why, chunk = sglang_mem_fraction(s)
        defaults["mem_fraction_static"] = why
    page = s.block_size or 1
    total = s.device.cuda_total
    ctx = context(s.calibration, ranks=s.ranks, measured_free=s.measured.free_before_weights, total=total)
    before = Term("free before weights", total - ctx.value, RULE if s.measured.free_before_weights is None else GIVEN,
                  f"{SGL_RUNNER} init_torch_distributed (min over ranks)", "total − in use before start")
    weights = weights_loaded(a, tp=s.tp, pp=s.pp, quant=s.quant, dtype=s.dtype, engine="sglang", measured=s.measured)
    held = _stage_layers(a, s.pp)
    stages = []
    mamba = [sp for sp in specs if sp.spec == "mamba"]
    for i, kinds_held in enumerate(held):
        if s.measured.free_after_weights is not None:
            after = Term("free after weights", s.measured.free_after_weights, GIVEN, "log: 'Load weight end … avail mem'")
        else:
            after = Term("free after weights", before.value - weights[i].value, RULE, f"{SGL_RUNNER} load_model",
                         "free before − weights")
        rest_v = after.value - before.value * (1 - mfs)
        rest = Term("rest memory", floor(rest_v), RULE, f"{SGL_RUNNER} profile_max_num_token",
                    f"free after weights − free before × (1 − {mfs})")
        terms = [Term("device total", total, DEVICE, s.device.source), ctx, before, weights[i], after,
                 Term("mem_fraction_static", mfs, GIVEN if s.mem_fraction_static is not None else RULE,
                      "server_args.py", unit="fraction"), rest]
        r = Fraction(rest.value)
        if mamba:  # handle_max_mamba_cache, with the radix cache: state = rest × ratio / (1 + ratio)
            ratio = Fraction(9, 10)
            per_req = sum(sp.sequence_bytes * kinds_held.get(sp.kind, 0) for sp in mamba)
            n_state = floor(r * ratio / (1 + ratio) / per_req) if per_req else 0
            r -= n_state * per_req
            terms.append(Term("Mamba state slots", n_state, RULE, f"{SGL_RUNNER} handle_max_mamba_cache",
                              f"rest × 0.9 / 1.9 // {per_req:,} B per request", unit="requests"))
        attn = [sp for sp in specs if sp.spec != "mamba"]
        cell = sum((sp.budget_token_bytes if sp.budget_token_bytes is not None else sp.token_bytes) * kinds_held.get(sp.kind, 0)
                   + sp.indexer_bytes * kinds_held.get(sp.kind, 0) for sp in attn)
        terms.append(Term("cell size", cell, RULE, f"{SGL_RUNNER} profile_max_num_token",
                          "Σ layers' bytes per token on the rank" + (" (full-attention layers only)" if mamba else "")))
        tokens = floor(r / cell) if cell else 0
        if s.max_total_tokens is not None:
            tokens = min(tokens, s.max_total_tokens)
        tokens = tokens // page * page
        terms.append(Term("max_total_num_tokens", tokens, RULE, f"{SGL_RUNNER} init_memory_pool",
                          f"rest // cell, rounded down to page size {page}", unit="tokens"))
        stages.append(StageResult(i, tuple(terms), floor(r), tokens))
    binding = min(range(len(stages)), key=lambda j: stages[j].blocks)
    tokens = stages[binding].blocks
    notes = []
    windowed = [sp for sp in specs if sp.spec in ("sliding", "chunked")]
    full_tokens = tokens
    if windowed and len(windowed) < len([sp for sp in specs if sp.spec != "mamba"]):
        n_all = sum(sp.layers for sp in specs if sp.spec != "mamba")
        n_swa = sum(sp.layers for sp in windowed)
        ratio = s.swa_full_tokens_ratio
        full_tokens = floor(Fraction(tokens * n_all) / (ratio * n_swa + (n_all - n_swa)))
        notes.append(f"sliding-window pool: full layers {full_tokens:,} tokens, windowed layers "
                     f"{floor(full_tokens * ratio):,} (swa_full_tokens_ratio {float(ratio):g}, set_num_token_hybrid)")
    store = sum(sp.token_bytes * sp.layers + sp.indexer_bytes * sp.layers for sp in specs if sp.spec != "mamba")
    budget = sum(((sp.budget_token_bytes if sp.budget_token_bytes is not None else sp.token_bytes) + sp.indexer_bytes)
                 * sp.layers for sp in specs if sp.spec != "mamba")
    if store != budget:
        notes.append(f"the pool stores {store} B per token but the budget charges {budget} B: it outgrows its "
                     f"budget by {float((store - budget) * tokens) / (1 << 30):.2f} GiB")
    kv_bytes = floor((full_tokens + page) * store)
    mrr = min(max(int(Fraction(full_tokens, mml) * 512), 2048), 4096)
    defaults["max_running_requests"] = f"{mrr}: min(max(int(tokens / context_len × 512), 2048), 4096)"
    groups = (Group("pool", tuple(sp.kind for sp in specs), sum(sp.layers for sp in specs), page,
                    floor(store * page), cdiv(mml, page)),)
    return EngineCapacity("sglang", sglang_family(s.version_or_default), s.version_or_default, s, tuple(specs), groups,
                          tuple(stages), binding, kv_bytes, cdiv(full_tokens, page), full_tokens, page, mml,
                          Fraction(full_tokens, mml), floor(store * mml), _physical_per_token(specs, mml), mrr,
                          s.max_num_batched_tokens or chunk, defaults, tuple(notes))


# --- TensorRT-LLM --------------------------------------------------------------------------------


def trtllm(a: Architecture, s: EngineSetup) -> EngineCapacity:
    backend = s.backend or ("cpp" if _version_tuple(s.version_or_default)[0] < 1 else "pytorch")
    specs = layer_specs(a, "tensorrt-llm", tp=s.tp, kv_dtype=s.kv_cache_dtype, model_dtype=s.dtype)
    defaults: dict[str, str] = {}
    mml = s.max_model_len or a.n_ctx
    frac = s.free_gpu_memory_fraction if s.free_gpu_memory_fraction is not None else Fraction(9, 10)
    if s.free_gpu_memory_fraction is None:
        defaults["free_gpu_memory_fraction"] = "0.9: KvCacheConfig default"
    tpb = s.block_size or (32 if backend == "pytorch" else 64)
    if s.block_size is None:
        defaults["tokens_per_block"] = f"{tpb}: {'PyTorch backend' if backend == 'pytorch' else 'trtllm-build'} default"
    mnt = s.max_num_batched_tokens or 8192
    mns = s.max_num_seqs or 2048
    total = s.device.cuda_total
    ctx = context(s.calibration, ranks=s.ranks, measured_free=None, total=total)
    weights = weights_loaded(a, tp=s.tp, pp=s.pp, quant=s.quant, dtype=s.dtype, engine="tensorrt-llm",
                             measured=s.measured)
    held = _stage_layers(a, s.pp)
    stages = []
    for i, kinds_held in enumerate(held):
        per_token = sum(sp.token_bytes * kinds_held.get(sp.kind, 0) + sp.indexer_bytes * kinds_held.get(sp.kind, 0)
                        for sp in specs if sp.spec != "mamba")
        act = vllm_profile_peak(a, s.calibration, tp=s.tp, tokens=mnt, rows=min(mns, mnt), act_dtype=s.dtype,
                                last_stage=i == len(held) - 1, measured=Measured()).term
        if backend == "pytorch":
            if s.measured.peak is not None:
                peak = Term("peak memory", s.measured.peak, GIVEN, "log: 'Peak memory during memory usage profiling'")
            else:
                peak = Term("peak memory", ctx.value + weights[i].value + act.value, MODELLED,
                            f"{TRT_UTIL} KvCacheCreator (dummy context requests of max_num_tokens)",
                            "in use before start + weights + activation peak (the profile's temporary KV cache "
                            "is added back)")
            base = total - peak.value
            base_term = peak
        else:
            if s.measured.free_for_kv is not None:
                base_term = Term("free memory", s.measured.free_for_kv, GIVEN, "log: 'Memory usage when calculating max tokens'")
            else:
                base_term = Term("free memory", total - ctx.value - weights[i].value - act.value, MODELLED,
                                 f"{TRT_CPP} calculateFreeMemBytes",
                                 "total − in use before start − weights − the engine's activation buffers")
            base = base_term.value
        if s.measured.available_kv is not None:
            avail = Term("KV memory", s.measured.available_kv, GIVEN, "log")
        else:
            avail = Term("KV memory", floor(base * frac), RULE,
                         f"{TRT_UTIL} _cal_max_memory" if backend == "pytorch" else f"{TRT_CPP} calculateMaxNumBlocks",
                         f"({'total − peak' if backend == 'pytorch' else 'free'}) × {frac}")
        max_tokens = floor(avail.value / per_token)
        blocks = max_tokens // tpb
        terms = (Term("device total", total, DEVICE, s.device.source), ctx, weights[i], base_term, avail,
                 Term("bytes per token", per_token, RULE, "get_cache_size_per_token", unit="bytes"),
                 Term("blocks", blocks, RULE, f"{TRT_CPP} calculateMaxNumBlocks", f"max_tokens // {tpb}",
                      unit="blocks"))
        stages.append(StageResult(i, terms, avail.value, blocks))
    binding = min(range(len(stages)), key=lambda j: stages[j].blocks)
    blocks = stages[binding].blocks
    store = sum((sp.token_bytes + sp.indexer_bytes) * sp.layers for sp in specs if sp.spec != "mamba")
    groups = (Group("pool", tuple(sp.kind for sp in specs), sum(sp.layers for sp in specs), tpb,
                    floor(store * tpb), cdiv(mml, tpb)),)
    notes = []
    if any(sp.spec in ("sliding", "chunked") for sp in specs):
        notes.append("windowed layers are charged the full context here (max_attention_window not modelled)")
    return EngineCapacity("tensorrt-llm", backend, s.version_or_default, s, tuple(specs), groups, tuple(stages), binding,
                          stages[binding].kv_bytes, blocks, blocks * tpb, tpb, mml, Fraction(blocks, cdiv(mml, tpb)),
                          floor(store * cdiv(mml, tpb) * tpb), _physical_per_token(specs, mml), mns, mnt, defaults,
                          tuple(notes))


def engine_capacity(a: Architecture, s: EngineSetup) -> EngineCapacity:
    """The engine's KV-cache capacity on this model, device and layout (the engine's own arithmetic)."""
    _check(a, s)
    canonical_dtype(s.dtype)
    if s.engine == "vllm":
        return vllm_v1(a, s)
    if s.engine == "sglang":
        return sglang(a, s)
    return trtllm(a, s)
