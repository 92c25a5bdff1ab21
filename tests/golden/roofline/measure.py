"""Measure what the roofline bounds must never exceed: PyTorch prefill and decode times of real
architectures built with random weights, and single matmul / copy ceilings, on this machine.

Outside reference for `attncalc time`: every number here is a PyTorch timing, never an attncalc
figure. Models come from Hugging Face configs (the published ones in ../hf_configs, some with fewer
layers, and one scaled-down Mixtral), built with random weights (`from_config`), SDPA attention.

- prefill: ``model(input_ids, use_cache=False)`` over batch x seq tokens (logits for every position,
  as attncalc counts them); best and median of the timed repeats after a warm-up.
- decode: a prefill of ``context`` tokens fills the KV cache, then single-token steps with the cache
  (the context grows by one per step: step i attends over context + i tokens); each step timed alone.
- ceilings: the best of a few square matmuls (the dtype's peak as PyTorch reaches it) and the best
  of a copy (read + write) and a sum (read) of a large buffer (memory bandwidth).

CUDA timings synchronize before and after each timed call. Usage (writes one JSON file):

    /work/venv-golden/bin/python tests/golden/roofline/measure.py --device cpu --out tests/golden/roofline/cpu.json
    python3 tests/golden/roofline/measure.py --device cuda --out $OUT/h200.json      # on the GPU machine
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
import transformers

HERE = Path(__file__).resolve().parent
CONFIGS = HERE.parent / "hf_configs"

# A Mixtral with the published block shape cut down to fit a shared 2-core CPU (d_model 512).
MIXTRAL_SMALL = {"model_type": "mixtral", "architectures": ["MixtralForCausalLM"], "hidden_size": 512,
                 "intermediate_size": 1792, "num_hidden_layers": 4, "num_attention_heads": 8,
                 "num_key_value_heads": 2, "num_local_experts": 8, "num_experts_per_tok": 2, "vocab_size": 32000,
                 "hidden_act": "silu", "max_position_embeddings": 4096, "rms_norm_eps": 1e-5,
                 "tie_word_embeddings": False, "sliding_window": None}

# (name, config source, overrides, [(kind, batch, seq_or_context)])
PROFILES = {
    "cpu": {
        "dtype": "float32", "matmul_n": 2048, "copy_bytes": 256 << 20, "repeats": 3, "decode_steps": 4,
        "models": [
            ("gpt2-small", "gpt2-small", {}, [("prefill", 1, 128), ("prefill", 1, 512), ("decode", 1, 128),
                                             ("decode", 4, 512)]),
            ("qwen2-0.5b", "qwen2-0.5b", {}, [("prefill", 1, 128), ("decode", 1, 128)]),
            ("mixtral-small", MIXTRAL_SMALL, {}, [("prefill", 1, 256), ("decode", 1, 256)]),
        ],
    },
    "cuda": {
        "dtype": "bfloat16", "matmul_n": 8192, "copy_bytes": 4 << 30, "repeats": 5, "decode_steps": 8,
        "models": [
            ("gpt2-small", "gpt2-small", {}, [("prefill", 1, 1024), ("prefill", 8, 1024), ("decode", 1, 1024),
                                             ("decode", 32, 1024)]),
            ("llama-3-8b", "llama-3-8b", {}, [("prefill", 1, 2048), ("prefill", 4, 2048), ("decode", 1, 2048),
                                             ("decode", 16, 2048)]),
            ("mixtral-8x7b-4layers", "mixtral-8x7b", {"num_hidden_layers": 4},
             [("prefill", 1, 2048), ("decode", 1, 2048), ("decode", 8, 2048)]),
        ],
    },
}


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def timed(fn, device: str) -> float:
    sync(device)
    t0 = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - t0


def ceilings(device: str, dtype: torch.dtype, n: int, nbytes: int, repeats: int) -> dict:
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    c = torch.empty_like(a)
    torch.matmul(a, b, out=c)
    mm = [timed(lambda: torch.matmul(a, b, out=c), device) for _ in range(repeats + 2)]
    del a, b, c
    src = torch.ones(nbytes // 4, device=device, dtype=torch.float32)
    dst = torch.empty_like(src)
    dst.copy_(src)
    copy = [timed(lambda: dst.copy_(src), device) for _ in range(repeats + 2)]
    src.sum()
    read = [timed(lambda: src.sum(), device) for _ in range(repeats + 2)]
    del src, dst
    return {"matmul": {"dtype": str(dtype).replace("torch.", ""), "n": n, "flops": 2 * n**3, "times_s": mm,
                       "flops_per_s": int(2 * n**3 / min(mm))},
            "memory": {"nbytes": nbytes, "copy_times_s": copy, "read_times_s": read,
                       "copy_bytes_per_s": int(2 * nbytes / min(copy)), "read_bytes_per_s": int(nbytes / min(read)),
                       "bytes_per_s": int(max(2 * nbytes / min(copy), nbytes / min(read)))}}


def config_dict(source, overrides: dict) -> dict:
    if isinstance(source, dict):
        raw = dict(source)
    else:
        raw = json.loads((CONFIGS / f"{source}.json").read_text())
    raw = {k: v for k, v in raw.items() if k not in ("_note", "auto_map", "torch_dtype", "dtype",
                                                      "transformers_version")}
    raw.update(overrides)
    return raw


def build(cfg_dict: dict, device: str, dtype: torch.dtype):
    d = {k: v for k, v in cfg_dict.items() if not k.startswith("_")}
    cfg = transformers.AutoConfig.for_model(d.pop("model_type"), **d)
    cls = getattr(transformers, cfg.architectures[0])
    torch.manual_seed(0)
    with torch.device(device):
        try:
            model = cls._from_config(cfg, attn_implementation="sdpa", dtype=dtype)
        except TypeError:  # transformers < 4.56 names it torch_dtype
            model = cls._from_config(cfg, attn_implementation="sdpa", torch_dtype=dtype)
    return model.eval()


def run_prefill(model, device, batch, seq, vocab, repeats) -> list[float]:
    ids = torch.randint(0, vocab, (batch, seq), device=device)
    with torch.inference_mode():
        model(ids, use_cache=False)
        return [timed(lambda: model(ids, use_cache=False), device) for _ in range(repeats)]


def run_decode(model, device, batch, context, vocab, steps) -> list[float]:
    ids = torch.randint(0, vocab, (batch, context), device=device)
    with torch.inference_mode():
        out = model(ids, use_cache=True)
        cache = out.past_key_values
        nxt = out.logits[:, -1:].argmax(-1)
        times = []
        for i in range(steps + 2):  # two untimed warm-up steps
            box = {}

            def step():
                box["out"] = model(nxt, past_key_values=cache, use_cache=True)

            t = timed(step, device)
            nxt = box["out"].logits[:, -1:].argmax(-1)
            cache = box["out"].past_key_values
            if i >= 2:
                times.append(t)
        return times


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", choices=("cpu", "cuda"), required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--only", nargs="*", help="model names to run (default: all of the profile)")
    args = ap.parse_args()
    prof = PROFILES[args.device]
    dtype = getattr(torch, prof["dtype"])
    env = {"python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__,
           "platform": platform.platform(), "cpus": os.cpu_count(), "threads": torch.get_num_threads(),
           "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())}
    if args.device == "cuda":
        env.update(gpu=torch.cuda.get_device_name(0), cuda=torch.version.cuda,
                   gpu_memory_bytes=torch.cuda.get_device_properties(0).total_memory)
    else:
        try:
            env["cpu"] = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                              if line.startswith("model name"))
        except (OSError, StopIteration):
            env["cpu"] = platform.processor()
    doc = {"script": "tests/golden/roofline/measure.py", "device": args.device, "dtype": prof["dtype"], "env": env,
           "ceilings": ceilings(args.device, dtype, prof["matmul_n"], prof["copy_bytes"], prof["repeats"]),
           "runs": []}
    print(json.dumps(doc["ceilings"]["matmul"]["flops_per_s"]), json.dumps(doc["ceilings"]["memory"]["bytes_per_s"]),
          file=sys.stderr, flush=True)
    for name, source, overrides, work in prof["models"]:
        if args.only and name not in args.only:
            continue
        cfg = config_dict(source, overrides)
        t0 = time.perf_counter()
        model = build(cfg, args.device, dtype)
        params = sum(p.numel() for p in model.parameters())
        build_s = time.perf_counter() - t0
        for kind, batch, n in work:
            if kind == "prefill":
                times = run_prefill(model, args.device, batch, n, cfg["vocab_size"], prof["repeats"])
            else:
                times = run_decode(model, args.device, batch, n, cfg["vocab_size"], prof["decode_steps"])
            rec = {"model": name, "config": cfg, "params": params, "kind": kind, "batch": batch,
                   ("seq" if kind == "prefill" else "context"): n, "times_s": times, "min_s": min(times),
                   "median_s": statistics.median(times), "build_s": build_s}
            if kind == "decode":
                rec["note"] = "step i (from 0) attends over context + 2 + i cached tokens (two warm-up steps first)"
            doc["runs"].append(rec)
            print(name, kind, batch, n, f"{min(times):.4g}", file=sys.stderr, flush=True)
        del model
        if args.device == "cuda":
            torch.cuda.empty_cache()
    Path(args.out).write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()
