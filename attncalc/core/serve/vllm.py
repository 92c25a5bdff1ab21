"""vLLM's KV-cache capacity (V1 0.11-0.19 and later builds; V0 <= 0.6): see ``core.serve.engines``."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

from ...errors import WorkloadError
from ...spec.arch import Architecture
from .layouts import LayerSpec, kv_format, layer_specs
from .startup import Measured, non_torch, vllm_profile_peak, weights_loaded
from .terms import DEVICE, GIVEN, MODELLED, RULE, Term, cdiv, ceil, floor

from .capacity import (VLLM_KV, VLLM_WORKER, EngineCapacity, EngineSetup, Group, StageResult, _physical_per_token, _stage_layers, _version_tuple)


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
    pages = {(sp.kind, sp.spec): _vllm_page(sp, bs, attn_page) for sp in specs}
    types: dict[tuple, list[LayerSpec]] = {}
    for sp in specs:
        types.setdefault((sp.spec, pages[(sp.kind, sp.spec)], sp.window), []).append(sp)
    if len(types) == 1:
        (spec, page, _), members = next(iter(types.items()))
        n = sum(m.layers for m in members)
        g = Group(spec, tuple(m.kind for m in members), n, bs, page, _mmu_blocks(members[0], bs, mml, mnbt))
        return "uniform", [g], page, n, {}
    if all(sp.spec in ("full", "mla") for sp in specs):  # UniformTypeKVCacheSpecs: one group, per-layer pages
        total_page = sum(pages[(sp.kind, sp.spec)] * sp.layers for sp in specs)
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
