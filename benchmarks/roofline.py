"""The README's roofline figures: the FasterTransformer comparison (kipply 2022) and the recorded
PyTorch timings of tests/golden/roofline/*.json against attncalc's bound and estimate.

    .venv/bin/python benchmarks/roofline.py
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

from attncalc.spec.hardware import from_mapping, load_hardware
from attncalc.core.time.roofline import decode_time, prefill_time
from attncalc.core.time.setup import Efficiency, Setup
from attncalc.spec.hf import from_hf_config
from attncalc.spec.load import load_file

RF = Path(__file__).resolve().parent.parent / "tests" / "golden" / "roofline"
KIPPLY = {1: (Fraction("63.17"), Fraction("22.0"), Fraction("0.9")), 2: (Fraction("45.45"), Fraction("13.5"), Fraction("0.87"))}


def kipply() -> None:
    a = load_file(RF / "kipply-13b.toml")
    print("| GPUs | pass | measured (FasterTransformer) | attncalc bound | attncalc estimate | residual |")
    print("|---:|---|---:|---:|---:|---:|")
    for g, (mp, md, em) in KIPPLY.items():
        s = Setup(load_hardware("a100-40gb-sxm"), "fp16", gpus=g, efficiency=Efficiency(Fraction(7, 10), em))
        for name, pt, m in (("prefill 512", prefill_time(a, s, 1, 512), mp), ("decode / token", decode_time(a, s, 1, 512), md)):
            b, e = float(pt.bound_s * 1000), float(pt.estimate_s * 1000)
            print(f"| {g} | {name} | {float(m):.2f} ms | {b:.2f} ms | {e:.2f} ms | {100 * (e / float(m) - 1):+.1f}% |")


def recorded(name: str) -> None:
    path = RF / name
    if not path.exists():
        print(f"({name}: not recorded)")
        return
    doc = json.loads(path.read_text())
    c = doc["ceilings"]
    key = {"float32": "fp32", "bfloat16": "bf16"}[c["matmul"]["dtype"]]
    hw = from_mapping({"name": "recorded", "source": "ceilings", "memory_bytes_per_s": c["memory"]["bytes_per_s"],
                       "dense_flops_per_s": {key: c["matmul"]["flops_per_s"]}})
    s = Setup(hw, key)
    env = doc["env"]
    print(f"{name}: {env.get('gpu') or env.get('cpu')}, torch {env['torch']}, transformers {env['transformers']}; "
          f"ceilings {c['matmul']['flops_per_s'] / 1e9:,.1f} GFLOP/s ({key} matmul n={c['matmul']['n']}), "
          f"{c['memory']['bytes_per_s'] / 1e9:,.2f} GB/s")
    print("| model | pass | shape | measured (best) | bound | estimate | bound / measured |")
    print("|---|---|---|---:|---:|---:|---:|")
    for r in doc["runs"]:
        a = from_hf_config({k: v for k, v in r["config"].items() if not k.startswith("_")}, r["model"], r["model"])
        if r["kind"] == "prefill":
            pt, shape = prefill_time(a, s, r["batch"], r["seq"]), f"b{r['batch']} s{r['seq']}"
        else:
            pt, shape = decode_time(a, s, r["batch"], r["context"]), f"b{r['batch']} ctx{r['context']}"
        m = r["min_s"]
        print(f"| {r['model']} | {r['kind']} | {shape} | {m * 1e3:,.1f} ms | {float(pt.bound_s) * 1e3:,.1f} ms | "
              f"{float(pt.estimate_s) * 1e3:,.1f} ms | {float(pt.bound_s) / m:.2f} |")


if __name__ == "__main__":
    kipply()
    print()
    recorded("cpu.json")
    print()
    recorded("h200.json")
