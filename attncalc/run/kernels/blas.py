"""The BLAS ``gemm`` the kernels call: MKL (optional), NumPy's own ILP64 CBLAS, or a callback.

The routine is reached through external symbols (``attncalc_sgemm`` / ``attncalc_dgemm``) bound
at import time with ``llvmlite.binding.add_symbol``: the compiled code refers to the symbol by
name, not by address, so ``cache=True`` works and one cache serves every backend. The backend is
chosen by ``ATTNCALC_BLAS`` (``auto``, ``mkl``, ``openblas``, ``callback``): ``auto`` takes MKL's
``cblas_?gemm_64`` when the ``mkl`` wheel is installed (``pip install attncalc[mkl]``, about
0.7 GB with its dependencies, so not a default dependency), else NumPy's OpenBLAS. When no ILP64
CBLAS is found in the process (NumPy built against Accelerate or a 32-bit-integer OpenBLAS), or
``ATTNCALC_BLAS=callback`` is set, the symbols are bound to a ctypes callback that calls
``numpy.matmul`` on the tile: correct, portable and slower (``BLAS_BACKEND`` says which one is
in use). The kernels release
the GIL (``nogil=True``), which that fallback needs: its calls from numba's threads take it.

The kernels call gemm *single-threaded* from numba's threads (the caller sets BLAS to one
thread, see ``attncalc.execute``).
"""

from __future__ import annotations

import ctypes
import os

import llvmlite.binding as _llvm
import numpy as np
from numba import njit, types

from ...errors import WorkloadError
from ..machine import blas, mkl

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


def _bind(lib) -> None:
    _llvm.add_symbol("attncalc_sgemm", ctypes.cast(lib.sgemm, ctypes.c_void_p).value)
    _llvm.add_symbol("attncalc_dgemm", ctypes.cast(lib.dgemm, ctypes.c_void_p).value)


def _select() -> tuple[str, str]:
    """Bind the gemm symbols as ATTNCALC_BLAS asks (default ``auto``); (backend, description).

    ``auto``: MKL when its runtime is installed (faster single-threaded gemm on the small
    products the kernel makes: measured on a 2-core Xeon VM, M = 32 x 2304 x 768 at 108 against
    59 GFLOP/s, 256 x 256 x 128 at 139 against 111), else NumPy's OpenBLAS, else the callback.
    """
    choice = os.environ.get("ATTNCALC_BLAS", "auto").strip().lower() or "auto"
    if choice in ("auto", "mkl"):
        lib = mkl()
        if lib is not None:
            _bind(lib)
            return "mkl", f"MKL {lib.version} ({os.path.basename(lib.path)}, ILP64, sequential)"
        if choice == "mkl":
            raise WorkloadError("ATTNCALC_BLAS=mkl: MKL's runtime (libmkl_rt with cblas_sgemm_64) "
                                "was not found; pip install 'attncalc[mkl]', or unset it")
    if choice in ("auto", "openblas"):
        lib = blas()
        if lib.sgemm is not None and lib.dgemm is not None:
            _bind(lib)
            return "openblas", f"NumPy's OpenBLAS ({os.path.basename(lib.path)}, ILP64)"
        if choice == "openblas":
            raise WorkloadError("ATTNCALC_BLAS=openblas: NumPy's BLAS has no ILP64 CBLAS "
                                "this kernel can call; unset it")
    _bind_callback()
    return "numpy-callback", "numpy.matmul through a ctypes callback (portable, slower)"


#: "mkl" (MKL's runtime, optional), "openblas" (NumPy's own, called directly) or
#: "numpy-callback" (portable, slower); BLAS_DESCRIPTION says which library and version.
BLAS_BACKEND, BLAS_DESCRIPTION = _select()


@njit
def gemm(f32, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    """Row-major C[m, n] = alpha * op(A) op(B) + beta * C; a, b, c are addresses."""
    if f32:
        _sgemm(CBLAS_ROW_MAJOR, ta, tb, m, n, k, np.float32(alpha), a, lda, b, ldb,
               np.float32(beta), c, ldc)
    else:
        _dgemm(CBLAS_ROW_MAJOR, ta, tb, m, n, k, np.float64(alpha), a, lda, b, ldb,
               np.float64(beta), c, ldc)
