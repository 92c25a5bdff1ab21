"""SGLang's KV-cache capacity (0.4.x, 0.5.x): see ``core.serve.engines``."""

from __future__ import annotations

from fractions import Fraction

from ...spec.arch import Architecture
from .layouts import layer_specs
from .startup import context, weights_loaded
from .terms import DEVICE, GIVEN, RULE, Term, cdiv, floor

from .capacity import (SGL_RUNNER, EngineCapacity, EngineSetup, Group, StageResult, _physical_per_token, _stage_layers, _version_tuple)


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
