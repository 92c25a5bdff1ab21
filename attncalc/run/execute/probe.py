"""The same machine's BLAS sgemm throughput, the yardstick the kernel's speed is quoted in."""

from __future__ import annotations

import statistics
import time

import numpy as np

from .. import machine as sysinfo


def sgemm_probe(threads: int | None = None, target_s: float = 0.2, repeats: int = 3) -> float:
    """GFLOP/s of NumPy's float32 square matmul sized to take about ``target_s`` seconds.

    Calibrated on a 1024^3 product, then ``repeats`` timed products of side n (a multiple of
    256); returns the median. BLAS runs on ``threads`` threads (default: as configured).
    """
    return statistics.median(sgemm_samples(threads, target_s, repeats))


# Spread of the probe's samples, (max - min) / median, above which run warns that the machine
# was busy during the probe (a quiet machine gives a few percent).
NOISY_SPREAD = 0.15


def timed_squares(mm, target_s: float, repeats: int) -> list[float]:
    """GFLOP/s samples of ``mm(a, b, out)`` on float32 squares: calibrated on a 1024^3 product,
    then ``repeats`` timed products of side n (a multiple of 256) sized to take about ``target_s``."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((1024, 1024), dtype=np.float32)
    c = np.empty_like(a)
    mm(a, a, c)
    t0 = time.perf_counter()
    mm(a, a, c)
    rate = 2 * 1024**3 / max(time.perf_counter() - t0, 1e-6)
    n = int(round((target_s * rate / 2) ** (1 / 3) / 256)) * 256
    n = min(max(n, 512), 8192)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    c = np.empty_like(a)
    mm(a, b, c)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        mm(a, b, c)
        times.append(time.perf_counter() - t0)
    return [2 * n**3 / t / 1e9 for t in times]


def sgemm_samples(threads: int | None = None, target_s: float = 0.2,
                  repeats: int = 3) -> list[float]:
    """The probe's individual GFLOP/s samples (see :func:`sgemm_probe`)."""
    with sysinfo.blas_threads(threads):
        return timed_squares(lambda a, b, c: np.matmul(a, b, out=c), target_s, repeats)


def kernel_sgemm_samples(threads: int, target_s: float = 0.2, repeats: int = 3) -> list[float]:
    """GFLOP/s samples of a square float32 product through the kernel's own BLAS and threads.

    Row panels of 256 over ``threads`` numba workers, each a single-threaded gemm of the
    backend the kernel binds (MKL or OpenBLAS): the yardstick for that backend, which NumPy's
    matmul is not when the kernel uses MKL. Same sizing as :func:`sgemm_samples`.
    """
    from .. import kernels

    counters = np.zeros(threads + 1, np.int64)
    with sysinfo.blas_threads(1):
        return timed_squares(lambda a, b, c: kernels.gemm_panels(a, b, c, 256, counters), target_s, repeats)
