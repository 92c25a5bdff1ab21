"""Numba kernels: one attention block forward pass, tiled, with an online softmax.

This is the only module that imports numba; :mod:`attncalc.execute` imports it lazily, so the
counting commands never pay numba's import or compile time.

The block computed (no biases, no normalisation, no residual)::

    Q = X W_Q / sqrt(d_head)     X [b, s, d_model], W_Q [d_model, n_heads * d_head]
    K = X W_K, V = X W_V         W_K, W_V [d_model, n_kv_heads * d_head]
    O_h = softmax(mask(Q_h K_g^T)) V_g,   g = h // (n_heads // n_kv_heads)
    Y = [O_1 ... O_H] W_O        W_O [n_heads * d_head, d_model]

How. Heads are taken in *steps* of kh heads (kv-group-major: a step's heads share their kv
groups; ``attncalc.execute.step_plan`` picks kh). Per step and sequence, three parallel phases:

P. Q = X W_Q[:, step] / sqrt(d_head) for every row, and K, V of the step's kv groups when they
   changed: products of S x d_model x kh*d_head, the bulk of the FLOPs at short sequences;
A. the attention core of the step's heads, one task per (head, tile of ``block_q`` queries), in
   the manner of FlashAttention (Dao et al. 2022) with the online softmax of Milakov &
   Gimelshein 2018 ("Online normalizer calculation for softmax"): walk the key tiles of
   ``block_k`` keys the rows may see, keeping per row a running maximum ``m``, a running sum
   ``l`` of exp(score - m) and an unnormalised output that is rescaled by exp(m_old - m_new)
   whenever the maximum grows. A task holds one ``block_q x block_k`` tile of scores: the
   S x S matrix never exists;
O. Y (+)= C W_O[step rows, :] (the first step writes, the others accumulate with beta = 1).

Memory beyond inputs, weights and outputs is therefore the step's buffers (S x kh*d_head for Q
and C, S x kg*d_head for K and V) plus a score tile per thread, not S x n_heads*d_head.

Every product goes to the BLAS ``gemm`` NumPy is linked with, called *single-threaded* from
numba's threads (the caller sets BLAS to one thread, see ``attncalc.execute``): phases P and O
split the rows into chunks of up to 256 (near BLAS peak single-threaded), the core calls it on
tiles. Measured on a 2-core VM this beat multi-threaded BLAS for P and O, which needs BLAS
threads switched on and off around each core phase. The tasks of a phase are taken from a work
queue (an atomic counter, ``_fetch_add``), costliest first, so a thread slowed down by the
machine takes fewer tasks. The BLAS routine is reached through an external symbol
(``attncalc_sgemm`` / ``attncalc_dgemm``) bound at import time with
``llvmlite.binding.add_symbol``: the compiled code refers to the symbol by name, not by
address, so ``cache=True`` works. When no ILP64 CBLAS is found in the process (NumPy built
against MKL, Accelerate or a 32-bit-integer OpenBLAS), or ``ATTNCALC_BLAS=callback`` is set,
the symbols are bound to a ctypes callback that calls ``numpy.matmul`` on the tile: correct,
portable and slower (``BLAS_BACKEND`` says which one is in use). The kernel releases the GIL
(``nogil=True``), which that fallback needs: its calls from numba's threads take the GIL.

Softmax: exp is the inner-loop cost (one exp per score, against 4 * d_head FLOPs of matrix
products), and numba's ``np.exp`` is a scalar libm call. For float32 the kernel uses
``_exp_tile``, the Cephes ``expf`` range reduction and polynomial written as one plain loop
that LLVM vectorises (the 2^n scale is built in the exponent bits and bitcast, see
``_as_float32``); its relative error is below 1e-6 (checked in tests/test_kernels.py).
The row maximum uses ``llvm.maxnum`` (``_fmax``) so that it vectorises too. float64 uses
``np.exp``.

Masking: causal keeps keys j <= i; a window w keeps i - w < j <= i (causal) or
|i - j| < w (full). Each row's kept keys form one interval, so masking is done by limiting the
column range of each row in a tile: no -inf arithmetic, and tiles wholly outside every row's
interval are never visited.
"""

from __future__ import annotations

import ctypes
import os
import sys

# --- numba cache directory: must be decided before numba is imported ----------------------------


def _cache_dir_for(package_dir: str) -> str | None:
    """A user cache dir when the package dir (where numba puts ``__pycache__``) is read-only."""
    pycache = os.path.join(package_dir, "__pycache__")
    target = pycache if os.path.isdir(pycache) else package_dir
    if os.access(target, os.W_OK):
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "attncalc", "numba")


if "NUMBA_CACHE_DIR" not in os.environ:
    _user_cache = _cache_dir_for(os.path.dirname(os.path.abspath(__file__)))
    if _user_cache is not None:
        os.makedirs(_user_cache, exist_ok=True)
        os.environ["NUMBA_CACHE_DIR"] = _user_cache
        if "numba" in sys.modules:  # imported earlier by someone else: re-read the environment
            from numba.core import config as _config

            _config.reload_config()

# numba's OpenMP threading layer and another OpenMP runtime in one process (PyTorch in the
# benchmark) slow each other down badly; the workqueue layer has no such conflict and costs
# nothing here (one parallel region per phase, tasks of milliseconds).
os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")

import llvmlite.binding as _llvm  # noqa: E402
import numba  # noqa: E402
import numpy as np  # noqa: E402
from llvmlite import ir  # noqa: E402
from numba import njit, prange, types  # noqa: E402
from numba.core import cgutils  # noqa: E402
from numba.extending import intrinsic  # noqa: E402

from .sysinfo import blas  # noqa: E402

if numba.config.THREADING_LAYER == "default" and os.environ.get("NUMBA_THREADING_LAYER"):
    numba.config.THREADING_LAYER = os.environ["NUMBA_THREADING_LAYER"]

# --- BLAS binding -----------------------------------------------------------------------------------

CBLAS_ROW_MAJOR, CBLAS_NO_TRANS, CBLAS_TRANS = 101, 111, 112

_I64 = types.int64
# cblas_?gemm(order, transa, transb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc); pointers and
# the enum arguments are passed as 64-bit integers (same registers/stack slots as the C ABI).
_sgemm = types.ExternalFunction(
    "attncalc_sgemm",
    types.void(_I64, _I64, _I64, _I64, _I64, _I64, types.float32,
               _I64, _I64, _I64, _I64, types.float32, _I64, _I64),
)
_dgemm = types.ExternalFunction(
    "attncalc_dgemm",
    types.void(_I64, _I64, _I64, _I64, _I64, _I64, types.float64,
               _I64, _I64, _I64, _I64, types.float64, _I64, _I64),
)


def _bind_ilp64() -> str | None:
    """Bind the gemm symbols to NumPy's own ILP64 CBLAS, if it has one; returns its path."""
    lib = blas()
    if lib.sgemm is None or lib.dgemm is None:
        return None
    _llvm.add_symbol("attncalc_sgemm", ctypes.cast(lib.sgemm, ctypes.c_void_p).value)
    _llvm.add_symbol("attncalc_dgemm", ctypes.cast(lib.dgemm, ctypes.c_void_p).value)
    return lib.path


def _callback(ctype):
    """A C-callable gemm doing the tile product with numpy.matmul (portable fallback)."""
    ptr = ctypes.POINTER(ctype)
    np_type = np.float32 if ctype is ctypes.c_float else np.float64
    i64 = ctypes.c_int64

    def view(addr, rows, cols, ld):
        flat = np.ctypeslib.as_array(ctypes.cast(addr, ptr), shape=(max(rows - 1, 0) * ld + cols,))
        return np.lib.stride_tricks.as_strided(
            flat, shape=(rows, cols), strides=(ld * flat.itemsize, flat.itemsize)
        )

    def gemm(order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
        if m == 0 or n == 0:
            return
        A = view(a, k, m, lda).T if ta == CBLAS_TRANS else view(a, m, k, lda)
        B = view(b, n, k, ldb).T if tb == CBLAS_TRANS else view(b, k, n, ldb)
        C = view(c, m, n, ldc)
        prod = np.matmul(A, B).astype(np_type, copy=False)
        if alpha != 1.0:
            prod *= np_type(alpha)
        if beta == 0.0:
            C[...] = prod
        else:
            C *= np_type(beta)
            C += prod

    proto = ctypes.CFUNCTYPE(None, i64, i64, i64, i64, i64, i64, ctype,
                             i64, i64, i64, i64, ctype, i64, i64)
    return proto(gemm)


_KEEP: list = []  # the ctypes callbacks must outlive every kernel call


def _bind_callback() -> None:
    for name, ctype in (("attncalc_sgemm", ctypes.c_float), ("attncalc_dgemm", ctypes.c_double)):
        fn = _callback(ctype)
        _KEEP.append(fn)
        _llvm.add_symbol(name, ctypes.cast(fn, ctypes.c_void_p).value)


#: "cblas-ilp64" (NumPy's OpenBLAS, called directly) or "numpy-callback" (portable, slower).
BLAS_BACKEND = "numpy-callback"
if os.environ.get("ATTNCALC_BLAS") != "callback" and _bind_ilp64() is not None:
    BLAS_BACKEND = "cblas-ilp64"
else:
    _bind_callback()


# --- helpers (inlined into the kernel) --------------------------------------------------------------


@njit(inline="always")
def _gemm(f32, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    """Row-major C[m, n] = alpha * op(A) op(B) + beta * C; a, b, c are addresses."""
    if f32:
        _sgemm(CBLAS_ROW_MAJOR, ta, tb, m, n, k, np.float32(alpha), a, lda, b, ldb,
               np.float32(beta), c, ldc)
    else:
        _dgemm(CBLAS_ROW_MAJOR, ta, tb, m, n, k, np.float64(alpha), a, lda, b, ldb,
               np.float64(beta), c, ldc)


# Cephes expf: exp(x) = 2^n * exp(r), n = round(x / ln 2), r = x - n ln 2 (ln 2 split in two
# for exactness), exp(r) = 1 + r + r^2 P(r) on |r| <= ln(2) / 2.
_LOG2E = np.float32(1.44269504088896341)
_LN2_HI = np.float32(0.693359375)
_LN2_LO = np.float32(-2.12194440e-4)
_P0 = np.float32(1.9875691500e-4)
_P1 = np.float32(1.3981999507e-3)
_P2 = np.float32(8.3334519073e-3)
_P3 = np.float32(4.1665795894e-2)
_P4 = np.float32(1.6666665459e-1)
_P5 = np.float32(5.0000001201e-1)
_ONE = np.float32(1.0)
_HALF = np.float32(0.5)
_XMIN = np.float32(-87.0)  # exp(-87) ~ 1.6e-38: the smallest normal float32 scale 2^-126
_BIAS = np.int32(127)
_SHIFT = np.int32(23)


@intrinsic
def _as_float32(typingctx, bits):
    """Reinterpret the low 32 bits of an integer as a float32 (a bitcast, no conversion)."""
    if not isinstance(bits, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        value = args[0]
        if value.type.width != 32:
            value = builder.trunc(value, ir.IntType(32))
        return builder.bitcast(value, ir.FloatType())

    return types.float32(bits), codegen


@intrinsic
def _fmax(typingctx, a, b):
    """max(a, b) as ``llvm.maxnum`` with fast-math flags, so LLVM vectorises max reductions

    (numba's ``max`` lowers to compare-and-select, which its loop vectoriser leaves scalar).
    """
    if not (isinstance(a, types.Float) and a == b):
        return None

    def codegen(context, builder, sig, args):
        ty = args[0].type
        fn = builder.module.declare_intrinsic("llvm.maxnum", [ty], ir.FunctionType(ty, [ty, ty]))
        return builder.call(fn, args, fastmath=("fast",))

    return a(a, b), codegen


# Loops below run over slices from index 0: with a runtime start numba's negative-index
# wraparound makes the access pattern opaque to LLVM and the loop stays scalar (10x slower).


@njit(fastmath=True, inline="always")
def _row_max(seg):
    mx = seg[0]
    for j in range(1, seg.shape[0]):
        mx = _fmax(mx, seg[j])
    return mx


@njit(fastmath=True, inline="always")
def _scale(seg, factor):
    for j in range(seg.shape[0]):
        seg[j] *= factor


@njit(fastmath=True, inline="always")
def _zero(seg):
    for j in range(seg.shape[0]):
        seg[j] = 0.0


@njit(fastmath=True, inline="always")
def _exp_tile(seg, m):
    """seg[:] = exp(seg - m) in float32, one loop LLVM vectorises; returns the sum.

    The scale 2^n is built directly in the exponent bits (``_as_float32``). Arguments below -87
    are clamped (exp -> 1.6e-38, not 0: harmless against a row sum >= 1).
    """
    total = np.float32(0.0)
    for j in range(seg.shape[0]):
        x = max(seg[j] - m, _XMIN)
        n = np.floor(x * _LOG2E + _HALF)
        r = x - n * _LN2_HI - n * _LN2_LO
        p = ((((_P0 * r + _P1) * r + _P2) * r + _P3) * r + _P4) * r + _P5
        v = (p * (r * r) + r + _ONE) * _as_float32((np.int32(n) + _BIAS) << _SHIFT)
        seg[j] = v
        total += v
    return total


@njit(fastmath=True, inline="always")
def _exp_exact(seg, m):
    total = 0.0
    for j in range(seg.shape[0]):
        v = np.exp(seg[j] - m)
        seg[j] = v
        total += v
    return total


@njit(fastmath=True, inline="always")
def _key_range(i, seq, causal, window):
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


# --- the kernel -----------------------------------------------------------------------------------


@intrinsic
def _fetch_add(typingctx, arr, idx, val):
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


@njit(fastmath=True, inline="always")
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
        _zero(c_t[i])
    klo = _key_range(i0, seq, causal, window)[0]
    khi = _key_range(i1 - 1, seq, causal, window)[1]
    for j0 in range(klo, khi, block_k):
        nk = min(block_k, khi - j0)
        # S = Q K^T on this tile (nq x nk, leading dimension block_k).
        _gemm(f32, CBLAS_NO_TRANS, CBLAS_TRANS, nq, nk, d_head, 1.0, q_addr, ldq,
              k_addr + j0 * ldkv * isz, ldkv, 0.0, s_t.ctypes.data, block_k)
        for i in range(nq):
            lo, hi = _key_range(i0 + i, seq, causal, window)
            lo = max(lo, j0) - j0
            hi = min(hi, j0 + nk) - j0
            row = s_t[i]
            if hi <= lo:  # no kept key in this tile for this row
                _zero(row[:nk])
                continue
            seg = row[lo:hi]
            m_new = max(m_t[i], _row_max(seg))
            if f32:
                total = _exp_tile(seg, np.float32(m_new))
            else:
                total = _exp_exact(seg, m_new)
            if lo > 0:
                _zero(row[:lo])
            if hi < nk:
                _zero(row[hi:nk])
            if m_new > m_t[i]:
                alpha = np.exp(m_t[i] - m_new)
                l_t[i] = l_t[i] * alpha + total
                _scale(c_t[i], alpha)
            else:
                l_t[i] += total
            m_t[i] = m_new
        # C += P V on this tile.
        _gemm(f32, CBLAS_NO_TRANS, CBLAS_NO_TRANS, nq, d_head, nk, 1.0, s_t.ctypes.data,
              block_k, v_addr + j0 * ldkv * isz, ldkv, 1.0, c_addr, ldc)
    for i in range(nq):
        _scale(c_t[i], 1.0 / l_t[i])


@njit(parallel=True, cache=True, fastmath=True, nogil=True)
def attention_core(q_buf, k_buf, v_buf, c_buf, s_scr, m_scr, l_scr, seq, d_head, group, h0, g0,
                   causal, window, block_q, block_k, task_head, task_row, counters):
    """Phase A of one step (one sequence, heads h0 ..): C = softmax(mask(Q K^T)) V.

    q_buf, c_buf [seq, kh*d_head] (Q already scaled); k_buf, v_buf [seq, kg*d_head] hold the kv
    groups g0 ..; one task per (local head, query tile), taken from a work queue
    (``counters[1]``) by ``s_scr.shape[0]`` workers.
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
            t = _fetch_add(counters, 1, 1)
            if t >= n_tasks:
                break
            hl = task_head[t]
            i0 = task_row[t]
            nq = min(block_q, seq - i0)
            gl = (h0 + hl) // group - g0
            col = hl * d_head
            _attend_tile(f32, qa + (i0 * ldq + col) * isz, ldq, ka + gl * d_head * isz,
                         va + gl * d_head * isz, ldkv, ca + (i0 * ldq + col) * isz, ldq,
                         c_buf[i0:i0 + nq, col:col + d_head], i0, nq, seq, causal, window,
                         block_k, s_t, m_t, l_t)


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
                    c = _fetch_add(counters, 0, 1)
                    if c >= n_chunks:
                        break
                    r0 = c * block_rows
                    nr = min(block_rows, seq - r0)
                    xr = xa + (base + r0) * d_model * isz
                    _gemm(f32, CBLAS_NO_TRANS, CBLAS_NO_TRANS, nr, ldq, d_model, scale, xr,
                          d_model, w_q.ctypes.data + h0 * d_head * isz, hd, 0.0,
                          qa + r0 * ldq * isz, ldq)
                    if new_kv:
                        ng = (g1 - g0) * d_head
                        _gemm(f32, CBLAS_NO_TRANS, CBLAS_NO_TRANS, nr, ng, d_model, 1.0, xr,
                              d_model, w_k.ctypes.data + g0 * d_head * isz, kvd, 0.0,
                              ka + r0 * ldkv * isz, ldkv)
                        _gemm(f32, CBLAS_NO_TRANS, CBLAS_NO_TRANS, nr, ng, d_model, 1.0, xr,
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
                    c = _fetch_add(counters, 2, 1)
                    if c >= n_chunks:
                        break
                    r0 = c * block_rows
                    nr = min(block_rows, seq - r0)
                    _gemm(f32, CBLAS_NO_TRANS, CBLAS_NO_TRANS, nr, d_model, ldq, 1.0,
                          ca + r0 * ldq * isz, ldq, w_o.ctypes.data + h0 * d_head * d_model * isz,
                          d_model, beta, out.ctypes.data + (base + r0) * d_model * isz, d_model)


@njit(cache=True, fastmath=True)
def exp_tile_check(x, m):
    """Test hook: the vectorised float32 exp applied to a copy of ``x`` (1-D float32)."""
    row = x.copy()
    total = _exp_tile(row, np.float32(m))
    return row, total
