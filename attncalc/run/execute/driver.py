"""The kernel's driver: buffers, scratch and task lists for one shape, and the first compile.

Imports :mod:`attncalc.kernels` (and so numba) only when a block is built or compiled.
"""

from __future__ import annotations

import time

import numpy as np

from ...core.workload import Mask
from .. import machine as sysinfo
from .layout import Layout, choose_layout
from .spec import DTYPES, RunSpec, Weights, make_inputs


def plan_tasks(spec: RunSpec, lay: Layout) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The core's tasks of one step: (sequence in the step, local head, first query row).

    Ordered costliest first (a tile's cost: its kept (query, key) pairs; causal tiles near the
    end of the sequence see more keys), which the kernel's work queue turns into
    longest-processing-time-first scheduling.
    """
    s, bq = spec.seq, lay.block_q
    mask = Mask(bool(spec.causal), spec.window or None)  # the counting core's one mask

    def kept(i0: int) -> int:  # kept (query, key) pairs of the tile starting at row i0
        return sum(hi - lo for lo, hi in (mask.key_range(i, s) for i in range(i0, min(s, i0 + bq))))

    tiles = [(kept(i0), i0) for i0 in range(0, s, bq)]
    tasks = sorted(((cost, sq, hl, i0) for sq in range(lay.seqs) for hl in range(lay.heads)
                    for cost, i0 in tiles), key=lambda t: (-t[0], t[3], t[1], t[2]))
    return (np.array([t[1] for t in tasks], np.int64), np.array([t[2] for t in tasks], np.int64),
            np.array([t[3] for t in tasks], np.int64))


class Block:
    """Buffers and scratch for one shape; ``__call__(x, out)`` runs one block."""

    def __init__(self, spec: RunSpec, weights: Weights, workers: int,
                 layout: Layout | None = None):
        from .. import kernels

        self.k = kernels
        self.spec, self.w = spec, weights
        dt = DTYPES[spec.dtype]
        s, dh = spec.seq, spec.d_head
        lay = self.layout = layout or choose_layout(spec, workers)
        rows = lay.seqs * s
        self.q_buf = np.empty((rows, lay.heads * dh), dt)
        self.c_buf = np.empty((rows, lay.heads * dh), dt)
        self.k_buf = np.empty((rows, lay.kv_groups * dh), dt)
        self.v_buf = np.empty((rows, lay.kv_groups * dh), dt)
        self.task_seq, self.task_head, self.task_row = plan_tasks(spec, lay)
        self.s_scr = np.empty((workers, lay.block_q, lay.block_k), dt)
        self.m_scr = np.empty((workers, lay.block_q), dt)
        self.l_scr = np.empty((workers, lay.block_q), dt)
        self.counters = np.zeros(3, np.int64)

    def __call__(self, x: np.ndarray, out: np.ndarray) -> None:
        s, w, lay = self.spec, self.w, self.layout
        d = s.d_model
        self.k.attention_block(
            x.reshape(-1, d), w.w_q, w.w_k, w.w_v, w.w_o, out.reshape(-1, d), self.q_buf,
            self.k_buf, self.v_buf, self.c_buf, self.s_scr, self.m_scr, self.l_scr, s.seq,
            s.n_heads, s.n_kv_heads, lay.heads, lay.seqs, bool(s.causal), int(s.window or 0),
            lay.block_q, lay.block_k, lay.proj_rows, lay.proj_cols, lay.out_rows, lay.out_cols,
            self.task_seq, self.task_head, self.task_row, self.counters,
        )


def compile_kernel(dtype: str) -> tuple[float, bool]:
    """Compile (or load from cache) the kernel for ``dtype`` on a tiny shape: (seconds, cached)."""
    from .. import kernels

    fn = kernels.attention_block
    before = len(fn.signatures)
    hits_before = sum(fn.stats.cache_hits.values())
    tiny = RunSpec(batch=1, seq=3, d_model=4, n_heads=2, n_kv_heads=1, d_head=2, dtype=dtype,
                   check=False)
    x, w = make_inputs(tiny)
    block = Block(tiny, w, 1)
    t0 = time.perf_counter()
    with sysinfo.blas_threads(1):
        block(x, np.empty_like(x))
    elapsed = time.perf_counter() - t0
    if len(fn.signatures) == before:  # already compiled in this process
        return 0.0, True
    return elapsed, sum(fn.stats.cache_hits.values()) > hits_before
