"""Execute one attention block at a shape and time it (``attncalc run``'s engine).

``run_attention(spec)`` builds seeded random inputs and weights, compiles (or loads from
numba's cache) the kernel of :mod:`attncalc.kernels`, runs warm-up and timed repeats, measures
the peak memory the workload added, probes the same machine's BLAS sgemm throughput, and
checks the output against :func:`reference_attention`, a plain NumPy implementation. FLOP
counts are not computed here: they come from the counting core.

Modules, one role each: :mod:`.spec` (RunSpec, RunResult, validation, seeded inputs),
:mod:`.layout` (the kernel's parallel decomposition), :mod:`.memory` (estimate, guard; runs before numba is imported or anything is
allocated), :mod:`.reference` (NumPy reference and the check), :mod:`.probe` (sgemm probe),
:mod:`.driver` (the kernel's buffers and tasks, compile), :mod:`.run` (run_attention).
"""

from __future__ import annotations

import os

# OpenBLAS threads spin for a while after each multi-threaded call (2^28 cycles by default)
# and steal cycles from the kernel's threads, which call BLAS single-threaded; let them sleep
# at once. Read when OpenBLAS loads (NumPy's first import), so it only helps when this package
# is imported first, as ``attncalc run`` does; an explicit setting is kept.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

from .driver import Block, compile_kernel, plan_tasks  # noqa: E402
from .layout import BLOCK_K, BLOCK_Q, Layout, choose_layout  # noqa: E402
from .memory import check_memory, estimate_bytes, step_plan  # noqa: E402
from .probe import sgemm_probe  # noqa: E402
from .reference import (  # noqa: E402
    CHECK_ROWS,
    RTOL,
    check_rows,
    max_rel_error,
    reference_attention,
)
from .run import run_attention  # noqa: E402
from .spec import RunResult, RunSpec, Weights, make_inputs, validate  # noqa: E402

__all__ = [
    "BLOCK_K", "BLOCK_Q", "CHECK_ROWS", "RTOL", "Block", "Layout", "RunResult",
    "RunSpec", "Weights", "check_memory", "choose_layout", "check_rows", "compile_kernel",
    "estimate_bytes", "make_inputs", "max_rel_error", "plan_tasks", "reference_attention",
    "run_attention", "sgemm_probe", "step_plan", "validate",
]
