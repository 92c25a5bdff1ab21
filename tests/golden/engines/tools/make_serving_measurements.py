import json
S = []
def R(**k): S.append(k)
R(id="vllm-18566-llama31-8b-sharegpt", engine="vllm", engine_version=None, engine_version_note="PR #18566 branch (2025-05-22), between 0.8.5 and 0.9.0",
  model="meta-llama/Llama-3.1-8B-Instruct", gpu=None, num_gpus=None, parallelism={"tp": 1, "pp": 1}, server_flags="vllm serve meta-llama/Llama-3.1-8B-Instruct --disable-log-requests",
  client="vllm bench serve --model meta-llama/Llama-3.1-8B-Instruct --endpoint-type openai-chat --endpoint /v1/chat/completions --dataset-name hf --dataset-path Aeala/ShareGPT_Vicuna_unfiltered",
  workload={"dataset": "Aeala/ShareGPT_Vicuna_unfiltered (HF)", "num_prompts": 1000, "num_prompts_note": "vllm bench serve default", "request_rate": "inf (default)", "max_concurrency": None, "input_len": None, "output_len": None, "total_input_tokens": 229711, "total_output_tokens": 203068},
  results={"successful_requests": 1000, "duration_s": 30.85, "request_throughput_rps": 32.42, "output_tok_s": 6582.87, "total_tok_s": 14029.44,
           "ttft_ms": {"mean": 9626.13, "median": 9459.70, "p99": 12666.73}, "tpot_ms": {"mean": 77.86, "median": 48.84, "p99": 211.21}, "itl_ms": {"mean": 38.13, "median": 25.44, "p99": 214.35}, "e2e_ms": None},
  verbatim="============ Serving Benchmark Result ============ … Mean TTFT (ms): 9626.13 … Median TPOT (ms): 48.84 … P99 ITL (ms): 214.35",
  citation={"repo": "vllm-project/vllm", "pr": 18566, "url": "https://github.com/vllm-project/vllm/pull/18566", "author": "mgoin", "date": "2025-05-22"},
  missing=["gpu", "engine flags beyond the defaults (block size, max_num_seqs, gpu_memory_utilization default 0.9)"])
conc = {8: (148.6, 74.6, 74.0, 330.6, 1975.4, 12.8, 14.3, 127.4, 245.0, 12.22, 14.65), 16: (225.1, 111.9, 113.1, 356.0, 2149.4, 17.2, 18.5, 170.9, 391.3, 16.07, 20.48),
        32: (301.7, 151.1, 150.6, 426.5, 2644.1, 25.6, 27.1, 254.3, 557.3, 24.02, 28.97), 64: (447.2, 223.6, 223.7, 423.1, 2741.1, 34.6, 37.0, 344.8, 742.7, 32.33, 37.90)}
for c, v in conc.items():
    R(id=f"inferencex-870-dsr1-fp8-h200-sglang-c{c}", engine="sglang", engine_version="v0.5.7", model="deepseek-ai/DeepSeek-R1-0528 (FP8)", gpu="H200", num_gpus=8, parallelism={"tp": 8, "ep": 1},
      server_flags=None, client="InferenceX fixed-sequence-length benchmark (script not quoted in the excerpt)",
      workload={"dataset": "random fixed lengths", "input_len": 1024, "output_len": 1024, "max_concurrency": c, "num_prompts": None, "request_rate": None},
      results={"total_tok_s_per_gpu": v[0], "output_tok_s_per_gpu": v[1], "input_tok_s_per_gpu": v[2], "ttft_ms": {"mean": v[3], "p99": v[4]}, "tpot_ms": {"mean": v[5], "p99": v[6]},
               "itl_ms": {"mean": v[7], "p99": v[8]}, "e2e_s": {"mean": v[9], "p99": v[10]}},
      note="Mean ITL ≈ 10× mean TPOT in this table: likely MTP/speculative or chunked streaming (ITL measured between stream chunks); setup does not say. Use TPOT and E2E.",
      citation={"repo": "SemiAnalysisAI/InferenceX", "issue": 870, "url": "https://github.com/SemiAnalysisAI/InferenceX/issues/870", "author": "Klaud-Cold (bot comment for functionstackx)", "date": "2026-03-05", "table": "Performance Results, column conc=%d" % c},
      missing=["num_prompts", "mem_fraction_static and other server flags", "dataset generator details"])
rows = [(128,128,1,8,179.7,23.1,43.25,43.2,712.3,3116.4,0.321),(128,1024,1,4,184.1,23.2,43.15,43.1,695.3,23894.4,0.042),(1024,128,1,4,391.7,23.2,43.04,43.0,2614.1,3342.8,0.299),
        (2048,128,1,4,190.5,23.3,42.92,42.9,10753.2,3149.4,0.317),(3072,128,1,4,200.4,23.6,42.37,42.4,15332.6,3197.9,0.313),(4096,128,1,2,199.7,23.7,42.13,42.1,20515.9,3214.2,0.311)]
for r in rows:
    R(id=f"tt-356-dsr1-16xh100-sglang-isl{r[0]}-osl{r[1]}-c{r[2]}", engine="sglang", engine_version=None, model="deepseek-ai/DeepSeek-R1-0528", gpu="H100 (16 GPUs, 2 nodes, InfiniBand)", num_gpus=16, parallelism=None,
      server_flags=None, client="tt-inference-server benchmark sweep (vLLM-style benchmark client)",
      workload={"dataset": "random", "input_len": r[0], "output_len": r[1], "max_concurrency": r[2], "num_prompts": r[3], "request_rate": None},
      results={"ttft_ms": {"mean": r[4]}, "tpot_ms": {"mean": r[5]}, "tput_user_tps": r[6], "tput_decode_tps": r[7], "tput_prefill_tps": r[8], "e2e_ms": {"mean": r[9]}, "request_throughput_rps": r[10]},
      citation={"repo": "tenstorrent/tt-inference-server", "issue": 356, "url": "https://github.com/tenstorrent/tt-inference-server/issues/356", "author": "gtobarTT", "date": "2025-07-09", "table": "Performance Benchmark Sweeps for DeepSeek-R1-0528 on 16 H100 (SGLANG + INFINIBAND)"},
      missing=["sglang version", "tp/dp/ep layout", "server flags"])
R(id="sglang-1060-llama31-8b-random-8192-8", engine="sglang", engine_version="main at PR #1060 (2024-08-13)", model="meta-llama/Meta-Llama-3.1-8B-Instruct", gpu=None, num_gpus=1, parallelism={"tp": 1},
  server_flags="python -m sglang.launch_server --model-path meta-llama/Meta-Llama-3.1-8B-Instruct --enable-torch-compile --disable-radix-cache --disable-flashinfer",
  client="python3 -m sglang.bench_serving --backend sglang --dataset-name random --num-prompts 1000 --random-input 8192 --random-output 8",
  workload={"dataset": "random (sglang.bench_serving: lengths drawn uniformly in [range_ratio x len, len], default ratio then 0.0)", "input_len": 8192, "output_len": 8, "num_prompts": 1000, "request_rate": "inf", "total_input_tokens": 4064944, "total_output_tokens": 3930},
  results={"successful_requests": 1000, "duration_s": 146.91, "request_throughput_rps": 6.81, "input_tok_s": 27670.26, "output_tok_s": 26.75, "e2e_ms": {"mean": 86202.47, "median": 84699.32},
           "ttft_ms": {"mean": 73186.68, "median": 72622.70, "p99": 144514.07}, "tpot_ms": {"mean": 4225.82, "median": 4279.84}},
  citation={"repo": "sgl-project/sglang", "pr": 1060, "url": "https://github.com/sgl-project/sglang/pull/1060", "author": "zhyncs", "date": "2024-08-13", "section": "'# latest main' result block"},
  missing=["gpu (PR concerns H100)", "P99 TPOT (cut in the excerpt read)"])
R(id="kubeai-341-llama33-70b-gh200", engine="vllm", engine_version=None, model="Llama 3.3 70B (exact checkpoint in the PR's model file)", gpu="NVIDIA GH200", num_gpus=1, parallelism=None,
  server_flags=None, client="vLLM benchmark_serving (format of the block)",
  workload={"dataset": None, "num_prompts": None, "request_rate": None, "total_input_tokens": 203559, "total_output_tokens": 184674},
  results={"successful_requests": 940, "duration_s": 806.48, "request_throughput_rps": 1.17, "output_tok_s": 228.99, "total_tok_s": 481.39,
           "ttft_ms": {"mean": 204746.56, "median": 186161.91, "p99": 456871.18}, "tpot_ms": {"mean": 342.60, "median": 318.53, "p99": 627.89}, "itl_ms": {"mean": 310.87, "median": 262.02, "p99": 1039.10}},
  citation={"repo": "kubeai-project/kubeai", "pr": 341, "url": "https://github.com/kubeai-project/kubeai/pull/341", "author": "samos123", "date": "2024-12-07"},
  missing=["dataset", "num_prompts (940 successful)", "request rate", "engine version and flags (quantization, max_model_len)"])
doc = {"_meta": {"purpose": "Published request-level serving measurements (TTFT, TPOT, ITL, E2E, throughput) with the workload and engine setup, to validate a continuous-batching simulator (issue 23). Measured, not simulated.",
                 "policy": "Numbers copied as printed; unknown setup fields null and listed in 'missing'. Units as printed (ms, s, tok/s).",
                 "definitions": "vLLM/SGLang benchmark clients: TTFT = first streamed token - request send; TPOT = (E2E - TTFT)/(output tokens - 1) per request, then averaged; ITL = gaps between streamed chunks; E2E = last token - send.",
                 "not_found": "Simulator papers' measured validation tables (Vidur, DistServe, Splitwise, LLMServingSim, APEX) were not located as text in the stored corpora (their validation is mostly in figures); not included."},
       "measurements": S}
json.dump(doc, open("/work/wt/engines/tests/golden/engines/serving_measurements.json", "w"), indent=1, ensure_ascii=False)
print(len(S))
