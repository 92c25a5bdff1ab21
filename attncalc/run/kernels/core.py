"""The attention core: C = softmax(mask(Q K^T)) V for query tiles, with the online softmax.

One task per (head, tile of ``block_q`` queries), in the manner of FlashAttention (Dao et al.
2022) with the online softmax of Milakov & Gimelshein 2018 ("Online normalizer calculation for
softmax"): walk the key tiles of ``block_k`` keys the rows may see, keeping per row a running
maximum ``m``, a running sum ``l`` of exp(score - m) and an unnormalised output that is
rescaled by exp(m_old - m_new) whenever the maximum grows. A task holds one
``block_q x block_k`` tile of scores: the S x S matrix never exists.

Masking: causal keeps keys j <= i; a window w keeps i - w < j <= i (causal) or |i - j| < w
(full). Each row's kept keys form one interval, so masking is done by limiting the column
range of each row in a tile: no -inf arithmetic, and tiles wholly outside every row's interval
are never visited.

The tasks are taken from a work queue (an atomic counter, :func:`fetch_add`), costliest first,
so a thread slowed down by the machine takes fewer tasks.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from .blas import CBLAS_NO_TRANS, CBLAS_TRANS, gemm
from .env import CACHE
from .expf import exp_exact, exp_tile, row_max, scale, zero

# Rows per band where a tile is partly masked (see _attend_tile).
SUB_ROWS = 64


@intrinsic
def fetch_add(typingctx, arr, idx, val):
    """Atomic ``arr[idx] += val`` returning the old value (``atomicrmw add``, monotonic).

    The work queue of the parallel phases: each worker takes the next task with it, so a
    thread the (virtual) machine slows down takes fewer tasks instead of holding the others up.
    """
    if not (isinstance(arr, types.Array) and arr.dtype == types.int64 and arr.ndim == 1):
        return None

    def codegen(context, builder, sig, args):
        aryty = sig.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        idx = context.cast(builder, args[1], sig.args[1], types.intp)
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [idx], wraparound=False)
        v = context.cast(builder, args[2], sig.args[2], types.int64)
        return builder.atomic_rmw("add", ptr, v, "monotonic")

    return types.int64(arr, idx, val), codegen


@njit(fastmath=True)
def key_range(i, seq, causal, window):
    """Kept keys [lo, hi) of query position i."""
    if causal:
        hi = i + 1
        lo = max(0, i - window + 1) if window > 0 else 0
    elif window > 0:
        lo = max(0, i - window + 1)
        hi = min(seq, i + window)
    else:
        lo = 0
        hi = seq
    return lo, hi


@njit(fastmath=True, nogil=True)
def _attend_tile(f32, q_addr, ldq, k_addr, v_addr, ldkv, c_addr, ldc, c_t, i0, nq, seq, causal,
                 window, block_k, s_t, m_t, l_t):
    """Rows i0 .. i0+nq-1 of one head: C = softmax(mask(Q K^T)) V with the online softmax.

    Q rows at q_addr (already scaled by 1/sqrt(d_head)), K/V rows 0 .. seq-1 of the head's
    group at k_addr/v_addr, output rows at c_addr (``c_t`` is the same memory as an array,
    nq x d_head). s_t, m_t, l_t: this worker's score tile and running max / sum.
    """
    isz = 4 if f32 else 8
    d_head = c_t.shape[1]
    i1 = i0 + nq
    for i in range(nq):
        m_t[i] = -3.0e38
        l_t[i] = 0.0
        zero(c_t[i])
    klo = key_range(i0, seq, causal, window)[0]
    khi = key_range(i1 - 1, seq, causal, window)[1]
    for j0 in range(klo, khi, block_k):
        nk = min(block_k, khi - j0)
        # Rows whose kept keys do not cover the whole tile (the causal diagonal, window edges)
        # are multiplied in bands of ``sub`` rows, each on the key span its rows keep, which
        # skips most of the masked-out part of the tile. Row i's kept interval [lo_i, hi_i) has
        # both ends non-decreasing in i: a band's span is [lo of its first row, hi of its last).
        whole = (key_range(i0, seq, causal, window)[1] >= j0 + nk
                 and key_range(i1 - 1, seq, causal, window)[0] <= j0)
        sub = nq if whole else SUB_ROWS
        # S = Q K^T on this tile (nq x nk, leading dimension block_k).
        for r0 in range(0, nq, sub):
            nr = min(sub, nq - r0)
            a = max(key_range(i0 + r0, seq, causal, window)[0], j0) - j0
            e = min(key_range(i0 + r0 + nr - 1, seq, causal, window)[1], j0 + nk) - j0
            if e > a:
                gemm(f32, CBLAS_NO_TRANS, CBLAS_TRANS, nr, e - a, d_head, 1.0,
                     q_addr + r0 * ldq * isz, ldq, k_addr + (j0 + a) * ldkv * isz, ldkv, 0.0,
                     s_t.ctypes.data + (r0 * block_k + a) * isz, block_k)
        for i in range(nq):
            lo, hi = key_range(i0 + i, seq, causal, window)
            lo = max(lo, j0) - j0
            hi = min(hi, j0 + nk) - j0
            row = s_t[i]
            if hi <= lo:  # no kept key in this tile for this row
                zero(row[:nk])
                continue
            seg = row[lo:hi]
            m_new = max(m_t[i], row_max(seg))
            if f32:
                total = exp_tile(seg, np.float32(m_new))
            else:
                total = exp_exact(seg, m_new)
            if lo > 0:
                zero(row[:lo])
            if hi < nk:
                zero(row[hi:nk])
            if m_new > m_t[i]:
                alpha = np.exp(m_t[i] - m_new)
                l_t[i] = l_t[i] * alpha + total
                scale(c_t[i], alpha)
            else:
                l_t[i] += total
            m_t[i] = m_new
        # C += P V on this tile, in the same bands (P is zero outside each band's span).
        for r0 in range(0, nq, sub):
            nr = min(sub, nq - r0)
            a = max(key_range(i0 + r0, seq, causal, window)[0], j0) - j0
            e = min(key_range(i0 + r0 + nr - 1, seq, causal, window)[1], j0 + nk) - j0
            if e > a:
                gemm(f32, CBLAS_NO_TRANS, CBLAS_NO_TRANS, nr, d_head, e - a, 1.0,
                     s_t.ctypes.data + (r0 * block_k + a) * isz, block_k,
                     v_addr + (j0 + a) * ldkv * isz, ldkv, 1.0, c_addr + r0 * ldc * isz, ldc)
    for i in range(nq):
        scale(c_t[i], 1.0 / l_t[i])


@njit(parallel=True, cache=CACHE, fastmath=True, nogil=True)
def attention_core(q_buf, k_buf, v_buf, c_buf, s_scr, m_scr, l_scr, seq, d_head, group, h0, g0,
                   causal, window, block_q, block_k, task_seq, task_head, task_row, counters):
    """Phase A of one step (sequences and heads h0 .. of the step): C = softmax(mask(Q K^T)) V.

    q_buf, c_buf [nb*seq, kh*d_head] (Q already scaled); k_buf, v_buf [nb*seq, kg*d_head] hold
    the kv groups g0 ..; one task per (sequence, local head, query tile), taken from a work
    queue (``counters[1]``) by ``s_scr.shape[0]`` workers.
    """
    f32 = q_buf.itemsize == 4
    isz = q_buf.itemsize
    ldq = q_buf.shape[1]
    ldkv = k_buf.shape[1]
    n_workers = s_scr.shape[0]
    n_tasks = task_head.shape[0]
    qa, ka, va, ca = q_buf.ctypes.data, k_buf.ctypes.data, v_buf.ctypes.data, c_buf.ctypes.data
    counters[1] = 0
    for w in prange(n_workers):
        s_t = s_scr[w]
        m_t = m_scr[w]
        l_t = l_scr[w]
        while True:
            t = fetch_add(counters, 1, 1)
            if t >= n_tasks:
                break
            r_seq = task_seq[t] * seq
            hl = task_head[t]
            i0 = task_row[t]
            nq = min(block_q, seq - i0)
            gl = (h0 + hl) // group - g0
            col = hl * d_head
            r = r_seq + i0
            _attend_tile(f32, qa + (r * ldq + col) * isz, ldq,
                         ka + (r_seq * ldkv + gl * d_head) * isz,
                         va + (r_seq * ldkv + gl * d_head) * isz, ldkv,
                         ca + (r * ldq + col) * isz, ldq,
                         c_buf[r:r + nq, col:col + d_head], i0, nq, seq, causal, window,
                         block_k, s_t, m_t, l_t)
