"""How much memory a run takes, decided from the shape alone, and the guard that refuses it.

Nothing heavy happens before the memory guard: :func:`estimate_bytes` is arithmetic on the
shape, compared with MemAvailable (or ``max_memory``) before numba is imported or an array is
allocated. :func:`step_plan` (heads per step of the kernel) lives here because it sizes the
kernel's biggest buffers.
"""

from __future__ import annotations

import os

import numpy as np

from .. import machine as sysinfo
from ...errors import WorkloadError
from .reference import CHECK_ROWS
from .spec import DTYPES, RunSpec, validate

# Tile sizes of the kernel: query rows per task, keys per score tile.
BLOCK_Q = 256
BLOCK_K = 256
# Heads per step (see step_plan): widest product aimed at, and buffer budget as a fraction of
# inputs + weights + outputs. Measured on a 2-core VM, widening the projections from 512 to
# 1024 columns saved 2-4% of the block (s2048 d2048, d12288 x 8 heads); two heads instead of
# one at s8192 d1024 saved under 1% for 0.2 x more memory, which this budget refuses.
STEP_COLS = 2048
STEP_BUDGET = 0.35
STEP_FLOOR = 16 << 20  # bytes: buffers this small are always allowed


def threads_of(spec: RunSpec) -> int:
    """The worker count a run will use (without importing numba)."""
    if spec.threads is not None:
        return spec.threads
    env = os.environ.get("NUMBA_NUM_THREADS")
    return int(env) if env and env.isdigit() else sysinfo.cpu_count()


def step_plan(spec: RunSpec) -> tuple[int, int]:
    """(heads per step kh, kv groups per step kg): how many heads one pass of the kernel takes.

    The kernel projects Q (and K, V) for kh heads of every row in one product, runs their
    attention, then adds their share of the output projection; its buffers are
    S x kh*d_head (Q, C) and S x kg*d_head (K, V). Wider steps make those products wider
    (closer to BLAS peak, and fewer, larger core phases) and the buffers bigger: kh is
    the widest divisor of n_heads that keeps kh*d_head <= STEP_COLS and the buffers within
    ``STEP_BUDGET`` of inputs + weights + outputs (always at least one head). kh either divides
    the group size or is a multiple of it, so a step never splits a kv group's heads unevenly.
    """
    isz = np.dtype(DTYPES[spec.dtype]).itemsize
    h, kvh, dh = spec.n_heads, spec.n_kv_heads, spec.d_head
    group = h // kvh
    s, d = spec.seq, spec.d_model
    io = isz * (2 * spec.batch * s * d + 2 * d * dh * (h + kvh))
    best = (1, 1)
    for kh in range(1, h + 1):
        if h % kh or (kh % group and group % kh):
            continue
        kg = max(1, kh // group)
        buf = isz * s * dh * (2 * kh + 2 * kg)
        if kh > 1 and (kh * dh > STEP_COLS or buf > max(STEP_BUDGET * io, STEP_FLOOR)):
            continue
        best = (kh, kg)
    return best


def _check_extra_bytes(spec: RunSpec) -> int:
    """Float64 working set of the reference check: K, V of one sequence, scores of its rows."""
    kvd = spec.n_kv_heads * spec.d_head
    rows = min(spec.seq, CHECK_ROWS)
    return 8 * (
        2 * spec.seq * kvd  # K, V
        + spec.seq * spec.d_model  # the sequence's inputs
        + 3 * rows * spec.seq  # scores, mask, probabilities of one head
        + rows * (2 * spec.n_heads * spec.d_head + 2 * spec.d_model)
    )


def estimate_bytes(spec: RunSpec) -> int:
    """Bytes the run will allocate, from the shape alone (exact for the arrays it makes).

    Inputs X, outputs Y (and a second activation buffer when ``layers > 1``), the four weight
    matrices, one step's Q, K, V and C buffers (see :func:`step_plan`), per-thread tile
    scratch, and the reference check's float64 working set when ``check``. Linear in ``seq``:
    no S x S term (the check's score rows are at most ``CHECK_ROWS`` x seq). Not included: the
    interpreter, numba and LLVM themselves (a first compile can take a few hundred MiB
    transiently).
    """
    validate(spec)
    isz = np.dtype(DTYPES[spec.dtype]).itemsize
    rows = spec.batch * spec.seq
    hd = spec.n_heads * spec.d_head
    kvd = spec.n_kv_heads * spec.d_head
    d = spec.d_model
    workers = threads_of(spec)
    kh, kg = step_plan(spec)
    activations = rows * d * (2 + (1 if spec.layers > 1 else 0))
    weights = 2 * d * hd + 2 * d * kvd
    steps = 2 * spec.seq * spec.d_head * (kh + kg)  # Q, C and K, V of one step
    scratch = workers * (BLOCK_Q * BLOCK_K + 2 * BLOCK_Q)
    total = isz * (activations + weights + steps + scratch)
    total += 16 * (spec.seq // BLOCK_Q + 1) * kh + 64  # task lists, counters
    if spec.check:
        total += _check_extra_bytes(spec)
    return int(total)


def check_memory(spec: RunSpec) -> int:
    """The memory guard: the estimate, or WorkloadError when it exceeds the limit."""
    need = estimate_bytes(spec)
    if spec.max_memory is not None:
        limit, what = spec.max_memory, "the --max-memory limit"
    else:
        limit, what = sysinfo.available_memory(), "available memory"
    if limit is not None and need > limit:
        raise WorkloadError(
            f"this run needs about {need / sysinfo.GiB:.2f} GiB, more than {what} "
            f"({limit / sysinfo.GiB:.2f} GiB); lower --heads, --seq or --batch"
        )
    return need
