"""Benchmark: single-threaded sgemm of NumPy's OpenBLAS against MKL's runtime (the optional
``mkl`` wheel), at the products the attention kernel makes, in one process.

The kernel calls gemm single-threaded from each of its threads, on tiles: projections of
256 (or fewer) rows, score tiles Q K^T of block_q x 256 x d_head, and P V. Which BLAS is faster
there decides its ``auto`` backend (attncalc.run.kernels.blas). Best of 3 timed batches each.

    python benchmarks/blas_gemm.py [--json PATH]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import sys
import time

os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402

from attncalc.run import machine  # noqa: E402

# (label, M, N, K, B transposed): the kernel's products
SHAPES = [
    ("proj 256 x 1024 x 2048 (s2048 d2048, 8 heads)", 256, 1024, 2048, False),
    ("proj 256 x 768 x 768 (GPT-2 small, 12 heads)", 256, 768, 768, False),
    ("proj 256 x 160 x 768 (GPT-2 small, 16 threads)", 256, 160, 768, False),
    ("proj 64 x 768 x 768", 64, 768, 768, False),
    ("proj 32 x 2304 x 768", 32, 2304, 768, False),
    ("scores 256 x 256 x 128 (Q K^T)", 256, 256, 128, True),
    ("scores 64 x 256 x 64 (Q K^T band)", 64, 256, 64, True),
    ("values 256 x 128 x 256 (P V)", 256, 128, 256, False),
    ("out 256 x 2048 x 1024 (Y += C W_O)", 256, 2048, 1024, False),
    ("square 2048", 2048, 2048, 2048, False),
]


def bind(fn):
    i64 = ctypes.c_int64
    fn.argtypes = [i64] * 6 + [ctypes.c_float] + [i64] * 4 + [ctypes.c_float] + [i64] * 2
    fn.restype = None
    return fn


def gflops(fn, m, n, k, tb) -> float:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((n, k) if tb else (k, n), dtype=np.float32)
    c = np.zeros((m, n), np.float32)
    args = (101, 111, 112 if tb else 111, m, n, k, 1.0, a.ctypes.data, k, b.ctypes.data,
            k if tb else n, 0.0, c.ctypes.data, n)
    fn(*args)
    np.testing.assert_allclose(c, a @ (b.T if tb else b), rtol=1e-3, atol=1e-2)
    reps = max(1, int(2e8 / (2 * m * n * k)))
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(reps):
            fn(*args)
        best = min(best, (time.perf_counter() - t0) / reps)
    return 2 * m * n * k / best / 1e9


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", metavar="PATH")
    args = ap.parse_args(argv)
    ob, mk = machine.blas(), machine.mkl()
    libs = {}
    if ob.sgemm is not None:
        ob.set_threads(1)
        libs["openblas"] = bind(ob.sgemm)
    if mk is not None:
        libs[f"mkl {mk.version}"] = bind(mk.sgemm)
    if len(libs) < 2:
        print("needs both NumPy's ILP64 OpenBLAS and MKL (pip install mkl)", file=sys.stderr)
    rows = []
    print(f"{'product':48s}" + "".join(f"{k:>14s}" for k in libs) + "   GFLOP/s, 1 thread")
    for label, m, n, k, tb in SHAPES:
        r = {"product": label, "m": m, "n": n, "k": k, "b_transposed": tb}
        r.update({name: gflops(fn, m, n, k, tb) for name, fn in libs.items()})
        rows.append(r)
        print(f"{label:48s}" + "".join(f"{r[name]:14.1f}" for name in libs), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cpu_count": machine.cpu_count(), "results": rows}, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
