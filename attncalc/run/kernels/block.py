"""One attention block forward pass in three parallel phases per step of heads.

The block computed (no biases, no normalisation, no residual)::

    Q = X W_Q / sqrt(d_head)     X [b, s, d_model], W_Q [d_model, n_heads * d_head]
    K = X W_K, V = X W_V         W_K, W_V [d_model, n_kv_heads * d_head]
    O_h = softmax(mask(Q_h K_g^T)) V_g,   g = h // (n_heads // n_kv_heads)
    Y = [O_1 ... O_H] W_O        W_O [n_heads * d_head, d_model]

Work goes in *steps* of nb sequences x kh heads (kv-group-major: a step's heads share their kv
groups); :mod:`attncalc.run.execute.layout` picks nb, kh and the tiles from the shape and the
thread count. Per step:

P. Q = X W_Q[:, step] / sqrt(d_head) for the step's rows, and K, V of the step's kv groups when
   they changed: products of nb*S x d_model x kh*d_head, the bulk of the FLOPs at short
   sequences, cut into proj_rows x proj_cols tiles;
A. the attention core of the step's (sequence, head, query tile) tasks (:mod:`.core`);
O. Y (+)= C W_O[step rows, :] (the first head step writes, the others accumulate with
   beta = 1), cut into out_rows x out_cols tiles.

Memory beyond inputs, weights and outputs is therefore the step's buffers (nb*S x kh*d_head for
Q and C, nb*S x kg*d_head for K and V) plus a score tile per thread, not S x n_heads*d_head.

Every phase is a work queue (an atomic counter) that numba's threads take tiles from, each
calling BLAS single-threaded. Measured on a 2-core VM this beat multi-threaded BLAS, which
needs BLAS threads switched on and off around each core phase.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .blas import CBLAS_NO_TRANS, gemm
from .core import attention_core, fetch_add
from .env import CACHE


@njit(parallel=True, cache=CACHE, fastmath=True, nogil=True)
def attention_block(x, w_q, w_k, w_v, w_o, out, q_buf, k_buf, v_buf, c_buf, s_scr, m_scr, l_scr,
                    seq, n_heads, n_kv_heads, heads_per_step, seqs_per_step, causal, window,
                    block_q, block_k, proj_rows, proj_cols, out_rows, out_cols, task_seq,
                    task_head, task_row, counters):
    """One attention block forward: ``out = attention(x)``; see the module docstring.

    x, out [b*s, d_model]; w_q [d_model, H*dh]; w_k, w_v [d_model, KVH*dh]; w_o [H*dh, d_model].
    Steps of ``seqs_per_step`` (nb, dividing b) sequences x ``heads_per_step`` (kh) heads;
    q_buf, c_buf [nb*s, kh*dh] (Q and the attention output of the step's heads), k_buf, v_buf
    [nb*s, kg*dh] (K, V of the step's kv groups, kept while consecutive steps share a group).
    Tasks of a step's core (sequence in the step, local head, first query row), costliest
    first: task_seq, task_head, task_row. Scratch, one slice per worker:
    s_scr [W, block_q, block_k], m_scr, l_scr [W, block_q]. ``counters`` [3]: the work-queue
    counters. ``window`` <= 0 means none.
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
    step_rows = seqs_per_step * seq
    p_chunks = (step_rows + proj_rows - 1) // proj_rows
    o_chunks = (step_rows + out_rows - 1) // out_rows
    pq = (ldq + proj_cols - 1) // proj_cols  # column pieces of Q
    o_pieces = (d_model + out_cols - 1) // out_cols
    scale = 1.0 / np.sqrt(d_head)
    xa = x.ctypes.data
    qa, ka, va, ca = q_buf.ctypes.data, k_buf.ctypes.data, v_buf.ctypes.data, c_buf.ctypes.data

    for base in range(0, rows, step_rows):
        g_have = -1  # first kv group held in k_buf / v_buf
        for h0 in range(0, n_heads, kh):
            g0 = h0 // group
            g1 = (h0 + kh - 1) // group + 1
            new_kv = g0 != g_have
            g_have = g0
            ng = (g1 - g0) * d_head
            pkv = (ng + proj_cols - 1) // proj_cols if new_kv else 0  # pieces of K (and of V)
            per_chunk = pq + 2 * pkv
            n_p = p_chunks * per_chunk
            # Phase P: Q (scaled), and K, V when the groups changed, of this step's heads for
            # its rows: tiles of proj_rows x proj_cols over the workers.
            counters[0] = 0
            for w in prange(n_workers):
                while True:
                    t = fetch_add(counters, 0, 1)
                    if t >= n_p:
                        break
                    c = t // per_chunk
                    p = t - c * per_chunk
                    r0 = c * proj_rows
                    nr = min(proj_rows, step_rows - r0)
                    xr = xa + (base + r0) * d_model * isz
                    if p < pq:
                        c0 = p * proj_cols
                        nc = min(proj_cols, ldq - c0)
                        gemm(f32, CBLAS_NO_TRANS, CBLAS_NO_TRANS, nr, nc, d_model, scale, xr,
                             d_model, w_q.ctypes.data + (h0 * d_head + c0) * isz, hd, 0.0,
                             qa + (r0 * ldq + c0) * isz, ldq)
                    else:
                        p -= pq
                        wa = w_k.ctypes.data
                        da = ka
                        if p >= pkv:
                            p -= pkv
                            wa = w_v.ctypes.data
                            da = va
                        c0 = p * proj_cols
                        nc = min(proj_cols, ng - c0)
                        gemm(f32, CBLAS_NO_TRANS, CBLAS_NO_TRANS, nr, nc, d_model, 1.0, xr,
                             d_model, wa + (g0 * d_head + c0) * isz, kvd, 0.0,
                             da + (r0 * ldkv + c0) * isz, ldkv)
            # Phase A: the attention core, one task per (sequence, head, query tile).
            attention_core(q_buf, k_buf, v_buf, c_buf, s_scr, m_scr, l_scr, seq, d_head,
                           group, h0, g0, causal, window, block_q, block_k, task_seq,
                           task_head, task_row, counters)
            # Phase O: Y (+)= C W_O[rows of this step's heads], tiles of out_rows x out_cols.
            counters[2] = 0
            beta = 0.0 if h0 == 0 else 1.0
            n_o = o_chunks * o_pieces
            for w in prange(n_workers):
                while True:
                    t = fetch_add(counters, 2, 1)
                    if t >= n_o:
                        break
                    c = t // o_pieces
                    c0 = (t - c * o_pieces) * out_cols
                    nc = min(out_cols, d_model - c0)
                    r0 = c * out_rows
                    nr = min(out_rows, step_rows - r0)
                    gemm(f32, CBLAS_NO_TRANS, CBLAS_NO_TRANS, nr, nc, ldq, 1.0,
                         ca + r0 * ldq * isz, ldq,
                         w_o.ctypes.data + (h0 * d_head * d_model + c0) * isz, d_model, beta,
                         out.ctypes.data + ((base + r0) * d_model + c0) * isz, d_model)


@njit(parallel=True, cache=CACHE, nogil=True)
def gemm_panels(a, b, c, rows, counters):
    """c = a @ b by panels of ``rows`` rows over the workers, each a single-threaded gemm.

    The sgemm probe through the kernel's own BLAS and threads (see execute.probe): the speed
    the kernel's projections could reach on this machine, for its backend.
    """
    f32 = a.itemsize == 4
    isz = a.itemsize
    m, k = a.shape
    n = b.shape[1]
    chunks = (m + rows - 1) // rows
    counters[0] = 0
    for w in prange(counters.shape[0] - 1):
        while True:
            t = fetch_add(counters, 0, 1)
            if t >= chunks:
                break
            r0 = t * rows
            nr = min(rows, m - r0)
            gemm(f32, CBLAS_NO_TRANS, CBLAS_NO_TRANS, nr, n, k, 1.0, a.ctypes.data + r0 * k * isz,
                 k, b.ctypes.data, n, 0.0, c.ctypes.data + r0 * n * isz, n)
