"""`attncalc run`: the counted FLOPs of what runs, the memory guard, and the JSON it reports."""

from __future__ import annotations

import json

from attncalc import load_model
from attncalc.core.evaluate import forward
from attncalc.core.workload import Convention
from attncalc.run.plan import plan


def test_plan_counts_the_executed_block_with_the_core():
    a = load_model("gpt2-small")  # biases are not executed, and not counted
    p = plan(a, batch=1, seq=512, conv=Convention(), layers=2)
    bare = forward(a.replace(qkv_bias=False, out_bias=False), 1, 512, Convention())
    assert p.flops == 2 * bare.get("blocks.block.attention").total
    assert p.model_flops == 12 * bare.get("blocks.block.attention").total


def test_plan_head_subset_keeps_gqa_groups():
    a = load_model("llama-3-8b")  # 32 heads in 8 groups of 4
    p = plan(a, batch=1, seq=64, conv=Convention(), heads=8)
    assert (p.heads, p.kv_heads) == (8, 2)
    full = plan(a, batch=1, seq=64, conv=Convention())
    assert 4 * p.flops == full.flops


def test_memory_guard_refuses_before_allocating(cli):
    r = cli("run", "gpt3", "--seq", "1000000", "--batch", "64", "--max-memory", "1GiB")
    assert r.code == 2 and r.out == "" and len(r.err.strip().splitlines()) == 1
    assert "GiB" in r.err and ("--heads" in r.err or "--seq" in r.err)


def test_bad_run_options(cli):
    for args, needle in ((["--heads", "6"], "multiple of the key/value group size 4"),
                         (["--heads", "64"], "more than the model's 32 heads"),
                         (["--dtype", "float16"], "--dtype must be float32 or float64"),
                         (["--repeat", "0"], "--repeat must be an integer >= 1"),
                         (["--max-memory", "lots"], "--max-memory")):
        r = cli("run", "llama-3-8b", *args)
        assert r.code == 2 and needle in r.err and r.out == "", (args, r.err)


def test_run_json_reports_counted_flops_and_measurements(cli):
    r = cli("run", "gpt2-small", "--seq", "64", "--repeat", "2", "--warmup", "0", "--format", "json")
    assert r.code == 0, r.err
    d = json.loads(r.out)
    p = plan(load_model("gpt2-small"), batch=1, seq=64, conv=Convention())
    assert d["flops"] == p.flops and isinstance(d["flops"], int)
    for key in ("median_s", "gflops", "sgemm_gflops", "ratio_to_sgemm", "compile_s", "cached", "threads",
                "peak_memory_bytes", "max_rel_error"):
        assert key in d
    assert d["max_rel_error"] <= d["tolerance"] and abs(d["gflops"] - d["flops"] / d["median_s"] / 1e9) < 1e-6 * d["gflops"]
