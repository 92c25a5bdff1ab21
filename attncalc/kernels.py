"""Numba kernels: one attention block forward pass, tiled, with an online softmax.

This is the only module that imports numba; :mod:`attncalc.execute` imports it lazily, so the
counting commands never pay numba's import or compile time.

The block computed (no biases, no normalisation, no residual)::

    Q = X W_Q / sqrt(d_head)     X [b, s, d_model], W_Q [d_model, n_heads * d_head]
    K = X W_K, V = X W_V         W_K, W_V [d_model, n_kv_heads * d_head]
    O_h = softmax(mask(Q_h K_g^T)) V_g,   g = h // (n_heads // n_kv_heads)
    Y = [O_1 ... O_H] W_O        W_O [n_heads * d_head, d_model]

How (FlashAttention, Dao et al. 2022, with the online softmax of Milakov & Gimelshein 2018,
"Online normalizer calculation for softmax"): K and V are projected once for every row; then
each task (one batch item, one tile of ``block_q`` query rows, all heads) projects its own
query rows, walks the key tiles of ``block_k`` keys its rows may see, keeping per row a
running maximum ``m`` and a running sum ``l`` of exp(score - m) and an unnormalised output
``acc`` that is rescaled by exp(m_old - m_new) whenever the maximum grows, and finally
projects its rows through W_O. The S x S score matrix never exists: a task holds one
``block_q x block_k`` tile of scores, so memory is linear in the sequence length.

The matrix products on tiles (X_t W_Q, Q_t K_t^T, P_t V_t, O_t W_O) go to the BLAS ``gemm``
that NumPy is linked with, called *single-threaded* from inside the ``prange`` loop (one task
per numba thread; the caller sets BLAS to one thread around the call, see
``attncalc.execute``): a tile product of 128 x 256 x 128 is large enough for the BLAS
micro-kernel to run at near peak, while the parallelism is ours. The BLAS routine is reached
through an external symbol (``attncalc_sgemm`` / ``attncalc_dgemm``) bound at import time with
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


@njit(parallel=True, cache=True, fastmath=True, nogil=True)
def attention_block(x, w_q, w_k, w_v, w_o, out, k_buf, v_buf, seq, n_heads, n_kv_heads, d_head,
                    causal, window, block_q, block_k, task_ptr, task_row, q_scr, o_scr, s_scr,
                    m_scr, l_scr):
    """One attention block forward: ``out = attention(x)``; see the module docstring.

    x, out [b*s, d_model]; w_q [d_model, H*dh]; w_k, w_v [d_model, KVH*dh]; w_o [H*dh, d_model];
    k_buf, v_buf [b*s, KVH*dh] (written). ``window`` <= 0 means none. Tasks (query tiles) are
    given per worker: worker w runs rows ``task_row[task_ptr[w]:task_ptr[w+1]]`` (the first row
    of each tile, in the flattened b*s rows; a tile never crosses a sequence). Scratch, one
    slice per worker: q_scr, o_scr [W, block_q, H*dh], s_scr [W, block_q, block_k],
    m_scr, l_scr [W, block_q].
    """
    f32 = x.itemsize == 4
    isz = x.itemsize
    rows, d_model = x.shape
    hd = n_heads * d_head
    kvd = n_kv_heads * d_head
    group = n_heads // n_kv_heads
    n_workers = task_ptr.shape[0] - 1
    scale = 1.0 / np.sqrt(d_head)

    # Phase 1: K = X W_K and V = X W_V for every row, one contiguous row range per worker.
    per = (rows + n_workers - 1) // n_workers
    for w in prange(n_workers):
        r0 = w * per
        r1 = min(rows, r0 + per)
        if r1 > r0:
            xa = x.ctypes.data + r0 * d_model * isz
            _gemm(f32, CBLAS_NO_TRANS, CBLAS_NO_TRANS, r1 - r0, kvd, d_model, 1.0, xa, d_model,
                  w_k.ctypes.data, kvd, 0.0, k_buf.ctypes.data + r0 * kvd * isz, kvd)
            _gemm(f32, CBLAS_NO_TRANS, CBLAS_NO_TRANS, r1 - r0, kvd, d_model, 1.0, xa, d_model,
                  w_v.ctypes.data, kvd, 0.0, v_buf.ctypes.data + r0 * kvd * isz, kvd)

    # Phase 2: per query tile, all heads: project Q, online softmax over key tiles, project O.
    for w in prange(n_workers):
        q_t = q_scr[w]
        o_t = o_scr[w]
        s_t = s_scr[w]
        m_t = m_scr[w]
        l_t = l_scr[w]
        for t in range(task_ptr[w], task_ptr[w + 1]):
            row0 = task_row[t]
            base = (row0 // seq) * seq  # first row of this sequence
            i0 = row0 - base  # query positions i0 .. i1-1
            nq = min(block_q, seq - i0)
            i1 = i0 + nq
            # Q tile for all heads, with the 1/sqrt(d_head) folded in.
            _gemm(f32, CBLAS_NO_TRANS, CBLAS_NO_TRANS, nq, hd, d_model, scale,
                  x.ctypes.data + row0 * d_model * isz, d_model, w_q.ctypes.data, hd, 0.0,
                  q_t.ctypes.data, hd)
            klo = _key_range(i0, seq, causal, window)[0]
            khi = _key_range(i1 - 1, seq, causal, window)[1]
            for h in range(n_heads):
                g = h // group
                c0 = h * d_head
                for i in range(nq):
                    m_t[i] = -3.0e38
                    l_t[i] = 0.0
                    _zero(o_t[i, c0:c0 + d_head])
                k_addr = k_buf.ctypes.data + (base * kvd + g * d_head) * isz
                v_addr = v_buf.ctypes.data + (base * kvd + g * d_head) * isz
                for j0 in range(klo, khi, block_k):
                    nk = min(block_k, khi - j0)
                    # S = Q_h K_g^T on this tile (block_q x nk, leading dimension block_k).
                    _gemm(f32, CBLAS_NO_TRANS, CBLAS_TRANS, nq, nk, d_head, 1.0,
                          q_t.ctypes.data + c0 * isz, hd, k_addr + j0 * kvd * isz, kvd, 0.0,
                          s_t.ctypes.data, block_k)
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
                            _scale(o_t[i, c0:c0 + d_head], alpha)
                        else:
                            l_t[i] += total
                        m_t[i] = m_new
                    # acc += P V_g on this tile.
                    _gemm(f32, CBLAS_NO_TRANS, CBLAS_NO_TRANS, nq, d_head, nk, 1.0,
                          s_t.ctypes.data, block_k, v_addr + j0 * kvd * isz, kvd, 1.0,
                          o_t.ctypes.data + c0 * isz, hd)
                for i in range(nq):
                    _scale(o_t[i, c0:c0 + d_head], 1.0 / l_t[i])
            # Y rows = O W_O.
            _gemm(f32, CBLAS_NO_TRANS, CBLAS_NO_TRANS, nq, d_model, hd, 1.0, o_t.ctypes.data,
                  hd, w_o.ctypes.data, d_model, 0.0, out.ctypes.data + row0 * d_model * isz,
                  d_model)


@njit(cache=True, fastmath=True)
def exp_tile_check(x, m):
    """Test hook: the vectorised float32 exp applied to a copy of ``x`` (1-D float32)."""
    row = x.copy()
    total = _exp_tile(row, np.float32(m))
    return row, total
