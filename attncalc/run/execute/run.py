"""``run_attention``: guard, compile, time, measure memory, probe sgemm, check."""

from __future__ import annotations

import statistics
import threading
import time
from dataclasses import asdict
from contextlib import contextmanager
from typing import Callable, Iterator

import numpy as np

from .. import machine as sysinfo
from ...errors import WorkloadError
from ..settings import check_environment
from .driver import Block, compile_kernel
from .memory import check_memory
from .probe import NOISY_SPREAD, kernel_sgemm_samples, sgemm_samples
from .reference import RTOL, max_rel_error
from .spec import RunResult, RunSpec, make_inputs


@contextmanager
def _threading_layer_errors() -> Iterator[None]:
    """numba refuses a threading layer it cannot load at its first thread launch (a ValueError
    with a hint); say it in one line, naming the setting."""
    try:
        yield
    except ValueError as err:
        if "threading layer" not in str(err).lower():
            raise
        import os

        layer = os.environ.get("NUMBA_THREADING_LAYER", "")
        first = str(err).strip().splitlines()[0]
        hint = " (pip install tbb)" if "tbb" in str(err).lower() else ""
        raise WorkloadError(f"NUMBA_THREADING_LAYER={layer}: {first}{hint}") from None


def _compile_with_clock(dtype: str, say: Callable[[str], None]) -> tuple[float, bool]:
    """compile_kernel, saying the elapsed seconds every half second while it runs.

    A first compile takes about 10 s (both dtypes, 2-core VM); a load from the cache well under
    one, so the clock only shows when there is something to wait for.
    """
    done = threading.Event()
    t0 = time.perf_counter()

    def tick() -> None:
        while not done.wait(0.5):
            say(f"compiling the kernel for {dtype} (first run only; cached after it): "
                f"{time.perf_counter() - t0:.0f} s")

    clock = threading.Thread(target=tick, daemon=True)
    clock.start()
    try:
        with _threading_layer_errors():
            return compile_kernel(dtype)
    finally:
        done.set()
        clock.join()


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
    check_environment()  # numba settings the kernel cannot run under: one line, exit 2
    estimated = check_memory(spec)  # before numba is imported or anything is allocated

    say("loading the kernel")
    from .. import kernels

    with _threading_layer_errors():
        threads = _set_threads(spec)
    say("compiling the kernel (cached after the first run)")
    compile_s, cached = _compile_with_clock(spec.dtype, say)
    import numba

    layer = numba.threading_layer()

    sysinfo.reset_peak_rss()
    base = sysinfo.current_rss()
    if base is None:
        base = sysinfo.peak_rss()
    say("allocating inputs and weights")
    x, weights = make_inputs(spec)
    out = np.empty_like(x)
    spare = np.empty_like(x) if spec.layers > 1 else None
    block = Block(spec, weights, threads)
    layout = block.layout

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
    gflops = spread = None
    samples: list[float] = []
    warnings: list[str] = []
    if kernels.CACHE_NOTE:
        warnings.append(kernels.CACHE_NOTE)
    numpy_gflops = kernel_gflops = None
    if probe:
        say("sgemm probe")
        numpy_samples = sgemm_samples(threads)
        kernel_samples = kernel_sgemm_samples(threads)
        numpy_gflops = statistics.median(numpy_samples)
        kernel_gflops = statistics.median(kernel_samples)
        # the yardstick: the faster of NumPy's matmul and the kernel's own BLAS on its threads
        samples = kernel_samples if kernel_gflops > numpy_gflops else numpy_samples
        gflops = statistics.median(samples)
        spread = (max(samples) - min(samples)) / gflops
        if spread > NOISY_SPREAD:
            warnings.append(
                f"the sgemm probe varied by {spread:.0%} within this run "
                f"({min(samples):.0f}-{max(samples):.0f} GFLOP/s): the machine was busy, so the "
                "ratio to sgemm is unreliable; rerun on a quiet machine"
            )
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
        blas=kernels.BLAS_DESCRIPTION, threading_layer=layer, sgemm_samples=samples,
        sgemm_spread=spread, sgemm_numpy_gflops=numpy_gflops, sgemm_kernel_gflops=kernel_gflops,
        cache_dir=kernels.env.CACHE_DIR, layout=asdict(layout),
        warnings=warnings,
    )
