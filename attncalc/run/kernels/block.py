"""One attention block forward pass in three parallel phases per step of heads.

The block computed (no biases, no normalisation, no residual)::

    Q = X W_Q / sqrt(d_head)     X [b, s, d_model], W_Q [d_model, n_heads * d_head]
    K = X W_K, V = X W_V         W_K, W_V [d_model, n_kv_heads * d_head]
    O_h = softmax(mask(Q_h K_g^T)) V_g,   g = h // (n_heads // n_kv_heads)
    Y = [O_1 ... O_H] W_O        W_O [n_heads * d_head, d_model]

Heads are taken in *steps* of kh heads (kv-group-major: a step's heads share their kv groups;
``attncalc.execute.step_plan`` picks kh). Per step and sequence:

P. Q = X W_Q[:, step] / sqrt(d_head) for every row, and K, V of the step's kv groups when they
   changed: products of S x d_model x kh*d_head, the bulk of the FLOPs at short sequences;
A. the attention core of the step's heads (:mod:`.core`);
O. Y (+)= C W_O[step rows, :] (the first step writes, the others accumulate with beta = 1).

Memory beyond inputs, weights and outputs is therefore the step's buffers (S x kh*d_head for Q
and C, S x kg*d_head for K and V) plus a score tile per thread, not S x n_heads*d_head.

Phases P and O split the rows into chunks of up to 256 (near BLAS peak single-threaded), taken
from a work queue by numba's threads, each calling BLAS single-threaded. Measured on a 2-core VM
this beat multi-threaded BLAS, which needs BLAS threads switched on and off around each core
phase.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .blas import CBLAS_NO_TRANS, gemm
from .core import attention_core, fetch_add


@njit(parallel=True, cache=True, fastmath=True, nogil=True)
def attention_block(x, w_q, w_k, w_v, w_o, out, q_buf, k_buf, v_buf, c_buf, s_scr, m_scr, l_scr,
                    seq, n_heads, n_kv_heads, heads_per_step, causal, window, block_q, block_k,
                    block_rows, task_head, task_row, counters):
    """One attention block forward: ``out = attention(x)``; see the module docstring.

    x, out [b*s, d_model]; w_q [d_model, H*dh]; w_k, w_v [d_model, KVH*dh]; w_o [H*dh, d_model].
    Heads go in steps of ``heads_per_step`` (kh) heads; per step and batch item:
    q_buf, c_buf [s, kh*dh] (Q and the attention output of the step's heads), k_buf, v_buf
    [s, kg*dh] (K, V of the step's kv groups, kept while consecutive steps share a group).
    Tasks of a step's core (local head, first query row), costliest first: task_head, task_row.
    Scratch, one slice per worker: s_scr [W, block_q, block_k], m_scr, l_scr [W, block_q].
    ``counters`` [3]: the work-queue counters. ``window`` <= 0 means none.
    """
    f32 = x.itemsize == 4
    isz = x.itemsize
    rows, d_model = x.shape
    d_head = q_buf.shape[1] // heads_per_step
    hd = n_heads * d_head
    kvd = n_kv_heads * d_head
    group = n_heads // n_kv_heads
    kh = heads_per_step
    ldq = kh * d_head
    ldkv = k_buf.shape[1]
    n_workers = s_scr.shape[0]
    n_chunks = (seq + block_rows - 1) // block_rows
    scale = 1.0 / np.sqrt(d_head)
    xa = x.ctypes.data
    qa, ka, va, ca = q_buf.ctypes.data, k_buf.ctypes.data, v_buf.ctypes.data, c_buf.ctypes.data

    for b in range(rows // seq):
        base = b * seq
        g_have = -1  # first kv group held in k_buf / v_buf
        for h0 in range(0, n_heads, kh):
            g0 = h0 // group
            g1 = (h0 + kh - 1) // group + 1
            new_kv = g0 != g_have
            g_have = g0
            # Phase P: Q (scaled), and K, V when the groups changed, of this step's heads for
            # every row of the sequence: big products, split by row chunks over the workers.
            counters[0] = 0
            for w in prange(n_workers):
                while True:
                    c = fetch_add(counters, 0, 1)
                    if c >= n_chunks:
                        break
                    r0 = c * block_rows
                    nr = min(block_rows, seq - r0)
                    xr = xa + (base + r0) * d_model * isz
                    gemm(f32, CBLAS_NO_TRANS, CBLAS_NO_TRANS, nr, ldq, d_model, scale, xr,
                         d_model, w_q.ctypes.data + h0 * d_head * isz, hd, 0.0,
                         qa + r0 * ldq * isz, ldq)
                    if new_kv:
                        ng = (g1 - g0) * d_head
                        gemm(f32, CBLAS_NO_TRANS, CBLAS_NO_TRANS, nr, ng, d_model, 1.0, xr,
                             d_model, w_k.ctypes.data + g0 * d_head * isz, kvd, 0.0,
                             ka + r0 * ldkv * isz, ldkv)
                        gemm(f32, CBLAS_NO_TRANS, CBLAS_NO_TRANS, nr, ng, d_model, 1.0, xr,
                             d_model, w_v.ctypes.data + g0 * d_head * isz, kvd, 0.0,
                             va + r0 * ldkv * isz, ldkv)
            # Phase A: the attention core, one task per (head, query tile).
            attention_core(q_buf, k_buf, v_buf, c_buf, s_scr, m_scr, l_scr, seq, d_head,
                           group, h0, g0, causal, window, block_q, block_k, task_head,
                           task_row, counters)
            # Phase O: Y (+)= C W_O[rows of this step's heads], split by row chunks.
            counters[2] = 0
            beta = 0.0 if h0 == 0 else 1.0
            for w in prange(n_workers):
                while True:
                    c = fetch_add(counters, 2, 1)
                    if c >= n_chunks:
                        break
                    r0 = c * block_rows
                    nr = min(block_rows, seq - r0)
                    gemm(f32, CBLAS_NO_TRANS, CBLAS_NO_TRANS, nr, d_model, ldq, 1.0,
                         ca + r0 * ldq * isz, ldq, w_o.ctypes.data + h0 * d_head * d_model * isz,
                         d_model, beta, out.ctypes.data + (base + r0) * d_model * isz, d_model)
