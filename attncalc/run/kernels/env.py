"""numba's environment for the kernels: cache directory, threading layer, cache freshness.

Imported by ``attncalc.kernels`` before anything imports numba: the cache directory and the
threading layer are read from the environment when numba loads.
"""

from __future__ import annotations

import hashlib
import os
import sys


def _cache_dir_for(package_dir: str) -> str | None:
    """A user cache dir when the package dir (where numba puts ``__pycache__``) is read-only."""
    pycache = os.path.join(package_dir, "__pycache__")
    target = pycache if os.path.isdir(pycache) else package_dir
    if os.access(target, os.W_OK):
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "attncalc", "numba")


PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def configure() -> None:
    """Set NUMBA_CACHE_DIR (when needed) and the threading layer; call before importing numba."""
    if "NUMBA_CACHE_DIR" not in os.environ:
        user_cache = _cache_dir_for(PACKAGE_DIR)
        if user_cache is not None:
            os.makedirs(user_cache, exist_ok=True)
            os.environ["NUMBA_CACHE_DIR"] = user_cache
            if "numba" in sys.modules:  # imported earlier by someone else: re-read it
                from numba.core import config

                config.reload_config()
    # numba's OpenMP threading layer and another OpenMP runtime in one process (PyTorch in the
    # benchmark) slow each other down badly; the workqueue layer has no such conflict and costs
    # nothing here (one parallel region per phase, tasks of milliseconds).
    os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")


def apply_threading_layer() -> None:
    """Honour NUMBA_THREADING_LAYER even when numba was imported before :func:`configure`."""
    import numba

    if numba.config.THREADING_LAYER == "default" and os.environ.get("NUMBA_THREADING_LAYER"):
        numba.config.THREADING_LAYER = os.environ["NUMBA_THREADING_LAYER"]


def package_stamp() -> bytes:
    """SHA-256 of every source file of this package (names and contents)."""
    h = hashlib.sha256()
    for name in sorted(os.listdir(PACKAGE_DIR)):
        if name.endswith(".py"):
            h.update(name.encode())
            with open(os.path.join(PACKAGE_DIR, name), "rb") as f:
                h.update(f.read())
    return h.digest()


def stamp_caches(*dispatchers) -> None:
    """Key the on-disk caches of ``dispatchers`` on the whole package's sources.

    numba stamps a cached function with the source of its own file only, so an edit to a helper
    in another module of the package (compiled into the caller's machine code) would load stale
    code. The stamp is
    replaced before the first call (when the index is read). numba internals: when they differ,
    the caches keep numba's per-file stamp.
    """
    stamp = package_stamp()
    for d in dispatchers:
        cache_file = getattr(getattr(d, "_cache", None), "_cache_file", None)
        if cache_file is not None and hasattr(cache_file, "_source_stamp"):
            cache_file._source_stamp = stamp
