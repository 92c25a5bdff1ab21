"""numba's environment for the kernels: cache directory, threading layer, cache freshness.

Imported by ``attncalc.kernels`` before anything imports numba: the cache directory and the
threading layer are read from the environment when numba loads.
"""

from __future__ import annotations

import hashlib
import os
import sys

from ..settings import check_environment, choose_cache_dir


PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))

#: False when no writable cache directory exists: the kernels are then compiled without
#: ``cache=True`` (numba refuses ``cache=True`` without a place to write). Set by configure().
CACHE = True
#: Where the compiled kernels are cached (None: numba's default beside the package, or none).
CACHE_DIR: str | None = None
#: What configure() changed from the user's settings, for stderr (None: nothing to say).
CACHE_NOTE: str | None = None


def configure() -> None:
    """Check numba's settings, choose the cache directory and the threading layer.

    Call before importing numba. Raises WorkloadError for a setting the kernel cannot run
    under (see :mod:`attncalc.run.settings`).
    """
    global CACHE, CACHE_DIR, CACHE_NOTE
    check_environment()
    cache_dir, CACHE, CACHE_NOTE = choose_cache_dir(PACKAGE_DIR)
    CACHE_DIR = cache_dir if cache_dir is not None else (
        os.path.join(PACKAGE_DIR, "__pycache__") if CACHE else None)
    if cache_dir is not None and os.environ.get("NUMBA_CACHE_DIR") != cache_dir:
        os.environ["NUMBA_CACHE_DIR"] = cache_dir
        if "numba" in sys.modules:  # imported earlier by someone else: re-read it
            from numba.core import config

            config.reload_config()
    # numba's OpenMP threading layer and another OpenMP runtime in one process (PyTorch in the
    # benchmark) slow each other down badly; the workqueue layer has no such conflict and costs
    # nothing here (one parallel region per phase, tasks of milliseconds).
    if not os.environ.get("NUMBA_THREADING_LAYER", "").strip():
        os.environ["NUMBA_THREADING_LAYER"] = "workqueue"


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
