"""Extract the memory lines of the llm-d-planner vLLM v0.19.0 accuracy-sweep logs (read with git show from the
fetched snapshot; commit d3121e059da88662db39a926a3ead964be97359b, accuracy/results/v0.19.0/logs/*.log)."""
import json, re, subprocess, sys
REPO = "/work/.mirror/llm-d-incubation+llm-d-planner/repo"
COMMIT = "d3121e059da88662db39a926a3ead964be97359b"
LOGDIR = "accuracy/results/v0.19.0/logs"
PATTERNS = {
    "non_default_args": r"non-default args: ",
    "model_loading": r"Model loading took",
    "cuda_graph_profile": r"Profiling CUDA graph memory:",
    "cuda_graph_estimate_piecewise": r"Estimated PIECEWISE CUDA graph memory",
    "cuda_graph_estimate_full": r"Estimated FULL CUDA graph memory",
    "cuda_graph_estimate_total": r"Estimated CUDA graph memory:",
    "initial_free_memory": r"Initial free memory:",
    "memory_profiling": r"Memory profiling takes",
    "available_kv_cache_memory": r"Available KV cache memory",
    "gpu_kv_cache_size": r"GPU KV cache size:",
    "maximum_concurrency": r"Maximum concurrency for",
    "graph_capturing_finished": r"Graph capturing finished",
    "num_gpu_blocks": r"initialization after num_gpu_blocks is:",
    "max_num_batched_tokens_default": r"Defaulting max_num_batched_tokens|Chunked prefill is enabled with max_num_batched_tokens",
    "max_num_seqs_default": r"Defaulting max_num_seqs",
    "attention_backend": r"attention backend out of potential backends",
    "startup_error": r"^(\(\w+ pid=\d+\)\s+)?(ValueError|AssertionError|RuntimeError|torch\.OutOfMemoryError)",
}
CONFIG_KEYS = ["dtype", "max_seq_len", "tensor_parallel_size", "pipeline_parallel_size", "data_parallel_size",
               "quantization", "enforce_eager", "kv_cache_dtype", "enable_prefix_caching", "enable_chunked_prefill"]

def git(*a):
    return subprocess.run(["git", "-C", REPO, *a], capture_output=True, text=True, check=True).stdout

def strip_ansi(s):
    return re.sub(r"\x1b\[[0-9;]*m", "", s)

def extract(path):
    text = strip_ansi(git("show", f"{COMMIT}:{path}"))
    lines = text.splitlines()
    out = {}
    for key, pat in PATTERNS.items():
        hits = []
        for ln in lines:
            if re.search(pat, ln) and "ubatch_slices" not in ln:
                ln = ln.rstrip()
                # progress bars glue a log line after '\r'-less tqdm output: keep from the log prefix on
                m = re.search(r"\((APIServer|EngineCore|Worker[^ ]*) pid=\d+\)", ln)
                if m and m.start() > 0:
                    ln = ln[m.start():]
                if ln not in hits:
                    hits.append(ln)
        if hits:
            out[key] = hits
    cfg_line = next((l for l in lines if "Initializing a V1 LLM engine" in l), None)
    cfg = {}
    version = None
    if cfg_line:
        version = re.search(r"LLM engine \((v[^)]+)\)", cfg_line).group(1)
        for k in CONFIG_KEYS:
            m = re.search(r"[ ,]" + k + r"=([^,]+)", cfg_line)
            if m:
                cfg[k] = m.group(1)
        m = re.search(r"'cudagraph_mode': <([^>]+)>", cfg_line)
        if m: cfg["cudagraph_mode"] = m.group(1)
        m = re.search(r"'max_cudagraph_capture_size': (\d+)", cfg_line)
        if m: cfg["max_cudagraph_capture_size"] = m.group(1)
    return version, cfg, out, len(lines)

def main():
    names = git("ls-tree", "-r", "--name-only", COMMIT, LOGDIR).split()
    res = []
    for p in sorted(names):
        version, cfg, lines, n = extract(p)
        res.append({"path": p, "version": version, "engine_config_fields": cfg, "lines": lines, "n_lines": n})
    json.dump(res, sys.stdout, indent=1, ensure_ascii=False)

main()
