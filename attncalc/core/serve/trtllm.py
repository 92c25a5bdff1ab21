"""TensorRT-LLM's KV-cache capacity (PyTorch backend, C++ engines): see ``core.serve.engines``."""

from __future__ import annotations

from fractions import Fraction

from ...spec.arch import Architecture
from .layouts import layer_specs
from .startup import Measured, context, vllm_profile_peak, weights_loaded
from .terms import DEVICE, GIVEN, MODELLED, RULE, Term, cdiv, floor

from .capacity import (TRT_CPP, TRT_UTIL, EngineCapacity, EngineSetup, Group, StageResult, _physical_per_token, _stage_layers, _version_tuple)


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
