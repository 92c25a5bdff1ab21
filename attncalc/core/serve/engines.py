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

from ...dtypes import canonical_dtype
from ...spec.arch import Architecture
from .capacity import DEFAULT_VERSION, ENGINES, EngineCapacity, EngineSetup, _check
from .sglang import sglang, sglang_mem_fraction
from .trtllm import trtllm
from .vllm import vllm_v1

__all__ = ["DEFAULT_VERSION", "ENGINES", "EngineCapacity", "EngineSetup", "engine_capacity", "sglang_mem_fraction"]


def engine_capacity(a: Architecture, s: EngineSetup) -> EngineCapacity:
    """The engine's KV-cache capacity on this model, device and layout (the engine's own arithmetic)."""
    _check(a, s)
    canonical_dtype(s.dtype)
    if s.engine == "vllm":
        return vllm_v1(a, s)
    if s.engine == "sglang":
        return sglang(a, s)
    return trtllm(a, s)
