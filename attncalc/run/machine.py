"""What the machine offers an executed workload: memory available, peak memory, BLAS threads.

Standard library and NumPy only (no numba), so the memory guard runs before anything heavy is
imported or allocated. Linux gives exact answers (/proc); elsewhere the functions fall back to
``resource`` or return ``None``.
"""

from __future__ import annotations

import ctypes
import glob
import os
import re
import sys
from contextlib import contextmanager
from typing import Iterator

GiB = 1 << 30


def _proc_kib(path: str, field: str) -> int | None:
    """Bytes of a "Field:  N kB" line of a /proc file, or None where there is none."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def available_memory() -> int | None:
    """Bytes the kernel reports as available to a new workload (MemAvailable), or None."""
    found = _proc_kib("/proc/meminfo", "MemAvailable")
    if found is not None:
        return found
    if sys.platform == "darwin" or hasattr(os, "sysconf"):
        try:  # free physical pages: an underestimate of what could be made available
            return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            return None
    return None


def _status_kib(field: str) -> int | None:
    return _proc_kib("/proc/self/status", field)


def total_memory() -> int | None:
    """Bytes of physical memory (MemTotal), or None."""
    found = _proc_kib("/proc/meminfo", "MemTotal")
    if found is not None:
        return found
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def current_rss() -> int | None:
    """Resident set size of this process now, in bytes (Linux), else None."""
    return _status_kib("VmRSS")


def reset_peak_rss() -> bool:
    """Reset the peak-RSS high-water mark (Linux >= 4.0: ``5 > /proc/self/clear_refs``).

    True when it worked; then :func:`peak_rss` measures from now on, so a JIT compile that ran
    earlier (LLVM can take a few hundred MiB) does not hide the workload's own peak.
    """
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss() -> int:
    """Peak resident set size in bytes: VmHWM where available, else ``ru_maxrss``."""
    hwm = _status_kib("VmHWM")
    if hwm is not None:
        return hwm
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB on Linux


def cpu_count() -> int:
    """CPUs this process may run on (what numba uses for its default thread count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


# --- BLAS ----------------------------------------------------------------------------------------


class BlasLibrary:
    """The BLAS NumPy is linked with, as far as ctypes can reach it.

    ``sgemm``/``dgemm`` are the ILP64 CBLAS entry points (64-bit integers) when present, else
    None; ``set_threads``/``get_threads`` control its thread pool when it is an OpenBLAS.
    """

    def __init__(self) -> None:
        self.path: str | None = None
        self.sgemm = self.dgemm = None
        self._set = self._get = None
        self._lib = None

    @property
    def can_set_threads(self) -> bool:
        return self._set is not None

    def set_threads(self, n: int) -> None:
        if self._set is not None:
            self._set(int(n))

    def get_threads(self) -> int | None:
        return int(self._get()) if self._get is not None else None


# (thread-function prefix, CBLAS stem, symbol suffix, 64-bit integers)
_NAMES = [
    ("scipy_openblas", "scipy_cblas_", "64_", True),  # NumPy >= 2 wheels (scipy-openblas64)
    ("openblas", "cblas_", "64_", True),  # OpenBLAS with INTERFACE64 and SYMBOLSUFFIX=64_
    ("scipy_openblas", "scipy_cblas_", "", False),  # 32-bit integer builds: threads only
    ("openblas", "cblas_", "", False),
]


def _candidate_libraries() -> list[str]:
    import numpy as np

    here = os.path.dirname(np.__file__)
    found: list[str] = []
    for pattern in ("../numpy.libs/*openblas*", ".dylibs/*openblas*", "../numpy.libs/*blas*"):
        for path in sorted(glob.glob(os.path.join(here, pattern))):
            if path not in found:
                found.append(path)
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                parts = line.split()
                path = parts[-1] if len(parts) >= 6 else ""
                if "blas" in os.path.basename(path).lower() and path not in found:
                    found.append(path)
    except OSError:
        pass
    return found


_BLAS: BlasLibrary | None = None


def blas() -> BlasLibrary:
    """Find (once) NumPy's BLAS: its bundled OpenBLAS, or any *blas* library mapped in."""
    global _BLAS
    if _BLAS is not None:
        return _BLAS
    import numpy  # noqa: F401  (loads the library, so /proc/self/maps lists it)

    info = BlasLibrary()
    for path in _candidate_libraries():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix, stem, suffix, ilp64 in _NAMES:
            setter = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
            getter = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
            if setter is None or getter is None:
                continue
            setter.argtypes, setter.restype = [ctypes.c_int], None
            getter.argtypes, getter.restype = [], ctypes.c_int
            info.path, info._lib, info._set, info._get = path, lib, setter, getter
            if ilp64:
                info.sgemm = getattr(lib, f"{stem}sgemm{suffix}", None)
                info.dgemm = getattr(lib, f"{stem}dgemm{suffix}", None)
            break
        if info.path is not None:
            break
    _BLAS = info
    return info


@contextmanager
def blas_threads(n: int | None) -> Iterator[None]:
    """Run the block with NumPy's BLAS on ``n`` threads (no-op for None or an unknown BLAS)."""
    lib = blas()
    if n is None or not lib.can_set_threads:
        yield
        return
    old = lib.get_threads()
    lib.set_threads(n)
    try:
        yield
    finally:
        lib.set_threads(old if old else n)


# --- MKL (optional: the `mkl` wheel, `pip install attncalc[mkl]`) ---------------------------------


class MklLibrary:
    """Intel MKL's single dynamic library (``libmkl_rt``), as far as ctypes can reach it.

    ``sgemm``/``dgemm`` are its ILP64 CBLAS entry points (``cblas_?gemm_64``, 64-bit integers,
    the same signature the kernels bind for OpenBLAS). The threading layer is set to
    sequential before any other call (``MKL_Set_Threading_Layer``, oneMKL Developer Reference,
    "Dynamic Libraries in the lib/intel64 Directory"): the kernels call gemm from their own
    threads, one product per thread.
    """

    def __init__(self, path: str, lib: ctypes.CDLL):
        self.path, self._lib = path, lib
        self.sgemm = lib.cblas_sgemm_64
        self.dgemm = lib.cblas_dgemm_64
        buf = ctypes.create_string_buffer(256)
        get_version = getattr(lib, "MKL_Get_Version_String", None)
        if get_version is not None:
            get_version.argtypes, get_version.restype = [ctypes.c_char_p, ctypes.c_int], None
            get_version(buf, len(buf))
        text = buf.value.decode(errors="replace")
        match = re.search(r"Version (\d+(?:\.\d+)*)", text)
        self.version = match.group(1) if match else text.strip()


MKL_THREADING_SEQUENTIAL = 1  # mkl_service.h: MKL_THREADING_INTEL 0, SEQUENTIAL 1, ...


def _mkl_candidates() -> list[str]:
    import ctypes.util
    import sysconfig

    names = ("libmkl_rt.so.3", "libmkl_rt.so.2", "libmkl_rt.so", "libmkl_rt.3.dylib",
             "libmkl_rt.2.dylib", "libmkl_rt.dylib", "mkl_rt.2.dll", "mkl_rt.dll")
    dirs = []
    for base in (sys.prefix, sys.base_prefix, sysconfig.get_config_var("LIBDIR") or ""):
        if base:
            dirs += [os.path.join(base, "lib"), os.path.join(base, "Library", "bin"), base]
    found = [os.path.join(d, n) for d in dict.fromkeys(dirs) for n in names
             if os.path.isfile(os.path.join(d, n))]
    other = ctypes.util.find_library("mkl_rt")
    if other:
        found.append(other)
    return found


_MKL: list = []


def mkl() -> MklLibrary | None:
    """Find (once) MKL's runtime with ILP64 CBLAS, set it sequential; None when absent."""
    if _MKL:
        return _MKL[0]
    info = None
    for path in _mkl_candidates():
        try:
            lib = ctypes.CDLL(path)
            set_layer = lib.MKL_Set_Threading_Layer
            lib.cblas_sgemm_64, lib.cblas_dgemm_64  # noqa: B018 (ILP64 entry points present)
        except (OSError, AttributeError):
            continue
        set_layer.argtypes, set_layer.restype = [ctypes.c_int], ctypes.c_int
        if set_layer(MKL_THREADING_SEQUENTIAL) != MKL_THREADING_SEQUENTIAL:
            continue
        info = MklLibrary(path, lib)
        break
    _MKL.append(info)
    return info
