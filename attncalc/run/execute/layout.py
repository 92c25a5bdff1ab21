"""How the kernel splits one attention block into parallel work, chosen from shape and threads.

Pure Python on the shape (no numpy arrays, no numba), so it is cheap, testable, and runs before
anything is allocated. The kernel (:mod:`attncalc.run.kernels.block`) works in *steps*: a step
is ``seqs`` sequences of the batch times ``heads`` heads, and has three parallel phases, each a
work queue of equal-sized (P, O) or cost-ordered (A) tasks taken by the threads:

P. projections: the step's rows x its Q (and, when the kv groups change, K and V) columns, cut
   into tiles of ``proj_rows`` x ``proj_cols``;
A. attention core: one task per (sequence, head, tile of ``block_q`` queries);
O. output projection: the step's rows x d_model, cut into tiles of ``out_rows`` x ``out_cols``.

The choice, for ``workers`` threads:

- heads per step (:func:`heads_per_step`): widest step within ``STEP_COLS`` columns and the
  buffer budget (the projections' GEMMs as large as memory allows);
- sequences per step: several short sequences in one step (batch > 1) so the GEMMs see
  ``nb * seq`` rows, within the same buffer budget, up to ``STEP_ROWS`` rows;
- tiles of P and O: the candidate (rows, cols) tile with the best product of *balance* (the
  work queue's efficiency with equal tasks: T / (W * ceil(T / W))) and *GEMM efficiency*
  (x / (x + max(16, K / 64)) per tile side x, K the inner dimension: a fit of single-threaded
  sgemm speed, benchmarks/blas_gemm.py on this project's 2-core Xeon VM: at K = 768,
  M = 32, 64, 256 ran at 0.40, 0.60, 0.87 (OpenBLAS) and 0.79, 0.96, 1.0 (MKL) of the square
  product's speed; at K = 12288, M = 256 ran at 0.62 of M = 2048, for both. A wide inner
  dimension needs big tiles: each call packs a K-deep panel it amortises over the other side);
- ``block_q``: 256 queries per core task, halved (to at least 64) until there are at least
  ``CORE_TASKS_PER_WORKER`` tasks per thread, so every thread has work; causal tasks are
  uneven (a query tile near the end sees more keys), which the costliest-first order of the
  queue balances (longest-processing-time-first scheduling, within 4/3 of optimal: Graham 1969,
  "Bounds on multiprocessing timing anomalies", SIAM J. Appl. Math. 17(2)).

With one thread every tile is as large as allowed (balance is 1 whatever the count).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .spec import DTYPES, RunSpec

# Tile sizes of the core: query rows per task (largest), keys per score tile.
BLOCK_Q = 256
BLOCK_K = 256
MIN_BLOCK_Q = 64
CORE_TASKS_PER_WORKER = 3
# Heads per step: widest Q product aimed at, and buffer budget as a fraction of inputs +
# weights + outputs. Measured on a 2-core VM, widening the projections from 512 to 1024
# columns saved 2-4% of the block (s2048 d2048, d12288 x 8 heads); two heads instead of one at
# s8192 d1024 saved under 1% for 0.2 x more memory, which this budget refuses.
STEP_COLS = 2048
STEP_BUDGET = 0.35
STEP_FLOOR = 16 << 20  # bytes: buffers this small are always allowed
STEP_ROWS = 4096  # rows of a step when several sequences share it
# Tile candidates of the projections and GEMM-efficiency half point (see module docstring).
TILE_ROWS = (2048, 1024, 512, 256, 128, 64, 32)
MIN_TILE_COLS = 64
GEMM_HALF_MIN = 16
GEMM_HALF_PER_K = 1 / 64
GRANULARITY = 4  # tasks = threads scores 0.8, twice as many 0.89 (see _granularity)


@dataclass(frozen=True)
class Layout:
    heads: int  # kh: heads per step
    kv_groups: int  # kg: kv groups held per step
    seqs: int  # nb: sequences per step (divides batch)
    block_q: int
    block_k: int
    proj_rows: int
    proj_cols: int
    out_rows: int
    out_cols: int
    workers: int

    def buffer_elements(self, seq: int, d_head: int) -> int:
        """Elements of the step's Q, C (rows x kh*dh) and K, V (rows x kg*dh) buffers."""
        return 2 * self.seqs * seq * d_head * (self.heads + self.kv_groups)


def _itemsize(spec: RunSpec) -> int:
    return np.dtype(DTYPES[spec.dtype]).itemsize


def _io_bytes(spec: RunSpec) -> int:
    h, kvh, dh, d = spec.n_heads, spec.n_kv_heads, spec.d_head, spec.d_model
    return _itemsize(spec) * (2 * spec.batch * spec.seq * d + 2 * d * dh * (h + kvh))


def heads_per_step(spec: RunSpec, seqs: int = 1) -> tuple[int, int]:
    """(kh, kg): the widest divisor kh of n_heads with kh*d_head <= STEP_COLS whose buffers fit.

    kh either divides the group size or is a multiple of it, so a step never splits a kv
    group's heads unevenly; at least one head. Only kh <= STEP_COLS // d_head are tried, so
    absurd head counts cost nothing here (the memory guard refuses them).
    """
    isz = _itemsize(spec)
    h, kvh, dh = spec.n_heads, spec.n_kv_heads, spec.d_head
    group = h // kvh
    budget = max(STEP_BUDGET * _io_bytes(spec), STEP_FLOOR)
    best = (1, 1)
    for kh in range(2, min(h, STEP_COLS // dh) + 1):
        if h % kh or (kh % group and group % kh):
            continue
        kg = max(1, kh // group)
        if isz * seqs * spec.seq * dh * (2 * kh + 2 * kg) > budget:
            continue
        best = (kh, kg)
    return best


def _seqs_per_step(spec: RunSpec, kh: int, kg: int) -> int:
    isz = _itemsize(spec)
    budget = max(STEP_BUDGET * _io_bytes(spec), STEP_FLOOR)
    best = 1
    for nb in range(2, min(spec.batch, STEP_ROWS // spec.seq) + 1):
        if spec.batch % nb:
            continue
        if isz * nb * spec.seq * spec.d_head * (2 * kh + 2 * kg) > budget:
            break
        best = nb
    return best


def balance(tasks: int, workers: int) -> float:
    """Efficiency of ``tasks`` equal tasks on ``workers`` threads taking them from a queue."""
    if tasks <= 0:
        return 0.0
    rounds = -(-tasks // workers)
    return tasks / (workers * rounds)


def _eff(x: int, k: int) -> float:
    """Modelled speed of a gemm tile side of ``x`` (M or N) with inner dimension ``k``."""
    return x / (x + max(GEMM_HALF_MIN, k * GEMM_HALF_PER_K))


def _granularity(tasks: int, workers: int) -> float:
    """Mild preference for more tasks than threads: on a shared machine a thread slowed down
    by others then takes fewer tasks instead of holding the phase up (1 for one thread)."""
    return 1.0 if workers == 1 else tasks / (tasks + workers / GRANULARITY)


def _col_candidates(cols: int) -> list[int]:
    """Widths splitting ``cols`` into 1, 2, 3, ... equal pieces (multiples of 16), >= 64."""
    out = []
    for pieces in range(1, cols // MIN_TILE_COLS + 1):
        w = -(-cols // pieces)
        w = -(-w // 16) * 16
        if w not in out:
            out.append(w)
        if len(out) >= 16:
            break
    return out or [cols]


def _tiles(rows: int, col_groups: list[int], k: int, workers: int) -> tuple[int, int]:
    """(tile rows, tile cols) for products of ``rows`` rows, inner dimension ``k`` and the
    given column widths."""
    best, best_score = (min(rows, TILE_ROWS[0]), max(col_groups)), -1.0
    widest = max(col_groups)
    for tr in TILE_ROWS:
        if tr > rows and tr != TILE_ROWS[0] and rows > TILE_ROWS[-1]:
            continue
        r = min(tr, rows)
        n_r = -(-rows // r)
        for tc in _col_candidates(widest):
            tasks = n_r * sum(-(-c // tc) for c in col_groups)
            score = (balance(tasks, workers) * _granularity(tasks, workers) * _eff(r, k)
                     * _eff(min(tc, widest), k))
            if score > best_score + 1e-9:
                best, best_score = (r, tc), score
    return best


def choose_layout(spec: RunSpec, workers: int) -> Layout:
    """The kernel's decomposition for ``spec`` on ``workers`` threads (see the module doc)."""
    workers = max(1, int(workers))
    kh, kg = heads_per_step(spec)
    nb = _seqs_per_step(spec, kh, kg)
    rows = nb * spec.seq
    dh = spec.d_head
    block_q = BLOCK_Q
    q_tiles = lambda bq: -(-spec.seq // bq)  # noqa: E731
    while block_q > MIN_BLOCK_Q and nb * kh * q_tiles(block_q) < CORE_TASKS_PER_WORKER * workers:
        block_q //= 2
    block_q = min(block_q, -(-spec.seq // 16) * 16)
    proj_rows, proj_cols = _tiles(rows, [kh * dh, kg * dh, kg * dh], spec.d_model, workers)
    out_rows, out_cols = _tiles(rows, [spec.d_model], kh * dh, workers)
    return Layout(kh, kg, nb, block_q, BLOCK_K, proj_rows, proj_cols, out_rows, out_cols,
                  workers)
