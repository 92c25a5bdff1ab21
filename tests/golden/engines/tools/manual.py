import json
M = []
def E(**k):
    base = dict(origin="manual", engine_commit=None, status="started", knobs={}, figures={}, derived={})
    base.update(k); M.append(base)

E(id="vllm-21348-qwen3-235b-fp8-tp4", engine="vllm", engine_version=None, model="Qwen/Qwen3-235B-A22B-FP8",
  model_classes=["moe", "dense_gqa", "fp8_weights"], gpu={"model": "H100 (reported as '4xH100 GPUs')", "memory_gib_total_reported": None},
  num_gpus=4, parallelism={"tp": 4, "pp": 1, "dp": 1},
  knobs={"gpu_memory_utilization": None, "gpu_memory_utilization_note": "not given (vLLM default 0.9)", "max_model_len": None, "kv_cache_dtype": None,
         "kv_transfer_config": "{\"kv_connector\":\"LMCacheConnectorV1\",\"kv_role\":\"kv_both\"}",
         "command": "vllm serve /path/to/Qwen3-235B-A22B-FP8 --tensor-parallel-size 4 --kv-transfer-config '{\"kv_connector\":\"LMCacheConnectorV1\",\"kv_role\":\"kv_both\"}'"},
  log_lines={"available_kv_cache_memory": ["Available KV cache memory: 8.11 GiB"], "gpu_kv_cache_size": ["GPU KV cache size: 178,880 tokens"]},
  figures={"available_kv_cache_gib": 8.11, "gpu_kv_cache_tokens": 178880},
  derived={"bytes_per_token_per_rank": {"value": 48128, "arithmetic": "94 layers x 1 KV head per rank (4 heads / tp 4) x 128 head_dim x 2 (K,V) x 2 bytes (bf16 KV); config values from the HF config of Qwen3-235B-A22B, not from the log"},
           "tokens_if_all_available_used": {"value": 180936, "arithmetic": "8.11 * 2^30 / 48128 = 180,936 (printed GiB is rounded; 178,880 = 11,180 blocks x 16)"}},
  citation={"repo": "vllm-project/vllm", "issue": 21348, "url": "https://github.com/vllm-project/vllm/issues/21348", "author": "MMuzzammil1", "date": "2025-07-22",
            "note": "same machine as the SGLang entry sglang-in-vllm-21348; a commenter points to vllm PR #19312 (profiling order)"})

E(id="sglang-in-vllm-21348-qwen3-235b-fp8-tp4", engine="sglang", engine_version=None, model="Qwen/Qwen3-235B-A22B-FP8",
  model_classes=["moe", "dense_gqa", "fp8_weights"], gpu={"model": "H100 (reported as '4xH100 GPUs')", "memory_gib_total_reported": None},
  num_gpus=4, parallelism={"tp": 4, "pp": 1, "dp": 1},
  knobs={"mem_fraction_static": 0.93, "command": "python3 -m sglang.launch_server --model /path/to/Qwen3-235B-A22B-FP8 --tp 4 --trust-remote-code --host 0.0.0.0 --port 8000 --mem-fraction-static 0.93"},
  log_lines={"kv_cache_allocated": ["KV Cache is allocated. #tokens: 367404, K size: 8.23 GB, V size: 8.23 GB"]},
  figures={"kv_tokens": 367404, "k_size_gb_printed": 8.23, "v_size_gb_printed": 8.23},
  derived={"k_size_check": {"value_gib": 8.234, "arithmetic": "367,404 tokens x 94 layers x 1 KV head per rank x 128 x 2 B = 8,841,209,856 B = 8.234 GiB = printed 'K size: 8.23 GB' (SGLang's 'GB' is bytes / 2^30)"},
           "vs_vllm": {"value": 2.05, "arithmetic": "367,404 / 178,880 = 2.05x the vLLM pool on the same GPUs: mem_fraction_static 0.93 vs vLLM's default 0.9 and vLLM's profiled activation/non-torch reservation"}},
  citation={"repo": "vllm-project/vllm", "issue": 21348, "url": "https://github.com/vllm-project/vllm/issues/21348", "author": "MMuzzammil1", "date": "2025-07-22"})

E(id="sglang-11309-dsv32-b200-pr", engine="sglang", engine_version=None, engine_commit=None, model="deepseek-ai/DeepSeek-V3.2-Exp",
  model_classes=["mla", "moe", "sparse_attention_dsa", "fp8_kv"], gpu={"model": "B200 (reported as '8xB200')", "memory_gib_total_reported": None},
  num_gpus=8, parallelism={"tp": 8, "pp": 1, "dp": 8, "enable_dp_attention": True},
  knobs={"mem_fraction_static": None, "mem_fraction_static_note": "default of the PR branch (the PR text says main hardcoded 0.8 for this model)", "command": "python -m sglang.launch_server --model deepseek-ai/DeepSeek-V3.2-Exp --tp 8 --dp 8 --enable-dp-attention"},
  log_lines={"kv_cache_allocated": ["[2025-10-07 23:17:19 DP0 TP0] KV Cache is allocated. #tokens: 975424, KV size: 43.67 GB"],
             "memory_pool_end": ["[2025-10-07 23:17:19 DP0 TP0] Memory pool end. avail mem=37.71 GB"]},
  figures={"kv_tokens": 975424, "kv_size_gb_printed": 43.67, "avail_mem_after_pool_gb": 37.71},
  derived={"bytes_per_token": {"value": 48072, "arithmetic": "43.67 * 2^30 / 975424 = 48,072 B/token (printed size includes the indexer after this PR)"},
           "layout_check": {"value": 48068, "arithmetic": "61 layers x (656 B fp8 latent record: 512 fp8 + 4 fp32 scales (16 B) + 64 bf16 rope (128 B)) + 61 x (128 fp8 index key + 128/128 x 4 B scale = 132 B) = 40,016 + 8,052 = 48,068 B/token"}},
  citation={"repo": "sgl-project/sglang", "pr": 11309, "url": "https://github.com/sgl-project/sglang/pull/11309", "author": "trevor-m", "date": "2025-10-07", "section": "Results: 'With this PR'"})

E(id="sglang-11309-dsv32-b200-main", engine="sglang", engine_version=None, model="deepseek-ai/DeepSeek-V3.2-Exp",
  model_classes=["mla", "moe", "sparse_attention_dsa", "fp8_kv"], gpu={"model": "B200 (reported as '8xB200')", "memory_gib_total_reported": None},
  num_gpus=8, parallelism={"tp": 8, "pp": 1, "dp": 8, "enable_dp_attention": True},
  knobs={"mem_fraction_static": 0.8, "mem_fraction_static_note": "PR text: 'With main (hardcoded mem-fraction-static=0.8)'"},
  log_lines={"kv_cache_allocated": ["[2025-10-07 22:29:11 DP0 TP0] KV Cache is allocated. #tokens: 1462784, KV size: 54.52 GB"],
             "memory_pool_end": ["[2025-10-07 22:29:11 DP0 TP0] Memory pool end. avail mem=15.38 GB"],
             "author_note": ["With main (hardcoded mem-fraction-static=0.8) - KV size including index is actually 65.49 GB"]},
  figures={"kv_tokens": 1462784, "kv_size_gb_printed": 54.52, "avail_mem_after_pool_gb": 15.38},
  derived={"bytes_per_token_printed": {"value": 40020, "arithmetic": "54.52 * 2^30 / 1462784 = 40,020 ~ 61 x 656 = 40,016 (latent records only: before the PR the indexer was neither budgeted nor printed)"},
           "with_indexer": {"value_gib": 65.49, "arithmetic": "1462784 x 48,068 B = 65.49 GiB, the author's figure"}},
  citation={"repo": "sgl-project/sglang", "pr": 11309, "url": "https://github.com/sgl-project/sglang/pull/11309", "author": "trevor-m", "date": "2025-10-07", "section": "Results: 'With main'"})

for ctx, peak, kv, blocks, conc, extra in [(20000, "17.06", "3.81", "GPU blocks: 1952, # CPU blocks: 2048", "Maximum concurrency for 20000 tokens per request: 1.56x", None),
                                           (29000, "17.98", "2.89", "# GPU blocks: 1478, # CPU blocks: 2048", "Maximum concurrency for 29000 tokens per request: 0.82x",
                                            "The model's max seq len (29000) is larger than the maximum number of tokens that can be stored in KV cache (23648). Try increasing `gpu_memory_utilization` or decreasing `max_model_len` when initializing the engine.")]:
    ll = {"model_loading": ["Loading model weights took 14.9888 GB"],
          "memory_profiling": [f"Memory profiling results: total_gpu_memory=23.58GiB initial_memory_usage=15.34GiB peak_torch_memory={peak}GiB memory_usage_post_profile=15.35GiB non_torch_memory=0.35GiB kv_cache_size={kv}GiB gpu_memory_utilization=0.90"],
          "num_gpu_blocks": [blocks], "maximum_concurrency": [conc]}
    if extra: ll["startup_error"] = [extra]
    nb = int(blocks.split("blocks: ")[1].split(",")[0])
    E(id=f"vllm-10517-llama31-8b-3090-{ctx}", engine="vllm", engine_version=None, model="meta-llama/Llama-3.1-8B-Instruct",
      model_classes=["dense_gqa"], gpu={"model": "NVIDIA GeForce RTX 3090", "memory_gib_total_reported": 23.58}, num_gpus=1, parallelism={"tp": 1, "pp": 1, "dp": 1},
      status="failed" if extra else "started",
      knobs={"gpu_memory_utilization": 0.9, "max_model_len": ctx, "max_num_batched_tokens": None, "max_num_batched_tokens_note": "not stated; V0 engine profiles at max_num_batched_tokens (= max_model_len without chunked prefill), which is why peak_torch_memory grows with max_model_len",
             "block_size": 16, "block_size_note": "V0 default; consistent with blocks x 16 = tokens (1478 x 16 = 23,648)"},
      log_lines=ll, figures={"total_gpu_memory_gib": 23.58, "peak_torch_memory_gib": float(peak), "kv_cache_size_gib": float(kv), "num_gpu_blocks": nb},
      derived={"kv_check": {"value_gib": round(23.58*0.9 - float(peak) - 0.35, 2), "arithmetic": f"V0 rule: total 23.58 x 0.90 - peak_torch {peak} - non_torch 0.35 = {round(23.58*0.9-float(peak)-0.35,2)} vs printed {kv}"},
               "blocks_check": {"value": int(float(kv)*2**30 // (16*131072)), "arithmetic": f"{kv} GiB / (16 tokens x 131,072 B/token [32 layers x 8 KV heads x 128 x 2 x 2 B]) (printed GiB rounded)"}},
      citation={"repo": "vllm-project/vllm", "issue": 10517, "url": "https://github.com/vllm-project/vllm/issues/10517", "author": "kaspersiminski", "date": "2024-12-02",
                "note": "vLLM V0 engine (the 'Memory profiling results' line format of v0.6.4-era worker.py); exact version not stated"})

E(id="vllm-25350-fp8kv-100k", engine="vllm", engine_version=None, model=None, model_classes=["fp8_kv"],
  gpu={"model": None, "memory_gib_total_reported": None}, num_gpus=None, parallelism=None,
  knobs={"kv_cache_dtype": "fp8", "max_model_len": 100000},
  log_lines={"available_kv_cache_memory": ["Available KV cache memory: 10.55 GiB"], "gpu_kv_cache_size": ["GPU KV cache size: 230,528 tokens"],
             "maximum_concurrency": ["[kv_cache_utils.py:868] Maximum concurrency for 100,000 tokens per request: 2.31x"],
             "second_run_max_model_len_221000": ["ValueError: To serve at least one request with the models's max seq len (221000), (10.12 GiB KV cache is needed, which is larger than the available KV cache memory (5.59 GiB). Based on the available memory, the estimated maximum model length is 122080. Try increasing `gpu_memory_utilization` or decreasing `max_model_len` when initializing the engine."]},
  figures={"available_kv_cache_gib": 10.55, "gpu_kv_cache_tokens": 230528, "max_concurrency": 2.31},
  derived={"bytes_per_token": {"value": 49139, "arithmetic": "10.55 * 2^30 / 230528 = 49,139 B/token (rounded inputs)"},
           "note": "the second run's available memory (5.59 GiB) differs from the first (10.55 GiB) although only max_model_len changed: consistent with the activation profile growing with max_num_batched_tokens; model not given in the excerpt read"},
  citation={"repo": "vllm-project/vllm", "issue": 25350, "url": "https://github.com/vllm-project/vllm/issues/25350", "author": "ErykCh", "date": "2025-09-21",
            "note": "the thread continues with 'Model loading took 29.09' (excerpt cut there); model and GPU not in the excerpt read"})

E(id="vllm-40691-qwen35-27b-h20", engine="vllm", engine_version="0.19.0", model="Qwen/Qwen3.5-27B (issue environment names Qwen/Qwen3.5-35B-A3B; the command serves Qwen3.5-27B)",
  model_classes=["hybrid_linear_attention", "dense_gqa"], gpu={"model": "NVIDIA H20", "memory_gib_total_reported": None}, num_gpus=1, parallelism={"tp": 1, "pp": 1, "dp": 1},
  knobs={"max_model_len": 32768, "max_num_seqs": 16, "max_num_batched_tokens": 16384, "load_format": "dummy",
         "command": "vllm serve Qwen3.5-27B --trust-remote-code --max-model-len 32768 --max-num-seqs 16 --max-num-batched-token 16384 --load-format dummy"},
  log_lines={"gpu_kv_cache_size": ["INFO [kv_cache_utils.py:1319] GPU KV cache size: 290,864 tokens"], "maximum_concurrency": ["INFO [kv_cache_utils.py:1324] Maximum concurrency for 32,768 tokens per request: 33.04x"]},
  figures={"gpu_kv_cache_tokens": 290864, "max_concurrency": 33.04},
  derived={"inconsistency": {"value": 1082654, "arithmetic": "33.04 x 32,768 = 1,082,654 tokens of concurrency vs 290,864 printed: for hybrid models v0.19.0 prints num_blocks // n_groups x min_block_size, while concurrency divides num_blocks by the blocks one request needs summed over groups (mamba groups need 1 block per request)"}},
  citation={"repo": "vllm-project/vllm", "issue": 40691, "url": "https://github.com/vllm-project/vllm/issues/40691", "author": "SherryC41", "date": "2026-04-23"})

E(id="vllm-mitchross-1995-qwen38-27b-fp8-2x3090", engine="vllm", engine_version=None, model="Qwen3.8-27B-FP8 (as named in the PR)",
  model_classes=["hybrid_linear_attention", "fp8_kv", "fp8_weights"], gpu={"model": "NVIDIA GeForce RTX 3090 (2x, 200 W cap)", "memory_gib_total_reported": None}, num_gpus=2, parallelism={"tp": 2, "pp": 1, "dp": 1},
  knobs={"gpu_memory_utilization": 0.92, "max_model_len": 131072, "max_num_seqs": 2, "max_num_batched_tokens": 8192, "kv_cache_dtype": "fp8_e4m3", "enable_prefix_caching": True, "chunked_prefill": True},
  log_lines={"gpu_kv_cache_size": ["GPU KV cache size: 302,921 tokens"], "maximum_concurrency": ["Maximum concurrency for 131,072 tokens per request: 2.31x"]},
  figures={"gpu_kv_cache_tokens": 302921, "max_concurrency": 2.31},
  derived={"author_arithmetic": {"quoted": "16 layers x 4 kv-heads x 256 head-dim x 2 (K,V) x 1B fp8 = 32 KiB/token; Cross-check: 302,921 x 32 KiB = 9.24 GiB vs the measured 2 x 4.99 = 9.98 GiB pool; the delta is GDN state pages.", "note": "the author's, not ours; 302,921 is not a multiple of a block size, so this vLLM build prints max_concurrency x max_model_len (the later _report_kv_cache_config rule: 2.311 x 131,072)"}},
  citation={"repo": "mitchross/talos-argocd-proxmox", "pr": 1995, "url": "https://github.com/mitchross/talos-argocd-proxmox/pull/1995", "author": "mitchross", "date": "2026-08-16", "note": "boot-log lines quoted in the PR description; configuration taken from the PR's flag table (the 'Before' column)"})

E(id="vllm-23278-gptoss120b-h100-fail", engine="vllm", engine_version=None, model="openai/gpt-oss-120b", model_classes=["sliding_window_hybrid", "moe", "mxfp4_weights"],
  gpu={"model": "H100 (issue title)", "memory_gib_total_reported": None}, num_gpus=1, parallelism={"tp": 1, "pp": 1, "dp": 1}, status="failed",
  knobs={"note": "Hopper without native FP4: Marlin weight-only FP4 used (log warning)"},
  log_lines={"model_loading": ["(EngineCore_0 pid=5839) INFO 08-20 18:04:10 [gpu_model_runner.py:2007] Model loading took 65.9651 GiB and 12.799889 seconds"],
             "available_kv_cache_memory": ["(EngineCore_0 pid=5839) INFO 08-20 18:04:22 [gpu_worker.py:276] Available KV cache memory: -2.14 GiB"]},
  figures={"model_loading_gib": 65.9651, "available_kv_cache_gib": -2.14},
  citation={"repo": "vllm-project/vllm", "issue": 23278, "url": "https://github.com/vllm-project/vllm/issues/23278", "author": "QichangZheng", "date": "2025-08-20"})

E(id="vllm-27508-gptoss120b-h100-gmu095", engine="vllm", engine_version=None, model="openai/gpt-oss-120b", model_classes=["sliding_window_hybrid", "moe", "mxfp4_weights"],
  gpu={"model": "H100 (issue title)", "memory_gib_total_reported": None}, num_gpus=1, parallelism={"tp": 1, "pp": 1, "dp": 1}, status="failed",
  knobs={"gpu_memory_utilization": 0.95, "max_num_batched_tokens": 1024, "max_model_len": None, "max_model_len_note": "default (model's 131,072)", "command": "vllm serve openai/gpt-oss-120b --gpu-memory-utilization 0.95 --max-num-batched-tokens 1024"},
  log_lines={"available_kv_cache_memory": ["(EngineCore_DP0 pid=6880) INFO 10-31 15:07:49 [gpu_worker.py:298] Available KV cache memory: 1.71 GiB"]},
  figures={"available_kv_cache_gib": 1.71},
  derived={"why_it_fails": {"value_gib": 4.5, "arithmetic": "one 131,072-token request needs 18 full layers x 131,072 x 2048 B + 18 sliding layers x (cdiv(min(127+1024, 131072),16)+1) x 16 x 2048 B = 4.5 GiB + 0.04 GiB > 1.71 GiB (vLLM page rule; 2048 B = 8 KV heads x 64 x 2 x 2)"}},
  citation={"repo": "vllm-project/vllm", "issue": 27508, "url": "https://github.com/vllm-project/vllm/issues/27508", "author": "matheusfvesco", "date": "2025-10-31"})

E(id="vllm-33155-gptoss120b-h100-v0141", engine="vllm", engine_version="0.14.1", model="openai/gpt-oss-120b", model_classes=["sliding_window_hybrid", "moe", "mxfp4_weights"],
  gpu={"model": "H100 (issue title: 'one H100')", "memory_gib_total_reported": None}, num_gpus=1, parallelism={"tp": 1, "pp": 1, "dp": 1}, status="failed",
  knobs={"note": "OOM after upgrading from v0.11.2; FLASH_ATTN backend, mxfp4 Triton backend (log)"},
  log_lines={"model_loading": ["^[[0;36m(EngineCore_DP0 pid=70073)^[[0;0m INFO 01-27 00:31:59 [gpu_model_runner.py:3905] Model loading took 64.38 GiB memory and 14.380607 seconds"]},
  figures={"model_loading_gib": 64.38},
  citation={"repo": "vllm-project/vllm", "issue": 33155, "url": "https://github.com/vllm-project/vllm/issues/33155", "author": "tonyaw", "date": "2026-01-27"})

E(id="vllm-13596-example", engine="vllm", engine_version=None, model=None, model_classes=[], gpu={"model": None}, num_gpus=None, parallelism=None,
  knobs={"max_model_len": 2048},
  log_lines={"before_pr": ["INFO 02-20 00:01:02 kv_cache_utils.py:522] # GPU blocks: 127626", "INFO 02-20 00:01:02 kv_cache_utils.py:525] Maximum concurrency for 2048 tokens per request: 997.08x"],
             "after_pr": ["INFO 02-19 23:56:55 kv_cache_utils.py:524] GPU KV cache size: 2,042,016 tokens", "INFO 02-19 23:56:55 kv_cache_utils.py:527] Maximum concurrency for 2,048 tokens per request: 997.08x"]},
  figures={"num_gpu_blocks": 127626, "gpu_kv_cache_tokens": 2042016, "max_concurrency": 997.08},
  derived={"tokens": {"value": 2042016, "arithmetic": "127,626 blocks x 16 = 2,042,016; / 2,048 = 997.08"}},
  citation={"repo": "vllm-project/vllm", "pr": 13596, "url": "https://github.com/vllm-project/vllm/pull/13596", "author": "WoosukKwon", "date": "2025-02-20", "note": "PR description; shows the log format change, model not stated"})

E(id="sglang-qwq32b-4xA10G-2025-03", engine="sglang", engine_version=None, model="Qwen/QwQ-32B", model_classes=["dense_gqa"],
  gpu={"model": None, "gpu_note": "24 GB class (avail mem 21.63 GB before weights); 4 ranks TP0..TP3", "memory_gib_total_reported": None}, num_gpus=4, parallelism={"tp": 4, "pp": 1, "dp": 1},
  knobs={"chunked_prefill_size": 2048, "max_prefill_tokens": 16384, "context_len": 131072, "mem_fraction_static": None, "mem_fraction_static_note": "not shown in the excerpt read"},
  log_lines={"load_weight_begin": ["[2025-03-08 12:29:13 TP0] Load weight begin. avail mem=21.63 GB"],
             "load_weight_end": ["[2025-03-08 12:29:21 TP0] Load weight end. type=Qwen2ForCausalLM, dtype=torch.bfloat16, avail mem=6.09 GB, mem usage=15.54 GB."],
             "kv_cache_allocated": ["[2025-03-08 12:29:21 TP0] KV Cache is allocated. #tokens: 46611, K size: 1.42 GB, V size: 1.42 GB"],
             "memory_pool_end": ["[2025-03-08 12:29:21 TP0] Memory pool end. avail mem=2.09 GB"],
             "cuda_graph": ["[2025-03-08 12:29:21 TP0] Capture cuda graph begin. This can take up to several minutes. avail mem=1.45 GB", "[2025-03-08 12:29:28 TP0] Capture cuda graph end. Time elapsed: 7.23 s. avail mem=0.53 GB. mem usage=0.93 GB."],
             "max_total_num_tokens": ["[2025-03-08 12:29:29 TP0] max_total_num_tokens=46611, chunked_prefill_size=2048, max_prefill_tokens=16384, max_running_requests=2049, context_len=131072"]},
  figures={"avail_before_weights_gb": 21.63, "weights_gb": 15.54, "avail_after_weights_gb": 6.09, "kv_tokens": 46611},
  derived={"mem_fraction_static_implied": {"value": 0.853, "arithmetic": "SGLang rule rest = avail_after_weights - total x (1 - mfs), total = 21.63 (pre-load avail): K+V = 2.84 GB -> 1 - mfs = (6.09 - 2.84)/21.63 = 0.150 -> mfs = 0.85 (tp 4 default 0.85 in the tp-table versions)"},
           "cell_size": {"value": 65536, "arithmetic": "64 layers x 2 KV heads per rank (8/4) x 128 x 2 (K,V) x 2 B = 65,536 B/token; 46611 x 65536 / 2 / 2^30 = 1.42 GiB per K"}},
  citation={"repo": None, "stored_file_id": "47376055009", "note": "Markdown file with a full SGLang start-up log (QwQ-32B example README); the search index exposes it by id only, repo/path unknown"})

E(id="sglang-nemotronh-xpu-tp4", engine="sglang", engine_version=None, model="NemotronHForCausalLM (checkpoint not named in the excerpt)", model_classes=["hybrid_mamba"],
  gpu={"model": "Intel XPU (log says XPUs)", "memory_gib_total_reported": None}, num_gpus=4, parallelism={"tp": 4},
  knobs={"chunked_prefill_size": 1024, "max_prefill_tokens": 16384, "max_running_requests": 8, "context_len": 8192},
  log_lines={"load_weight_end": ["[TP0..3] Load weight end. elapsed=36.9 s, type=NemotronHForCausalLM, avail mem=7.95 GB, mem usage=14.76 GB"],
             "mamba_cache_allocated": ["[TP0..3] Mamba Cache is allocated. max_mamba_cache_size: 8, conv_state size: 0.00 GB, ssm_state size: 0.10 GB"],
             "kv_cache_allocated": ["[TP0..3] KV Cache is allocated. #tokens: 1557504, K size: 2.23 GB, V size: 2.23 GB"],
             "memory_pool_end": ["[TP0..3] Memory pool end. avail mem=3.39 GB"],
             "max_total_num_tokens": ["[TP0]    max_total_num_tokens=1557504, chunked_prefill_size=1024, max_prefill_tokens=16384, max_running_requests=8, context_len=8192, available_gpu_mem=3.39 GB"]},
  figures={"kv_tokens": 1557504, "max_mamba_cache_size": 8},
  citation={"repo": None, "stored_file_id": "56880170874", "note": "test report markdown (lines re-wrapped by its author); repo/path not exposed by the index; non-NVIDIA device"})

E(id="sglang-qwen38-27b-nvfp4-gb10", engine="sglang", engine_version="0.0.0.dev1+g5f55db35e", model="nvidia/Qwen3.8-27B-NVFP4", model_classes=["hybrid_linear_attention", "fp8_kv", "nvfp4_weights"],
  gpu={"model": "NVIDIA GB10 (DGX Spark)", "memory_gib_total_reported": None}, num_gpus=1, parallelism={"tp": 1},
  knobs={"mem_fraction_static": 0.70, "max_running_requests": 72, "max_mamba_cache_size": 360},
  log_lines={"mamba_cache_allocated": ["Mamba Cache is allocated. max_mamba_cache_size: 360,", "conv_state size: 0.99GB, ssm_state size: 50.77GB"],
             "kv_cache_allocated": ["KV Cache is allocated. #tokens: 228520, K size: 3.49 GB, V size: 3.49 GB"],
             "max_total_num_tokens": ["max_total_num_tokens=228520, max_running_requests=72, available_gpu_mem=29.76 GB"]},
  figures={"kv_tokens": 228520, "max_mamba_cache_size": 360, "ssm_state_gb": 50.77, "conv_state_gb": 0.99},
  derived={"kv_bytes_per_token": {"value": 32800, "arithmetic": "(3.49+3.49) * 2^30 / 228520 = 32,793 ~ 16 attention layers x 4 KV heads x 256 x 2 x 1 B (fp8) = 32,768"}},
  citation={"repo": None, "stored_file_id": "69213517065", "note": "deployment note (repo revision 03fef1fa2114c30d915d6d8d40244e18e435d0b5 stated in the file); repo/path not exposed by the index"})

E(id="sglang-gptoss-fp8e5m2-bench", engine="sglang", engine_version=None, model="GptOssForCausalLM (size not named in the excerpt)", model_classes=["sliding_window_hybrid", "moe", "fp8_kv"],
  gpu={"model": None, "gpu_note": "avail mem=94.63 GB before weights"}, num_gpus=1, parallelism={"tp": 1},
  knobs={"kv_cache_dtype": "fp8_e5m2", "max_total_tokens": 4096},
  log_lines={"load_weight": ["[2025-09-28 17:07:10 TP0] Load weight begin. avail mem=94.63 GB", "[2025-09-28 17:07:10 TP0] Load weight end. type=GptOssForCausalLM, dtype=torch.bfloat16, avail mem=91.91 GB, mem usage=2.72 GB."],
             "kv_dtype": ["[2025-09-28 17:07:10 TP0] Using KV cache dtype: torch.float8_e5m2"],
             "kv_cache_allocated": ["[2025-09-28 17:07:10 TP0] KV Cache is allocated. #tokens: 4096, K size: 0.00 GB, V size: 0.00 GB"],
             "memory_pool_end": ["[2025-09-28 17:07:10 TP0] Memory pool end. avail mem=89.83 GB"], "max_total_num_tokens": ["max_total_num_tokens=4096"]},
  figures={"kv_tokens": 4096},
  derived={"note": "a bench_one_batch run with a capped pool and a tiny (2.72 GB) model: useful only for the log format, not for capacity"},
  citation={"repo": None, "stored_file_id": "33639436415", "note": "repo/path not exposed by the index"})

E(id="trtllm-224-llama2-7b-a10", engine="tensorrt-llm", engine_version=None, model="meta-llama/Llama-2-7b (engine built with examples/llama/build.py)", model_classes=["dense_mha"],
  gpu={"model": "NVIDIA A10 (24 GB)", "memory_gib_total_reported": None}, num_gpus=1, parallelism={"tp": 1},
  knobs={"kv_cache_free_gpu_mem_fraction": 0.95, "tokens_per_block": 16, "max_batch_size": 25, "max_output_len": 4096, "dtype": "float16", "backend": "TensorRT engine via Triton tensorrtllm_backend",
         "build": "python /code/tensorrt_llm/examples/llama/build.py --model_dir /model_weights/llama-2-7b --dtype float16 --remove_input_padding --use_gpt_attention_plugin float16 --enable_context_fmha --use_gemm_plugin float16 --output_dir /model_weights/llama-2-7b-trt-llm --max_batch_size 25 --max_output_len 4096 --use_inflight_batching --tokens_per_block 16"},
  log_lines={"paged_kv_tokens": ["[TensorRT-LLM][INFO] Using 10718 tokens in paged KV cache."], "vllm_comparison_text": ["Using vLLM I'm getting GPU block of 8348 out of the box (0.9 free memory ratio), and block size is 16 by default."]},
  figures={"kv_tokens": 10718, "vllm_gpu_blocks_same_gpu": 8348},
  derived={"vllm_tokens": {"value": 133568, "arithmetic": "8348 blocks x 16 = 133,568 tokens in vLLM vs 10,718 in TRT-LLM (maintainer: the TRT-LLM number is rounded up to a block multiple at allocation; the gap is the engine's pre-allocated activation workspace for max_batch_size 25 x 4096)"}},
  citation={"repo": "NVIDIA/TensorRT-LLM", "issue": 224, "url": "https://github.com/NVIDIA/TensorRT-LLM/issues/224", "author": "yunfeng-scale", "date": "2023-10-31"})

E(id="trtllm-1400-a100-v08", engine="tensorrt-llm", engine_version="0.8", model=None, model_classes=["int8_smoothquant_weights"],
  gpu={"model": "NVIDIA A100 (memory size not stated)"}, num_gpus=1, parallelism={"tp": 1},
  knobs={"max_batch_size": 1, "max_input_len": 4096, "max_output_len": 1024, "max_num_tokens": 4096, "max_beam_width": 5, "smoothquant": 0.5, "kv_cache_free_gpu_mem_fraction": None, "note": "default fraction (0.9 in C++ KvCacheConfig at that time per the issue's complaint)"},
  log_lines={"engine": ["[TensorRT-LLM][INFO] [MemUsageChange] TensorRT-managed allocation in IExecutionContext creation: CPU +0, GPU +0, now: CPU 0, GPU 6683 (MiB)"],
             "kv": ["[TensorRT-LLM][INFO] Allocate 69524783104 bytes for k/v cache. ", "[TensorRT-LLM][INFO] Using 132608 tokens in paged KV cache."]},
  figures={"kv_bytes": 69524783104, "kv_tokens": 132608},
  derived={"bytes_per_token": {"value": 524288, "arithmetic": "69,524,783,104 / 132,608 = 524,288 = 32 layers x 32 heads x 128 x 2 x 2 B (a 7B MHA model in fp16 KV)"}},
  citation={"repo": "NVIDIA/TensorRT-LLM", "issue": 1400, "url": "https://github.com/NVIDIA/TensorRT-LLM/issues/1400", "author": "AbhinavDutta", "date": "2024-04-04"})

E(id="trtllm-doc-memory-md-h100", engine="tensorrt-llm", engine_version=None, model=None, model_classes=[],
  gpu={"model": "80 GB GPU (total 79.10 GiB printed)", "memory_gib_total_reported": 79.10}, num_gpus=1, parallelism={"tp": 1},
  knobs={"tokens_per_block": 64, "backend": "TensorRT engine (C++ runtime)"},
  log_lines={"engine": ["[TensorRT-LLM][INFO] Loaded engine size: 6695 MiB", "[TensorRT-LLM][INFO] [MemUsageChange] Allocated 1134.01 MiB for execution context memory."],
             "buffers": ["[TensorRT-LLM][INFO] [MemUsageChange] Allocated 43.29 MB GPU memory for runtime buffers.", "[TensorRT-LLM][INFO] [MemUsageChange] Allocated 180.30 MB GPU memory for decoder."],
             "kv": ["[TensorRT-LLM][INFO] Memory usage when calculating max tokens in paged kv cache: total: 79.10 GiB, available: 70.48 GiB",
                    "[TensorRT-LLM][INFO] Number of blocks in KV cache primary pool: 4060",
                    "[TensorRT-LLM][INFO] Number of blocks in KV cache secondary pool: 0, onboard blocks to primary memory before reuse: true",
                    "[TensorRT-LLM][INFO] Max KV cache pages per sequence: 32", "[TensorRT-LLM][INFO] Number of tokens per block: 64.",
                    "[TensorRT-LLM][INFO] [MemUsageChange] Allocated 63.44 GiB for max tokens in paged KV cache (259840)."]},
  figures={"total_gib": 79.10, "available_gib": 70.48, "primary_blocks": 4060, "tokens_per_block": 64, "kv_gib": 63.44, "kv_tokens": 259840},
  derived={"fraction": {"value": 0.9, "arithmetic": "63.44 / 70.48 = 0.900 (default free_gpu_memory_fraction 0.9)"},
           "tokens": {"value": 259840, "arithmetic": "4060 blocks x 64 = 259,840"},
           "bytes_per_token": {"value": 262150, "arithmetic": "63.44 x 2^30 / 259840 = 262,150 ~ 262,144 = 32 x 32 x 128 x 2 x 1 B (consistent with a 7B MHA model with int8/fp8 KV; model not named)"}},
  citation={"repo": "NVIDIA/TensorRT-LLM", "path": "docs/source/reference/memory.md", "commit": None, "stored_file_id": "5516360", "note": "FAQ 'How to debug the memory usage'; the copy read at commit 5a211b91 (read_file) no longer has this example, the index copy (id 5516360) does"})

E(id="trtllm-doc-multimodal-llava-h100nvl", engine="tensorrt-llm", engine_version=None, model="llava (LLaVA, fp8 weights + fp8 KV, tp 2)", model_classes=["dense_mha", "fp8_kv", "multimodal"],
  gpu={"model": "93.10 GiB device (H100 NVL class)", "memory_gib_total_reported": 93.10}, num_gpus=2, parallelism={"tp": 2},
  knobs={"kv_cache_free_gpu_mem_fraction": 0.9, "enable_chunked_context": True, "max_batch_size": 8, "max_input_len": 2048, "max_seq_len": 2560, "max_multimodal_len": 4608, "kv_cache_dtype": "fp8", "qformat": "fp8"},
  log_lines={"kv": ["[TensorRT-LLM][INFO] Memory usage when calculating max tokens in paged kv cache: total: 93.10 GiB, available: 85.57 GiB", "[TensorRT-LLM][INFO] [MemUsageChange] Allocated 77.02 GiB for max tokens in paged KV cache (315488)."]},
  figures={"total_gib": 93.10, "available_gib": 85.57, "kv_gib": 77.02, "kv_tokens": 315488},
  derived={"fraction": {"value": 0.9001, "arithmetic": "77.02 / 85.57 = 0.900"}, "bytes_per_token": {"value": 262131, "arithmetic": "77.02 x 2^30 / 315488 = 262,131 B/token ~ 262,144; the LLaVA size is not stated, so no per-layer check is made"}},
  citation={"repo": "NVIDIA/TensorRT-LLM", "path": "triton_backend docs (multimodal.md, chunked-context section)", "stored_file_id": "10054575706", "note": "repo/path not exposed by the index; text says 'Change --world_size to your tp size' with tp_size 2 checkpoint"})

E(id="trtllm-kimi-k25-b300-fp8kv", engine="tensorrt-llm", engine_version=None, model="Kimi K2.5 (DeepseekV3 LM, 61 decoder layers)", model_classes=["mla", "moe", "fp8_kv", "multimodal"],
  gpu={"model": "B300 (SM10.3)", "memory_gib_total_reported": None}, num_gpus=8, parallelism={"ranks": 8},
  knobs={"tokens_per_block": 32, "max_seq_len": 262144, "backend": "PyTorch"},
  log_lines={"kv": ["[TensorRT-LLM][INFO] Max KV cache blocks per sequence: 8192 [window size=262144], tokens per block=32, primary blocks=158543, secondary blocks=0, max sequence length=262144",
                    "[TensorRT-LLM][INFO] Number of tokens per block: 32.", "[TensorRT-LLM][INFO] [MemUsageChange] Allocated 166.02 GiB for max tokens in paged KV cache (5073376)."]},
  figures={"primary_blocks": 158543, "tokens_per_block": 32, "kv_gib": 166.02, "kv_tokens": 5073376},
  derived={"tokens": {"value": 5073376, "arithmetic": "158,543 x 32 = 5,073,376"}, "bytes_per_token": {"value": 35136, "arithmetic": "166.02 x 2^30 / 5,073,376 = 35,136 = 61 layers x 576 (512 latent + 64 rope) x 1 B (fp8 MLA cache)"}},
  citation={"repo": None, "stored_file_id": "59140501328", "note": "model-test report markdown ('Raw Output'); repo/path not exposed by the index"})

E(id="trtllm-nemotron-llm-4096", engine="tensorrt-llm", engine_version="1.2.1", model="nemotron_llm (32 layers, 8 KV heads, head_dim 128 per its author)", model_classes=["dense_gqa"],
  gpu={"model": None}, num_gpus=1, parallelism={"tp": 1}, knobs={"max_seq_len": 4096, "tokens_per_block": 32},
  log_lines={"kv": ["[TensorRT-LLM][INFO] [MemUsageChange] Allocated 1.56 GiB for max tokens in paged KV cache (12800)."]},
  figures={"kv_gib": 1.56, "kv_tokens": 12800},
  derived={"bytes_per_token": {"value": 130862, "arithmetic": "1.56 x 2^30 / 12800 = 130,862 ~ 131,072 = 32 x 8 x 128 x 2 x 2 B (the author's check)"}},
  citation={"repo": None, "stored_file_id": "70957398956", "note": "repo/path not exposed by the index"})

E(id="trtllm-grps-qwen-22gib", engine="tensorrt-llm", engine_version=None, model=None, model_classes=[],
  gpu={"model": "22.18 GiB device (24 GB class)", "memory_gib_total_reported": 22.18}, num_gpus=1, parallelism={"tp": 1},
  knobs={"kv_cache_free_gpu_mem_fraction": 0.9, "tokens_per_block": 64},
  log_lines={"kv": ["[TensorRT-LLM][INFO] Memory usage when calculating max tokens in paged kv cache: total: 22.18 GiB, available: 1.42 GiB", "[TensorRT-LLM][INFO] Number of blocks in KV cache primary pool: 82",
                    "[TensorRT-LLM][INFO] Number of blocks in KV cache secondary pool: 0, onboard blocks to primary memory before reuse: true",
                    "[TensorRT-LLM][WARNING] maxAttentionWindow and maxSequenceLen are too large for at least one sequence to fit in kvCache. they are reduced to 5185",
                    "[TensorRT-LLM][WARNING] maxInputLen is reduced to 5184", "[TensorRT-LLM][INFO] Max KV cache pages per sequence: 82", "[TensorRT-LLM][INFO] Number of tokens per block: 64.",
                    "[TensorRT-LLM][INFO] [MemUsageChange] Allocated 1.28 GiB for max tokens in paged KV cache (5248)."]},
  figures={"total_gib": 22.18, "available_gib": 1.42, "primary_blocks": 82, "kv_gib": 1.28, "kv_tokens": 5248},
  derived={"fraction": {"value": 0.901, "arithmetic": "1.28 / 1.42"}, "tokens": {"value": 5248, "arithmetic": "82 x 64"}},
  citation={"repo": None, "stored_file_id": "18200949182", "note": "Chinese tutorial on grps + TRT-LLM parameters; repo/path not exposed by the index"})

E(id="vllm-28228-kimi-linear-awq-2x3090", engine="vllm", engine_version=None, model="cyankiwi/Kimi-Linear-48B-A3B-Instruct-AWQ-4bit", model_classes=["hybrid_linear_attention", "mla", "moe", "awq_int4_weights"],
  gpu={"model": "NVIDIA GeForce RTX 3090 (2x)", "memory_gib_total_reported": None}, num_gpus=2, parallelism={"tp": 2, "pp": 1, "dp": 1},
  knobs={"gpu_memory_utilization": 0.95, "max_model_len": 120000, "max_num_batched_tokens": 64000, "max_num_seqs": 8, "enable_prefix_caching": True, "attention_backend": "TritonMLABackend (log)", "cudagraph_mode": "PIECEWISE (downgraded from FULL_AND_PIECEWISE, log)",
         "command": "PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True VLLM_USE_V1=1 CUDA_VISIBLE_DEVICES=0,1 vllm serve cyankiwi/Kimi-Linear-48B-A3B-Instruct-AWQ-4bit --port 8111--gpu-memory-utilization 0.95 --max_model_len 120000 --tensor_parallel 2 --enable_prefix_caching --max_num_batched_tokens 64000 --max-num-seqs 8 --trust-remote-code ..."},
  log_lines={"available_kv_cache_memory": ["(Worker_TP0 pid=26347) INFO 11-06 10:51:48 [gpu_worker.py:349] Available KV cache memory: 2.30 GiB"],
             "padding": ["(EngineCore_DP0 pid=26283) WARNING 11-06 10:51:48 [kv_cache_utils.py:979] Add 1 padding layers, may waste at most 5.00% KV cache memory"],
             "gpu_kv_cache_size": ["(EngineCore_DP0 pid=26283) INFO 11-06 10:51:48 [kv_cache_utils.py:1229] GPU KV cache size: 75,840 tokens"],
             "maximum_concurrency": ["(EngineCore_DP0 pid=26283) INFO 11-06 10:51:48 [kv_cache_utils.py:1234] Maximum concurrency for 120,000 tokens per request: 2.48x"]},
  figures={"available_kv_cache_gib": 2.30, "gpu_kv_cache_tokens": 75840, "max_concurrency": 2.48},
  derived={"note": "the '--port 8111--gpu-memory-utilization' typo is in the issue; the run reached the KV lines so the flags were parsed as the author intended or defaulted (not verifiable from the excerpt)"},
  citation={"repo": "vllm-project/vllm", "issue": 28228, "url": "https://github.com/vllm-project/vllm/issues/28228", "author": "johnr14", "date": "2025-11-06"})

E(id="vllm-54458-qwen38-flash-next-gb10", engine="vllm", engine_version="0.1.dev20073+g8e685d198", model="Qwen3.8-Flash-Next (as named)", model_classes=["hybrid_linear_attention", "moe"],
  gpu={"model": "NVIDIA GB10 (sm_121, 128 GB unified)", "memory_gib_total_reported": None}, num_gpus=1, parallelism={"tp": 1},
  knobs={},
  log_lines={"block_size": ["INFO [interface.py:915] Setting attention block size to 1600 tokens to ensure that", "     attention page size is >= mamba page size."],
             "padding": ["INFO [interface.py:939] Padding mamba page size by 0.88% to ensure that mamba page", "     size and attention page size are exactly equal."],
             "measured_table_rows": ["| 8,192 | 260,006 | 31.74× |", "| 262,144 | 1,077,542 | 4.11× |", "| 262,144, fp8 KV | 1,853,358 | 7.07× |"]},
  figures={"attention_block_size_tokens": 1600, "mamba_padding_pct": 0.88,
           "table": [{"context_per_req": 8192, "kv_pool_tokens": 260006, "max_concurrency": 31.74}, {"context_per_req": 262144, "kv_pool_tokens": 1077542, "max_concurrency": 4.11}, {"context_per_req": 262144, "kv_cache_dtype": "fp8", "kv_pool_tokens": 1853358, "max_concurrency": 7.07}]},
  derived={"pool_tokens_equal_concurrency_times_len": {"arithmetic": "31.74 x 8192 = 260,014 ~ 260,006; 4.11 x 262,144 = 1,077,412 ~ 1,077,542: in this build 'KV pool' tokens = max_concurrency x max_model_len, so the token count changes with max_model_len"}},
  citation={"repo": "vllm-project/vllm", "issue": 54458, "url": "https://github.com/vllm-project/vllm/issues/54458", "author": "jschmied", "date": "2026-08-30", "note": "comment; lines re-wrapped by the author; table columns 'context/req | KV pool | max concurrency'"})

json.dump(M, open("/tmp/eng/build/manual.json", "w"), indent=1, ensure_ascii=False)
print(len(M))
