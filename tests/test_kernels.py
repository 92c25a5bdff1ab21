"""The numba kernel against the plain NumPy reference, on tiny shapes (fast, cached compile).

Tolerances, on max|y - y_ref| / max|y_ref| with y_ref computed in float64 from the same
inputs: float32 2e-5 here (observed ~1e-6; the run-time check in execute allows 2e-4 for
long rows), float64 1e-12. The fast float32 exp is checked element-wise to 1e-6 relative.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from attncalc.run import execute
from attncalc.run.execute import RunSpec

kernels = pytest.importorskip("attncalc.run.kernels")

TOL = {"float32": 2e-5, "float64": 1e-12}


def run_once(spec: RunSpec, workers: int = 2, layout=None) -> tuple[np.ndarray, np.ndarray]:
    """Kernel output and float64 reference (all rows, every batch item).

    ``workers`` sizes the layout and the per-worker scratch; numba runs them on at most this
    machine's threads (prange splits the workers' loops over the threads it has), so the
    layouts chosen for 16 threads are checked here too.
    """
    import numba

    numba.set_num_threads(min(workers, numba.config.NUMBA_NUM_THREADS))
    x, w = execute.make_inputs(spec)
    out = np.full_like(x, np.nan)
    block = execute.Block(spec, w, workers, layout)
    from attncalc.run import machine as sysinfo

    with sysinfo.blas_threads(1):
        block(x, out)
    w64 = execute.Weights(*(a.astype(np.float64) for a in (w.w_q, w.w_k, w.w_v, w.w_o)))
    ref = np.stack([
        execute.reference_attention(x[b].astype(np.float64), w64, spec.n_heads,
                                    spec.n_kv_heads, spec.d_head, spec.causal, spec.window)
        for b in range(spec.batch)
    ])
    return out, ref


def rel_err(out, ref) -> float:
    return float(np.abs(out.astype(np.float64) - ref).max() / np.abs(ref).max())


SHAPES = [
    # batch, seq, d_model, n_heads, n_kv_heads, d_head, window
    pytest.param(2, 37, 24, 4, 4, 6, None, id="mha-odd-seq"),
    pytest.param(1, 37, 24, 4, 2, 8, None, id="gqa-2"),
    pytest.param(2, 45, 16, 6, 1, 5, None, id="mqa"),
    pytest.param(1, 300, 32, 4, 2, 16, None, id="several-tiles"),  # 3 query x 2 key tiles
    pytest.param(1, 300, 32, 4, 4, 8, 70, id="window-70"),
    pytest.param(1, 300, 24, 2, 1, 12, 1, id="window-1"),
    pytest.param(1, 1, 8, 2, 2, 4, None, id="seq-1"),
]


@pytest.mark.parametrize("causal", [True, False], ids=["causal", "full"])
@pytest.mark.parametrize("batch,seq,d_model,n_heads,n_kv_heads,d_head,window", SHAPES)
def test_float32_matches_reference(batch, seq, d_model, n_heads, n_kv_heads, d_head, window,
                                   causal):
    spec = RunSpec(batch, seq, d_model, n_heads, n_kv_heads, d_head, causal=causal,
                   window=window, seed=seq + n_heads)
    out, ref = run_once(spec)
    assert np.isfinite(out).all()
    assert rel_err(out, ref) < TOL["float32"]


@pytest.mark.parametrize("causal,window", [(True, None), (False, None), (True, 50), (False, 9)])
def test_float64_matches_reference_tightly(causal, window):
    spec = RunSpec(2, 300, 24, 4, 2, 8, causal=causal, window=window, dtype="float64")
    out, ref = run_once(spec)
    assert out.dtype == np.float64
    assert rel_err(out, ref) < TOL["float64"]


@pytest.mark.parametrize("cols", [4, 8, 16], ids=["kh1", "kh2", "kh4"])
@pytest.mark.parametrize("n_kv_heads", [4, 2, 1], ids=["mha", "gqa-2", "mqa"])
def test_heads_in_several_steps(monkeypatch, cols, n_kv_heads):
    """Steps of 1, 2 or 4 heads: K/V kept across steps of one group, output accumulated."""
    monkeypatch.setattr(execute.layout, "STEP_COLS", cols)
    spec = RunSpec(2, 40, 12, 4, n_kv_heads, 4, causal=True, window=None, seed=cols)
    assert execute.step_plan(spec)[0] * 4 <= cols
    out, ref = run_once(spec)
    assert rel_err(out, ref) < TOL["float32"]


def layout(**kw):
    base = dict(heads=2, kv_groups=1, seqs=1, block_q=96, block_k=48, proj_rows=64,
                proj_cols=16, out_rows=64, out_cols=16, workers=2)
    base.update(kw)
    return execute.Layout(**base)


@pytest.mark.parametrize("causal,window", [(True, None), (False, None), (True, 40), (False, 25)])
def test_small_tiles(causal, window):
    """Many query and key tiles (96 x 48, unaligned): partly masked tiles in bands of 64 rows."""
    spec = RunSpec(1, 333, 16, 2, 1, 8, causal=causal, window=window, seed=7)
    out, ref = run_once(spec, layout=layout())
    assert rel_err(out, ref) < TOL["float32"]


@pytest.mark.parametrize("lay", [
    dict(proj_rows=32, proj_cols=16, out_rows=48, out_cols=16),  # column pieces of Q, K, V, Y
    dict(proj_rows=100, proj_cols=20, out_rows=7, out_cols=40),  # uneven last pieces
    dict(seqs=3, heads=2, kv_groups=1, block_q=64),  # three sequences per step
    dict(seqs=1, heads=1, kv_groups=1, proj_cols=8),  # one head per step, several pieces
], ids=["pieces", "uneven", "seqs-per-step", "one-head"])
def test_decompositions_agree(lay):
    """Every way of cutting the block into tiles gives the reference's output."""
    spec = RunSpec(3, 90, 24, 4, 2, 8, causal=True, seed=3)
    out, ref = run_once(spec, layout=layout(**lay))
    assert rel_err(out, ref) < TOL["float32"]


@pytest.mark.parametrize("workers", [1, 3, 8, 16])
@pytest.mark.parametrize("shape", [(1, 200, 96, 6, 6, 16), (4, 64, 48, 4, 2, 12)],
                         ids=["one-seq", "batch-4"])
def test_layout_for_many_threads(workers, shape):
    """The layouts chosen for 1..16 threads (smaller tiles, several sequences per step)."""
    spec = RunSpec(*shape, causal=True, seed=workers)
    out, ref = run_once(spec, workers=workers)
    assert rel_err(out, ref) < TOL["float32"]


def test_one_thread_equals_two_threads():
    """The same decomposition gives the same bits on 1 and 2 threads: each tile is computed by one
    thread in a fixed order, whichever thread takes it. (Layouts chosen FOR different thread counts
    cut the block differently, so their sums may differ in the last bit: test_layout_for_many_threads.)"""
    from attncalc.run.execute.layout import choose_layout

    spec = RunSpec(1, 300, 32, 4, 2, 8, causal=True)
    lay = choose_layout(spec, 2)
    a, _ = run_once(spec, workers=1, layout=lay)
    b, _ = run_once(spec, workers=2, layout=lay)
    np.testing.assert_array_equal(a, b)


def test_causal_row_zero_sees_only_itself():
    """Row 0 of a causal block is V_0 projected: softmax over one key is exactly 1."""
    spec = RunSpec(1, 5, 8, 2, 2, 4, causal=True, dtype="float64")
    out, _ = run_once(spec)
    x, w = execute.make_inputs(spec)
    v0 = x[0, 0] @ w.w_v  # n_kv_heads == n_heads: head h uses v0[h]
    np.testing.assert_allclose(out[0, 0], v0 @ w.w_o, rtol=1e-12)


def test_fast_exp_accuracy():
    x = np.linspace(-87.0, 0.0, 20001, dtype=np.float32)
    got, total = kernels.exp_tile_check(x, 0.0)
    ref = np.exp(x.astype(np.float64))
    assert np.max(np.abs(got - ref) / ref) < 1e-6
    assert abs(total - ref.sum()) / ref.sum() < 1e-5
    # a shifted maximum, as the online softmax uses it
    y = np.random.default_rng(1).normal(0, 4, 1000).astype(np.float32)
    got, _ = kernels.exp_tile_check(y, float(y.max()))
    ref = np.exp(y.astype(np.float64) - float(y.max()))
    # (the float32 subtraction y - max adds up to |y - max| * 2^-24 of relative error)
    assert np.max(np.abs(got - ref) / ref) < 2e-6


def test_blas_backend_is_reported():
    assert kernels.BLAS_BACKEND in ("mkl", "openblas", "numpy-callback")


def test_numpy_callback_backend_in_subprocess():
    """The portable fallback (numpy.matmul through a ctypes callback) gives the same answer."""
    code = (
        "import numpy as np\n"
        "from attncalc.run.execute import RunSpec, run_attention\n"
        "from attncalc.run import kernels\n"
        "assert kernels.BLAS_BACKEND == 'numpy-callback', kernels.BLAS_BACKEND\n"
        "r = run_attention(RunSpec(2, 37, 24, 4, 2, 6, causal=True, repeat=1, warmup=0),"
        " probe=False)\n"
        "assert r.check_passed, r.max_rel_error\n"
        "print('ok', r.max_rel_error)\n"
    )
    env = dict(os.environ, ATTNCALC_BLAS="callback")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("ok")


def test_gemm_panels_is_the_product():
    """The sgemm probe's product through the kernel's BLAS, in row panels over the workers."""
    rng = np.random.default_rng(5)
    a = rng.standard_normal((300, 70), dtype=np.float32)
    b = rng.standard_normal((70, 50), dtype=np.float32)
    c = np.full((300, 50), np.nan, np.float32)
    kernels.gemm_panels(a, b, c, 64, np.zeros(3, np.int64))
    np.testing.assert_allclose(c, a.astype(np.float64) @ b, rtol=1e-4, atol=1e-4)
    g = execute.probe.kernel_sgemm_samples(1, target_s=0.01, repeats=2)
    assert len(g) == 2 and all(0.1 < x < 1e5 for x in g)
