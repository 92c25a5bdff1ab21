import json, re, sys
sys.path.insert(0, "/tmp/eng/build")
raw = json.load(open("/tmp/eng/build/llmd_raw.json"))
manual = json.load(open("/tmp/eng/build/manual.json"))
CLASS = [  # (substring of model id, classes)
 ("gpt-oss", ["sliding_window_hybrid", "moe", "mxfp4_weights"]),
 ("gemma-2-", ["sliding_window_hybrid", "dense_gqa"]), ("gemma-3-", ["sliding_window_hybrid", "dense_gqa"]),
 ("gemma-4", ["sliding_window_hybrid"]), ("gemma-7b", ["dense_mha"]),
 ("DeepSeek-V2", ["mla", "moe"]), ("Kimi-VL", ["mla", "moe", "multimodal"]), ("Kimi-Dev-72B", ["dense_gqa"]),
 ("Mixtral", ["moe", "dense_gqa"]), ("Qwen1.5-MoE", ["moe", "dense_mha"]), ("Qwen3-30B-A3B", ["moe", "dense_gqa"]),
 ("Llama-4-Scout", ["moe", "chunked_local_attention_hybrid", "multimodal"]),
 ("Llama-3", ["dense_gqa"]), ("Qwen2.5", ["dense_gqa"]), ("Qwen3-", ["dense_gqa"]), ("CodeLlama-34b", ["dense_gqa"]),
 ("CodeLlama-7b", ["dense_mha"]), ("granite-vision", ["dense_gqa", "multimodal"]), ("granite", ["dense_gqa"]),
 ("phi-2", ["dense_mha"]), ("phi-4", ["dense_gqa"]), ("Mistral-Small", ["dense_gqa", "multimodal"]),
]
def classes(model):
    for k, c in CLASS:
        if k in model:
            return list(c)
    return []
def first(lines, key):
    v = lines.get(key)
    return v[0] if v else None
def num(pat, s, f=float):
    if s is None: return None
    m = re.search(pat, s)
    return f(m.group(1).replace(",", "")) if m else None

entries = []
for e in raw:
    L = e["lines"]
    nda = first(L, "non_default_args")
    if nda is None or "available_kv_cache_memory" not in L:
        continue  # failed runs that printed no KV-cache figure are left out
    args = eval(nda.split("non-default args: ", 1)[1], {"__builtins__": {}}, {"True": True, "False": False, "None": None})
    model = args.get("model")
    cfg = e["engine_config_fields"]
    failed = e["path"].endswith(".FAILED.log")
    has_kv = "available_kv_cache_memory" in L
    tp = int(cfg.get("tensor_parallel_size", args.get("tensor_parallel_size", 1)))
    pp = int(cfg.get("pipeline_parallel_size", args.get("pipeline_parallel_size", 1)))
    dp = int(cfg.get("data_parallel_size", args.get("data_parallel_size", 1)))
    kvdt = cfg.get("kv_cache_dtype", args.get("kv_cache_dtype", "auto"))
    cls = classes(model)
    if kvdt and kvdt.startswith("fp8"):
        cls.append("fp8_kv")
    ent = {
        "id": "llmd-" + e["path"].rsplit("/", 1)[1].removesuffix(".log"),
        "origin": "llm-d-planner",
        "engine": "vllm", "engine_version": e["version"] or "v0.19.0", "engine_commit": None,
        "model": model, "model_classes": cls,
        "gpu": {"model": "NVIDIA H100 80GB HBM3", "memory_gib_total_reported": None,
                 "source": "accuracy/k8s/vllm-job-reference.yaml: nodeSelector nvidia.com/gpu.product: NVIDIA-H100-80GB-HBM3; image vllm/vllm-openai:v0.19.0"},
        "num_gpus": tp * pp * dp, "parallelism": {"tp": tp, "pp": pp, "dp": dp},
        "status": "failed" if failed else "started",
        "knobs": {
            "gpu_memory_utilization": args.get("gpu_memory_utilization", 0.9),
            "gpu_memory_utilization_note": None if "gpu_memory_utilization" in args else "not in non-default args: vLLM default 0.9 (the log's 'Requested memory: 0.900000 (util)' confirms)",
            "max_model_len": args.get("max_model_len"),
            "max_num_seqs": num(r"max_num_seqs to (\d+)", first(L, "max_num_seqs_default"), int),
            "max_num_batched_tokens": num(r"max_num_batched_tokens=(\d+)", "\n".join(L.get("max_num_batched_tokens_default", [])), int),
            "block_size": None, "block_size_note": "not printed; v0.19.0 default CacheConfig.DEFAULT_BLOCK_SIZE = 16 unless the backend prefers another (see RULES.md); tokens/num_gpu_blocks below confirm",
            "kv_cache_dtype": kvdt, "dtype": cfg.get("dtype"), "quantization": cfg.get("quantization"),
            "enforce_eager": cfg.get("enforce_eager"), "cudagraph_mode": cfg.get("cudagraph_mode"),
            "max_cudagraph_capture_size": cfg.get("max_cudagraph_capture_size"),
            "enable_prefix_caching": cfg.get("enable_prefix_caching"),
            "VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS": "0 (v0.19.0 default; the log says the estimate is not applied)",
        },
        "log_lines": L,
        "citation": {"repo": "llm-d-incubation/llm-d-planner", "commit": "d3121e059da88662db39a926a3ead964be97359b",
                     "path": e["path"], "note": "commit 'Add logs' (2026-04-22) of PR #205 'Validate capacity planner accuracy'; logs removed again in 2489dbbf (2026-04-24)"},
    }
    # figures
    avail = num(r"Available KV cache memory: ([\d.]+) GiB", first(L, "available_kv_cache_memory"))
    toks = num(r"GPU KV cache size: ([\d,]+) tokens", first(L, "gpu_kv_cache_size"), int)
    blocks = num(r"num_gpu_blocks is: (\d+)", first(L, "num_gpu_blocks"), int)
    req = num(r"Requested memory: [\d.]+ \(util\), ([\d.]+) GiB", first(L, "initial_free_memory"))
    util = num(r"Requested memory: ([\d.]+) \(util\)", first(L, "initial_free_memory"))
    nonkv = num(r"Total non KV cache memory: ([\d.]+)GiB", first(L, "memory_profiling"))
    w = num(r"weights memory: ([\d.]+)GiB", first(L, "memory_profiling"))
    tp_inc = num(r"torch peak memory increase: ([\d.]+)GiB", first(L, "memory_profiling"))
    nt = num(r"non-torch forward increase memory: ([\d.]+)GiB", first(L, "memory_profiling"))
    ent["figures"] = {"model_loading_gib": num(r"Model loading took ([\d.]+) GiB", first(L, "model_loading")),
                      "initial_free_gib": num(r"Initial free memory: ([\d.]+) GiB", first(L, "initial_free_memory")),
                      "requested_gib": req, "total_non_kv_gib": nonkv, "weights_gib": w, "torch_peak_increase_gib": tp_inc,
                      "non_torch_increase_gib": nt, "available_kv_cache_gib": avail, "gpu_kv_cache_tokens": toks,
                      "max_concurrency": num(r": ([\d.]+)x", first(L, "maximum_concurrency")),
                      "num_gpu_blocks": blocks,
                      "cuda_graph_estimate_gib": num(r"Estimated CUDA graph memory: ([\d.]+) GiB", first(L, "cuda_graph_estimate_total")),
                      "graph_capture_took_gib": num(r"took ([\d.]+) GiB", first(L, "graph_capturing_finished"))}
    d = {}
    if req and util:
        d["total_gpu_memory_gib"] = {"value": round(req / util, 3), "arithmetic": f"requested {req} GiB / util {util} (printed values, rounded)"}
    if req is not None and nonkv is not None and avail is not None:
        d["available_check_gib"] = {"value": round(req - nonkv, 2), "arithmetic": f"requested {req} - total non-KV {nonkv} = {round(req-nonkv,2)} vs printed {avail}"}
    if w is not None and tp_inc is not None and nt is not None:
        d["non_kv_sum_gib"] = {"value": round(w + tp_inc + nt, 2), "arithmetic": f"weights {w} + torch peak increase {tp_inc} + non-torch increase {nt}"}
    if toks and blocks:
        d["tokens_per_block_per_group"] = {"value": toks / blocks, "arithmetic": f"{toks} tokens / {blocks} blocks (16 for one KV-cache group; 16/n_groups when hybrid groups share the pool)"}
        if avail:
            d["bytes_per_block_all_layers"] = {"value": round(avail * 2**30 / blocks), "arithmetic": f"{avail} GiB * 2^30 / {blocks} blocks (available is rounded to 0.01 GiB)"}
    ent["derived"] = d
    entries.append(ent)
for m in manual:
    entries.append(m)
doc = {"_meta": json.load(open("/tmp/eng/build/meta.json")), "entries": entries}
json.dump(doc, open(sys.argv[1], "w"), indent=1, ensure_ascii=False)
from collections import Counter
print(len(entries), Counter(e["engine"] for e in entries), Counter(c for e in entries for c in e["model_classes"]))
