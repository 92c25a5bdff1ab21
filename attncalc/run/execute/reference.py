"""The plain NumPy attention block the kernel is checked against, and the check itself."""

from __future__ import annotations

import math

import numpy as np

from .spec import RunSpec, Weights

# Check tolerances on max|y - y_ref| / max|y_ref| (y_ref computed in float64).
RTOL = {"float32": 2e-4, "float64": 1e-10}
CHECK_ROWS = 48  # query rows checked per checked batch item (first, middle and last 16)


def reference_attention(x: np.ndarray, weights: Weights, n_heads: int, n_kv_heads: int,
                        d_head: int, causal: bool = True, window: int | None = None,
                        rows: np.ndarray | None = None) -> np.ndarray:
    """Plain NumPy attention block for one sequence x [seq, d_model] (for checking only).

    Materialises the scores of the requested query ``rows`` (default: all) against every key,
    masks with -inf, softmax, weighted sum, output projection. Computed in x's dtype; pass
    float64 arrays for a reference to check float32 against. Returns y[rows].
    """
    seq = x.shape[0]
    if rows is None:
        rows = np.arange(seq)
    rows = np.asarray(rows)
    group = n_heads // n_kv_heads
    q = (x[rows] @ weights.w_q) * x.dtype.type(1.0 / math.sqrt(d_head))
    k = x @ weights.w_k
    v = x @ weights.w_v
    j = np.arange(seq)
    i = rows[:, None]
    keep = np.ones((len(rows), seq), bool)
    if causal:
        keep &= j[None, :] <= i
    if window:
        keep &= (i - j[None, :]) < window
        if not causal:
            keep &= (j[None, :] - i) < window
    o = np.empty((len(rows), n_heads * d_head), x.dtype)
    for h in range(n_heads):
        g = h // group
        qs = q[:, h * d_head:(h + 1) * d_head]
        ks = k[:, g * d_head:(g + 1) * d_head]
        vs = v[:, g * d_head:(g + 1) * d_head]
        scores = np.where(keep, qs @ ks.T, -np.inf)
        scores -= scores.max(axis=1, keepdims=True)
        p = np.exp(scores)
        p /= p.sum(axis=1, keepdims=True)
        o[:, h * d_head:(h + 1) * d_head] = p @ vs
    return o @ weights.w_o


def check_rows(seq: int) -> np.ndarray:
    """The query rows the check compares: first, middle and last CHECK_ROWS // 3."""
    if seq <= CHECK_ROWS:
        return np.arange(seq)
    n = CHECK_ROWS // 3
    mid = seq // 2 - n // 2
    return np.concatenate([np.arange(n), np.arange(mid, mid + n), np.arange(seq - n, seq)])


def max_rel_error(spec: RunSpec, x: np.ndarray, weights: Weights, y: np.ndarray) -> float:
    """max|y - y_ref| / max|y_ref| over the checked rows of the first and last batch item."""
    w64 = Weights(*(a.astype(np.float64) for a in (weights.w_q, weights.w_k, weights.w_v,
                                                     weights.w_o)))
    rows = check_rows(spec.seq)
    err = scale = 0.0
    for b in sorted({0, spec.batch - 1}):
        ref = reference_attention(x[b].astype(np.float64), w64, spec.n_heads, spec.n_kv_heads,
                                  spec.d_head, spec.causal, spec.window, rows)
        err = max(err, float(np.abs(y[b, rows].astype(np.float64) - ref).max()))
        scale = max(scale, float(np.abs(ref).max()))
    return err / scale if scale > 0 else err
