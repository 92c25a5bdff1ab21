"""Numba kernels: one attention block forward pass, tiled, with an online softmax.

This is the only package that imports numba; :mod:`attncalc.execute` imports it lazily, so the
counting commands never pay numba's import or compile time.

Modules, one role each:

- :mod:`.env`: numba's cache directory and threading layer (set before numba loads), and
  cache freshness keyed on the whole package;
- :mod:`.blas`: the BLAS ``gemm`` (MKL when installed, else NumPy's OpenBLAS) bound as an
  external symbol (or a portable callback);
- :mod:`.expf`: the vectorised float32 exp and the softmax's row operations;
- :mod:`.core`: the attention core (tiles of queries, online softmax, masking by key ranges);
- :mod:`.block`: the whole block, phased by steps of heads (projections, core, output).

Helpers are plain ``@njit`` functions, not ``inline="always"``: LLVM inlines the small ones
anyway, and numba-level inlining took 2.5x the compile time (32 s against 12 s for both dtypes
on a 2-core VM) for no measurable speed.
"""

from __future__ import annotations

from . import env

env.configure()
env.apply_threading_layer()

from .blas import BLAS_BACKEND, BLAS_DESCRIPTION  # noqa: E402
from .env import CACHE_DIR, CACHE_NOTE  # noqa: E402  (set by configure() above)
from .block import attention_block, gemm_panels  # noqa: E402
from .core import attention_core  # noqa: E402
from .expf import exp_tile_check  # noqa: E402

env.stamp_caches(attention_block, attention_core, exp_tile_check, gemm_panels)

__all__ = ["BLAS_BACKEND", "BLAS_DESCRIPTION", "CACHE_DIR", "CACHE_NOTE", "attention_block",
           "attention_core", "exp_tile_check", "gemm_panels"]
