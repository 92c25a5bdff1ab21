"""attncalc.run.execute: run_attention's result, the memory guard, the sgemm probe, the cache."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

import pytest

from attncalc.run import execute
from attncalc.run import machine as sysinfo
from attncalc.errors import WorkloadError
from attncalc.run.execute import RunResult, RunSpec, estimate_bytes, run_attention

GiB = 1 << 30


def small(**kw) -> RunSpec:
    base = dict(batch=2, seq=37, d_model=24, n_heads=4, n_kv_heads=2, d_head=6, repeat=3)
    base.update(kw)
    return RunSpec(**base)


def test_run_attention_result():
    seen: list[str] = []
    r = run_attention(small(threads=1), progress=seen.append, probe=False)
    assert isinstance(r, RunResult)
    assert len(r.times) == 3 and r.min_s <= r.median_s <= r.max_s
    assert r.threads == 1
    assert r.check_passed is True and r.max_rel_error < r.tolerance
    assert isinstance(r.estimated_bytes, int) and r.estimated_bytes > 0
    assert isinstance(r.peak_memory_bytes, int) and r.peak_memory_bytes >= 0
    assert r.compile_s >= 0.0 and isinstance(r.cached, bool)
    assert r.sgemm_gflops is None
    assert any(m.startswith("repeat") for m in seen)
    assert r.as_dict()["spec"]["seq"] == 37


def test_run_attention_layers_window_float64():
    r = run_attention(small(layers=3, window=5, causal=False, dtype="float64", warmup=0),
                      probe=False)
    assert r.check_passed and r.max_rel_error < 1e-10


def test_no_check():
    r = run_attention(small(check=False, repeat=1), probe=False)
    assert r.max_rel_error is None and r.check_passed is None


def test_memory_guard_refuses_before_allocating(monkeypatch):
    def boom(*_a, **_k):  # pragma: no cover - must not be reached
        raise AssertionError("allocated inputs despite the guard")

    monkeypatch.setattr(execute.run, "make_inputs", boom)
    spec = RunSpec(batch=64, seq=1_000_000, d_model=12288, n_heads=96, n_kv_heads=96,
                   d_head=128, max_memory=GiB)
    rss = sysinfo.current_rss()
    t0 = time.perf_counter()
    with pytest.raises(WorkloadError) as info:
        run_attention(spec)
    assert time.perf_counter() - t0 < 0.5
    msg = str(info.value)
    assert "\n" not in msg
    assert "GiB" in msg and "1.00 GiB" in msg
    assert "--heads" in msg and "--seq" in msg and "--batch" in msg
    if rss is not None:
        assert sysinfo.current_rss() - rss < 64 << 20


def test_memory_guard_uses_available_memory():
    avail = sysinfo.available_memory()
    if avail is None:
        pytest.skip("no MemAvailable here")
    spec = RunSpec(batch=1024, seq=1 << 20, d_model=4096, n_heads=32, n_kv_heads=32,
                   d_head=128)
    assert estimate_bytes(spec) > avail
    with pytest.raises(WorkloadError, match="available memory"):
        execute.check_memory(spec)


def test_estimate_is_linear_in_seq():
    def est(seq):
        return estimate_bytes(RunSpec(batch=1, seq=seq, d_model=1024, n_heads=8, n_kv_heads=8,
                                      d_head=128, threads=2))

    # (step_plan may take fewer heads per step as seq grows: at most linear, never quadratic)
    e = [est(s) for s in (1024, 2048, 4096, 8192)]
    assert e[1] - e[0] > 0
    assert all(e[i + 1] - e[i] <= 2.01 * (e[i] - e[i - 1]) for i in (1, 2))
    assert e[3] < 8.5 * e[0]


def test_estimate_covers_the_arrays():
    spec = RunSpec(batch=1, seq=8192, d_model=1024, n_heads=8, n_kv_heads=8, d_head=128,
                   check=False, threads=2)
    io = 4 * (2 * 8192 * 1024 + 4 * 1024 * 1024)  # X, Y and the four weights
    kh, kg = execute.step_plan(spec)
    step = 4 * 8192 * 128 * 2 * (kh + kg)  # Q, C, K, V of one step
    assert io + step < estimate_bytes(spec) < io + step + (2 << 20)
    # the issue's budget: at most 1.5 x (inputs + weights + outputs), no S x S buffer
    assert estimate_bytes(spec) <= 1.5 * io


@pytest.mark.parametrize("shape,expect", [
    ((1, 512, 768, 12, 12, 64), (12, 12)),  # every head: 768 columns, buffers under the floor
    ((1, 8192, 1024, 8, 8, 128), (1, 1)),  # memory-bound: one head at a time
    ((1, 2048, 2048, 16, 16, 128), (8, 8)),  # 16 heads would need 0.67 x io of buffers
    ((1, 2048, 4096, 32, 8, 128), (16, 4)),  # GQA: 4 whole groups of 4, 2048 columns
    ((1, 2048, 4096, 32, 2, 128), (16, 1)),  # a group of 16 in one step
    ((1, 64, 64, 6, 3, 4), (6, 3)),  # tiny: every head in one step
])
def test_step_plan(shape, expect):
    spec = RunSpec(*shape, check=False)
    kh, kg = execute.step_plan(spec)
    assert (kh, kg) == expect
    group = spec.n_heads // spec.n_kv_heads
    assert spec.n_heads % kh == 0 and (kh % group == 0 or group % kh == 0)


@pytest.mark.parametrize("bad", [
    dict(n_heads=6, n_kv_heads=4), dict(seq=0), dict(dtype="float16"), dict(window=0),
    dict(repeat=0), dict(threads=0), dict(batch=1.5),
])
def test_validation(bad):
    with pytest.raises(WorkloadError):
        estimate_bytes(small(**bad))


def test_too_many_threads():
    import numba

    with pytest.raises(WorkloadError, match="threads"):
        run_attention(small(threads=numba.config.NUMBA_NUM_THREADS + 1), probe=False)


def test_keyboard_interrupt_restores_blas_threads():
    lib = sysinfo.blas()
    before = lib.get_threads()

    def progress(msg):
        if msg.startswith("repeat 2"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_attention(small(), progress=progress, probe=False)
    assert lib.get_threads() == before
    # and the kernel still works afterwards
    assert run_attention(small(repeat=1), probe=False).check_passed


def test_sgemm_probe():
    g = execute.sgemm_probe(threads=1, target_s=0.02, repeats=1)
    assert 0.1 < g < 1e5


def test_reference_rows_subset():
    import numpy as np

    spec = small(dtype="float64")
    x, w = execute.make_inputs(spec)
    full = execute.reference_attention(x[0], w, 4, 2, 6, True, None)
    rows = np.array([0, 5, 36])
    np.testing.assert_allclose(
        execute.reference_attention(x[0], w, 4, 2, 6, True, None, rows), full[rows],
        rtol=1e-12, atol=1e-14)


def test_second_process_loads_from_cache():
    run_attention(small(repeat=1), probe=False)  # make sure the cache exists
    code = ("from attncalc.run import execute\n"
            "s, cached = execute.compile_kernel('float32')\n"
            "print(cached, s)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr[-2000:]
    cached, seconds = proc.stdout.split()
    assert cached == "True", proc.stdout
    assert float(seconds) < 5.0


# --- numba settings and the cache directory (attncalc.run.settings) -------------------------------


def test_cache_dir_choice(tmp_path):
    from attncalc.run.settings import choose_cache_dir

    pkg = tmp_path / "pkg"
    pkg.mkdir()
    # package folder writable: numba's own place beside it
    assert choose_cache_dir(str(pkg), {"HOME": str(tmp_path)}) == (None, True, None)
    # /proc/self cannot be written, even by root: the user cache, silently
    d, on, note = choose_cache_dir("/proc/self", {"HOME": str(tmp_path)})
    assert d == str(tmp_path / ".cache" / "attncalc" / "numba") and on and note is None
    # a NUMBA_CACHE_DIR that cannot be written: the user cache, saying so
    d, on, note = choose_cache_dir(str(pkg), {"HOME": str(tmp_path),
                                              "NUMBA_CACHE_DIR": "/proc/self/numba"})
    assert d.endswith("attncalc/numba") and on and "NUMBA_CACHE_DIR=/proc/self/numba" in note
    # HOME unwritable too: the temporary directory, saying so
    d, on, note = choose_cache_dir("/proc/self", {"HOME": "/proc/self"})
    assert d.startswith(tempfile.gettempdir()) and on and d in note


def test_no_writable_cache_dir(monkeypatch):
    from attncalc.run import settings

    monkeypatch.setattr(settings.tempfile, "gettempdir", lambda: "/proc/self")
    d, on, note = settings.choose_cache_dir("/proc/self", {"HOME": "/proc/self"})
    assert d is None and on is False and "compiled in every run" in note


@pytest.mark.parametrize("env,ok", [
    ({}, True), ({"NUMBA_NUM_THREADS": "4"}, True), ({"NUMBA_NUM_THREADS": "0"}, False),
    ({"NUMBA_NUM_THREADS": " "}, True), ({"NUMBA_THREADING_LAYER": "omp"}, True),
    ({"NUMBA_THREADING_LAYER": "OpenMP"}, False), ({"NUMBA_DISABLE_JIT": "0"}, True),
    ({"NUMBA_DISABLE_JIT": "1"}, False), ({"ATTNCALC_BLAS": "MKL"}, True),
    ({"ATTNCALC_BLAS": "atlas"}, False),
])
def test_check_environment(env, ok):
    from attncalc.run.settings import check_environment

    if ok:
        check_environment(env)
    else:
        with pytest.raises(WorkloadError) as info:
            check_environment(env)
        assert "\n" not in str(info.value)


# --- the decomposition (attncalc.run.execute.layout) ------------------------------------------------

BENCH_SHAPES = [(1, 512, 768, 12, 12, 64), (1, 2048, 2048, 16, 16, 128),
                (1, 2048, 12288, 8, 8, 128), (1, 8192, 1024, 8, 8, 128),
                (8, 128, 768, 12, 12, 64), (1, 4096, 4096, 32, 8, 128)]


@pytest.mark.parametrize("shape", BENCH_SHAPES)
def test_layout_gives_every_thread_work(shape):
    from attncalc.run.execute.layout import balance

    spec = RunSpec(*shape, check=False)
    for workers in (1, 2, 3, 4, 8, 12, 16, 32):
        lay = execute.choose_layout(spec, workers)
        rows = lay.seqs * spec.seq
        n_r = -(-rows // lay.proj_rows)
        p_tasks = n_r * (-(-lay.heads * spec.d_head // lay.proj_cols)
                         + 2 * -(-lay.kv_groups * spec.d_head // lay.proj_cols))
        core_tasks = lay.seqs * lay.heads * -(-spec.seq // lay.block_q)
        o_tasks = -(-rows // lay.out_rows) * -(-spec.d_model // lay.out_cols)
        # the queue's efficiency with equal tiles (critical path within 4/3 of perfect)
        assert min(balance(p_tasks, workers), balance(o_tasks, workers)) >= 0.75, (workers, lay)
        assert core_tasks >= min(workers, lay.seqs * lay.heads * -(-spec.seq // 64))
        # the projections stay GEMMs of at least 64 x 64
        assert min(lay.proj_rows, rows) >= min(64, rows) and lay.proj_cols >= 64
        assert spec.batch % lay.seqs == 0 and spec.n_heads % lay.heads == 0
        if workers == 1:  # nothing to balance: the largest tiles
            assert lay.proj_cols >= lay.heads * spec.d_head and lay.out_cols >= spec.d_model


def test_layout_balance_is_exact_for_equal_tasks():
    from attncalc.run.execute.layout import balance

    assert balance(16, 16) == 1.0 and balance(17, 16) == 17 / 32 and balance(48, 16) == 1.0
    assert balance(3, 1) == 1.0


def test_several_sequences_per_step_for_short_batched_sequences():
    lay = execute.choose_layout(RunSpec(8, 128, 768, 12, 12, 64, check=False), 4)
    assert lay.seqs == 8  # 1024 rows per step instead of 128
    lay = execute.choose_layout(RunSpec(3, 4096, 768, 12, 12, 64, check=False), 4)
    assert lay.seqs == 1  # long sequences: one at a time


def test_causal_tasks_costliest_first():
    spec = RunSpec(1, 1000, 64, 2, 2, 32, causal=True, check=False)
    lay = execute.choose_layout(spec, 16)
    _, heads, rows = execute.plan_tasks(spec, lay)
    def pairs(i0):  # kept (query, key) pairs of the tile starting at row i0, brute force
        return sum(i + 1 for i in range(i0, min(i0 + lay.block_q, 1000)))

    costs = [pairs(int(r)) for r in rows]
    assert costs[0] >= 0.9 * max(costs) and costs[1] == costs[0]  # both heads' costliest first
    assert rows[-1] == 0 and costs[-1] == min(costs)
