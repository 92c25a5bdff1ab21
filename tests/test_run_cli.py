"""`attncalc run`: the counted FLOPs of what runs, the memory guard, and the JSON it reports."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

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
                         (["--dtype", "float16"], "float32 or float64 only"),
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


ROOT = Path(__file__).resolve().parent.parent
SMALL = ("run", "gpt2-small", "--seq", "16", "--repeat", "1", "--warmup", "0", "--format", "json")


def attncalc(*args, env=None, cwd=None, timeout=300):
    """The CLI in a fresh process (numba reads its settings at import)."""
    return subprocess.run([sys.executable, "-m", "attncalc", *args], capture_output=True,
                          text=True, timeout=timeout, env=env, cwd=cwd)


@pytest.mark.parametrize("spelling,dtype", [("fp32", "float32"), ("F32", "float32"),
                                            ("single", "float32"), ("float64", "float64"),
                                            ("fp64", "float64"), ("double", "float64")])
def test_dtype_spellings_of_count_are_accepted(spelling, dtype):
    from attncalc.run.execute.spec import normalize_dtype

    assert normalize_dtype(spelling) == dtype


def test_run_fp64_spelling(cli):
    r = cli(*SMALL[:-2], "--dtype", "fp64", "--format", "json")
    assert r.code == 0, r.err
    d = json.loads(r.out)
    assert d["shape"]["dtype"] == "float64" and d["check_passed"] and d["max_rel_error"] < 1e-10


@pytest.mark.parametrize("dtype", ["bf16", "fp16", "float16", "bfloat16", "fp8", "int8", "int4",
                                   "tf32"])
def test_dtypes_the_kernel_cannot_execute_are_refused_with_the_reason(cli, dtype):
    r = cli("run", "gpt2-small", "--dtype", dtype)
    assert r.code == 2 and r.out == "" and len(r.err.strip().splitlines()) == 1
    assert ("float32 or float64 only" in r.err or "not TF32" in r.err) and dtype in r.err


def test_unknown_dtype(cli):
    r = cli("run", "gpt2-small", "--dtype", "float17")
    assert r.code == 2 and "unknown" in r.err and "fp32" in r.err


@pytest.mark.parametrize("sets", [
    ["--set", "d_model=1000000000", "--set", "n_heads=1000000000"],  # 10^9 heads of 1
    ["--set", "d_model=100000000000", "--set", "n_heads=100000000", "--set", "n_kv_heads=1"],
    ["--set", "d_model=65536", "--set", "n_heads=65536", "--set", "d_head=1000000"],
])
def test_absurd_shapes_are_refused_at_once(cli, sets):
    """The memory guard answers from arithmetic: no loop over heads, nothing allocated."""
    t0 = time.perf_counter()
    r = cli("run", "gpt2-small", "--seq", "64", *sets)
    assert time.perf_counter() - t0 < 5
    assert r.code == 2 and r.out == "" and len(r.err.strip().splitlines()) == 1, r.err
    assert "GiB" in r.err


@pytest.mark.parametrize("var,value,needle", [
    ("NUMBA_NUM_THREADS", "0", "positive integer"),
    ("NUMBA_NUM_THREADS", "-2", "positive integer"),
    ("NUMBA_NUM_THREADS", "many", "positive integer"),
    ("NUMBA_THREADING_LAYER", "fastest", "unknown to numba"),
    ("NUMBA_DISABLE_JIT", "1", "JIT"),
    ("ATTNCALC_BLAS", "cublas", "ATTNCALC_BLAS"),
])
def test_bad_numba_settings_are_refused_in_one_line(var, value, needle):
    r = attncalc(*SMALL, env=dict(os.environ, **{var: value}))
    assert r.returncode == 2 and r.stdout == "", r.stderr[-2000:]
    assert r.stderr.startswith("attncalc: error: ") and len(r.stderr.strip().splitlines()) == 1
    assert needle in r.stderr and var in r.stderr


def _can_mount_read_only(tmp: Path) -> bool:
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        return False
    d = tmp / "probe"
    d.mkdir()
    proc = subprocess.run(["unshare", "-m", "sh", "-c", f"mount --bind -o ro {d} {d} && ! touch {d}/x"],
                          capture_output=True, timeout=30)
    return proc.returncode == 0


def test_read_only_package_and_home(tmp_path):
    """Package folder and HOME read-only (bind mounts): run still works, caches the kernel in
    the system temporary directory and says so on stderr (before, makedirs of ~/.cache raised;
    with no writable place at all it compiles uncached: test_no_writable_cache_dir)."""
    if not _can_mount_read_only(tmp_path):
        pytest.skip("needs unshare -m and mount (read-only bind mounts)")
    tree = tmp_path / "ro"
    shutil.copytree(ROOT / "attncalc", tree / "attncalc",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "presets", tree / "presets")
    (tree / "home").mkdir()
    env = dict(os.environ, HOME=str(tree / "home"), PYTHONPATH=str(tree),
               PYTHONDONTWRITEBYTECODE="1")
    for key in ("NUMBA_CACHE_DIR", "XDG_CACHE_HOME", "TMPDIR", "TEMP", "TMP"):
        env.pop(key, None)
    cmd = " ".join([sys.executable, "-m", "attncalc", *SMALL])
    proc = subprocess.run(["unshare", "-m", "sh", "-c", f"mount --bind -o ro {tree} {tree} && cd {tree} && {cmd}"],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    d = json.loads(proc.stdout)
    import tempfile

    assert d["check_passed"] and d["cache_dir"].startswith(tempfile.gettempdir())
    assert "read-only" in proc.stderr and d["cache_dir"] in proc.stderr
    assert "Traceback" not in proc.stderr


def test_run_reports_blas_threading_and_layout(cli):
    r = cli(*SMALL)
    assert r.code == 0, r.err
    d = json.loads(r.out)
    assert d["blas_backend"] in ("mkl", "openblas", "numpy-callback")
    assert d["blas"] and d["threading_layer"] in ("workqueue", "omp", "tbb")
    assert d["layout"]["heads"] == 12 and d["layout"]["seqs"] == 1
    assert len(d["sgemm_samples"]) == 3 and d["sgemm_spread"] >= 0
    assert d["sgemm_gflops"] == max(d["sgemm_numpy_gflops"], d["sgemm_kernel_blas_gflops"])
    # any warning printed on stderr is also in the document
    for w in d["warnings"]:
        assert w in r.err


@pytest.mark.parametrize("layer", ["tbb", "omp"])
def test_threading_layer_that_may_be_missing(layer):
    """A layer numba knows but may not load here (tbb needs the tbb package): it runs, or it is
    refused in one line naming the setting; never a traceback."""
    r = attncalc(*SMALL, env=dict(os.environ, NUMBA_THREADING_LAYER=layer))
    if r.returncode == 0:
        assert json.loads(r.stdout)["threading_layer"] == layer
    else:
        assert r.returncode == 2 and r.stdout == "", r.stderr[-2000:]
        assert len(r.stderr.strip().splitlines()) == 1 and "NUMBA_THREADING_LAYER" in r.stderr


def test_readme_thread_table_is_the_saved_run():
    """The README's 16-core table is benchmarks/attention.py's rendering of the raw JSON kept in
    benchmarks/results (so it can be redrawn, and was not edited by hand)."""
    raw = ROOT / "benchmarks" / "results" / "device16-attention-threads.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "attention.py"), "--render",
                           str(raw)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| ")]
    assert len(rows) == 1 + 8 * 5  # header + 4 shapes x 2 masks x 5 thread counts
    readme = (ROOT / "README.md").read_text()
    for row in rows:
        assert row in readme, row


def test_unwritable_numba_cache_dir_falls_back_and_says_so():
    """NUMBA_CACHE_DIR that cannot be written (/proc/self/..., even for root) and HOME that
    cannot either: the kernel is cached in the temporary directory, with a note on stderr."""
    import tempfile

    env = dict(os.environ, NUMBA_CACHE_DIR="/proc/self/numba-cache", HOME="/proc/self")
    env.pop("XDG_CACHE_HOME", None)
    r = attncalc(*SMALL, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    d = json.loads(r.stdout)
    assert d["cache_dir"].startswith(tempfile.gettempdir()) and d["check_passed"]
    assert "NUMBA_CACHE_DIR=/proc/self/numba-cache is not writable" in r.stderr
    assert "Traceback" not in r.stderr
