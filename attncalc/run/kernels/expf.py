"""Vectorisable row operations of the softmax: float32 exp, max, scale, zero.

exp is the softmax's inner-loop cost (one exp per score, against 4 * d_head FLOPs of matrix
products), and numba's ``np.exp`` is a scalar libm call. For float32 the kernel uses
:func:`exp_tile`, the Cephes ``expf`` range reduction and polynomial written as one plain loop
that LLVM vectorises (the 2^n scale is built in the exponent bits and bitcast, see
``_as_float32``); its relative error is below 1e-6 (checked in tests/test_kernels.py). The row
maximum uses ``llvm.maxnum`` (``_fmax``) so that it vectorises too. float64 uses ``np.exp``.

Loops here run over slices from index 0: with a runtime start numba's negative-index wraparound
makes the access pattern opaque to LLVM and the loop stays scalar (10x slower).
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from .env import CACHE

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
def fmax(typingctx, a, b):
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


@njit(fastmath=True)
def expf(x):
    """exp(x) for a float32 x >= -87 (Cephes; relative error < 1e-6), vectorisable."""
    n = np.floor(x * _LOG2E + _HALF)
    r = x - n * _LN2_HI - n * _LN2_LO
    p = ((((_P0 * r + _P1) * r + _P2) * r + _P3) * r + _P4) * r + _P5
    return (p * (r * r) + r + _ONE) * _as_float32((np.int32(n) + _BIAS) << _SHIFT)


@njit(fastmath=True)
def row_max(seg):
    mx = seg[0]
    for j in range(1, seg.shape[0]):
        mx = fmax(mx, seg[j])
    return mx


@njit(fastmath=True)
def scale(seg, factor):
    for j in range(seg.shape[0]):
        seg[j] *= factor


@njit(fastmath=True)
def zero(seg):
    for j in range(seg.shape[0]):
        seg[j] = 0.0


@njit(fastmath=True)
def exp_tile(seg, m):
    """seg[:] = exp(seg - m) in float32, one loop LLVM vectorises; returns the sum.

    Arguments below -87 are clamped (exp -> 1.6e-38, not 0: harmless against a row sum >= 1).
    """
    total = np.float32(0.0)
    for j in range(seg.shape[0]):
        v = expf(max(seg[j] - m, _XMIN))
        seg[j] = v
        total += v
    return total


@njit(fastmath=True)
def exp_exact(seg, m):
    total = 0.0
    for j in range(seg.shape[0]):
        v = np.exp(seg[j] - m)
        seg[j] = v
        total += v
    return total


@njit(cache=CACHE, fastmath=True)
def exp_tile_check(x, m):
    """Test hook: the vectorised float32 exp applied to a copy of ``x`` (1-D float32)."""
    row = x.copy()
    total = exp_tile(row, np.float32(m))
    return row, total
