"""``run_attention``: guard, compile, time, measure memory, probe sgemm, check."""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict
from typing import Callable

import numpy as np

from .. import machine as sysinfo
from ...errors import WorkloadError
from .driver import Block, compile_kernel
from .memory import check_memory
from .probe import sgemm_probe
from .reference import RTOL, max_rel_error
from .spec import RunResult, RunSpec, make_inputs


def _set_threads(spec: RunSpec) -> int:
    import numba

    n = spec.threads if spec.threads is not None else numba.config.NUMBA_NUM_THREADS
    if n > numba.config.NUMBA_NUM_THREADS:
        raise WorkloadError(
            f"threads ({n}) exceeds numba's maximum of {numba.config.NUMBA_NUM_THREADS} "
            "(set NUMBA_NUM_THREADS to allow more)"
        )
    numba.set_num_threads(n)
    return n


def run_attention(spec: RunSpec, progress: Callable[[str], None] | None = None,
                  probe: bool = True) -> RunResult:
    """Run the attention block ``spec.repeat`` times after ``spec.warmup`` and report.

    Order: memory guard; compile (timed apart); peak-memory baseline; inputs; warm-up; timed
    repeats (BLAS at one thread: the kernel calls it from its own threads); peak memory;
    sgemm probe (BLAS at ``threads``) unless ``probe`` is False; check against the reference.
    A KeyboardInterrupt between kernel calls propagates after BLAS threads are restored.
    """
    say = progress or (lambda _msg: None)
    estimated = check_memory(spec)  # before numba is imported or anything is allocated

    say("loading the kernel")
    from .. import kernels

    threads = _set_threads(spec)
    say("compiling the kernel (cached after the first run)")
    compile_s, cached = compile_kernel(spec.dtype)

    sysinfo.reset_peak_rss()
    base = sysinfo.current_rss()
    if base is None:
        base = sysinfo.peak_rss()
    say("allocating inputs and weights")
    x, weights = make_inputs(spec)
    out = np.empty_like(x)
    spare = np.empty_like(x) if spec.layers > 1 else None
    block = Block(spec, weights, threads)

    def forward() -> np.ndarray:
        src, dst = x, out
        for layer in range(spec.layers):
            block(src, dst)
            if layer + 1 < spec.layers:
                src, dst = dst, (spare if dst is out else out)
        return dst

    times: list[float] = []
    with sysinfo.blas_threads(1):
        for i in range(spec.warmup):
            say(f"warm-up {i + 1}/{spec.warmup}")
            forward()
        for i in range(spec.repeat):
            say(f"repeat {i + 1}/{spec.repeat}")
            t0 = time.perf_counter()
            forward()
            times.append(time.perf_counter() - t0)
        peak = max(0, sysinfo.peak_rss() - base)
        err = tol = passed = None
        if spec.check:
            block(x, out)
    block = spare = None  # free K, V and the scratch before the check
    gflops = None
    if probe:
        say("sgemm probe")
        gflops = sgemm_probe(threads)
    if spec.check:
        say("checking against the NumPy reference")
        err = max_rel_error(spec, x, weights, out)
        tol = RTOL[spec.dtype]
        passed = err <= tol
    return RunResult(
        median_s=statistics.median(times), min_s=min(times), max_s=max(times), times=times,
        compile_s=compile_s, cached=cached, threads=threads, peak_memory_bytes=int(peak),
        estimated_bytes=estimated, sgemm_gflops=gflops, max_rel_error=err, tolerance=tol,
        check_passed=passed, blas_backend=kernels.BLAS_BACKEND, spec=asdict(spec),
    )
