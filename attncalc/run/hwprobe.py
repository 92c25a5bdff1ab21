"""`this`: the machine attncalc runs on, measured, as a hardware mapping for ``core.hardware``.

Two probes, each the best of a few repeats (a roofline's ceilings are the best the machine reaches):
- compute: NumPy's float32 matmul (BLAS sgemm) of two n x n matrices, 2 n^3 FLOPs per product;
- memory: the larger of a copy (``np.copyto``: n bytes read + n bytes written) and a read-only
  reduction (``np.add.reduce`` over float32: n bytes read) of an array far larger than the caches.
Plus the cores this process may use and the physical memory (``/proc/meminfo`` MemTotal).
NumPy only; imported by the CLI only when ``--hw this`` is asked for.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from . import machine


def _best(fn, repeats: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return max(best, 1e-9)


def sgemm_flops_per_s(n: int = 2048, repeats: int = 5, threads: int | None = None) -> int:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    c = np.empty_like(a)
    with machine.blas_threads(threads):
        t = _best(lambda: np.matmul(a, b, out=c), repeats)
    return int(2 * n**3 / t)


def memory_bytes_per_s(nbytes: int = 256 << 20, repeats: int = 5) -> int:
    avail = machine.available_memory()
    if avail is not None:
        nbytes = max(16 << 20, min(nbytes, avail // 8))
    n = nbytes // 4
    src = np.ones(n, dtype=np.float32)
    dst = np.empty_like(src)
    copy = 2 * src.nbytes / _best(lambda: np.copyto(dst, src), repeats)
    read = src.nbytes / _best(lambda: np.add.reduce(src), repeats)
    return int(max(copy, read))


def probe(quick: bool = False) -> dict[str, Any]:
    """The mapping ``core.hardware.from_mapping`` reads; figures measured now, as integers."""
    flops = sgemm_flops_per_s(n=1024 if quick else 2048, repeats=3 if quick else 10)
    bw = memory_bytes_per_s(nbytes=(64 << 20) if quick else (256 << 20), repeats=3 if quick else 5)
    cores = machine.cpu_count()
    return {"name": "this", "label": f"this machine ({cores} cores, measured)", "kind": "cpu",
            "source": f"measured now: NumPy float32 matmul (best of repeats) and copy/reduce bandwidth; "
                      f"BLAS {machine.blas().path or 'unknown'}",
            "memory_bytes": machine.total_memory(), "memory_bytes_per_s": bw, "cores": cores, "measured": True,
            "dense_flops_per_s": {"fp32": flops}}
