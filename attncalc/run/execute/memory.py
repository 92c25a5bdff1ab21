"""How much memory a run takes, decided from the shape alone, and the guard that refuses it.

Nothing heavy happens before the memory guard: :func:`estimate_bytes` is arithmetic on the
shape, compared with MemAvailable (or ``max_memory``) before numba is imported or an array is
allocated. The kernel's layout (:mod:`.layout`: heads and sequences per step) sizes its
biggest buffers, and is computed from the shape alone too.
"""

from __future__ import annotations

import os

import numpy as np

from .. import machine as sysinfo
from ...errors import WorkloadError
from .reference import CHECK_ROWS
from .layout import BLOCK_K, BLOCK_Q, choose_layout, heads_per_step
from .spec import DTYPES, RunSpec, validate



def threads_of(spec: RunSpec) -> int:
    """The worker count a run will use (without importing numba)."""
    if spec.threads is not None:
        return spec.threads
    env = os.environ.get("NUMBA_NUM_THREADS", "").strip()
    return int(env) if env.isdigit() and int(env) > 0 else sysinfo.cpu_count()


def step_plan(spec: RunSpec) -> tuple[int, int]:
    """(heads per step kh, kv groups per step kg): see :func:`.layout.heads_per_step`."""
    return heads_per_step(spec)


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
    matrices, one step's Q, K, V and C buffers (see :mod:`.layout`), per-thread tile
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
    lay = choose_layout(spec, workers)
    activations = rows * d * (2 + (1 if spec.layers > 1 else 0))
    weights = 2 * d * hd + 2 * d * kvd
    steps = lay.buffer_elements(spec.seq, spec.d_head)  # Q, C and K, V of one step
    scratch = workers * (lay.block_q * lay.block_k + 2 * lay.block_q)
    total = isz * (activations + weights + steps + scratch)
    total += 24 * (-(-spec.seq // lay.block_q)) * lay.heads * lay.seqs + 64  # tasks, counters
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
