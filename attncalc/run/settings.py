"""numba's settings for `attncalc run`, checked and completed before numba is imported.

Standard library only. Two jobs:

- :func:`check_environment` refuses settings under which the kernel cannot run, in one line
  (exit 2 through :class:`WorkloadError`) instead of a traceback from deep inside numba:
  ``NUMBA_DISABLE_JIT`` (the kernel's atomics and BLAS calls exist only in compiled code),
  a ``NUMBA_NUM_THREADS`` that is not a positive integer, an unknown ``NUMBA_THREADING_LAYER``
  or ``ATTNCALC_BLAS``.
- :func:`choose_cache_dir` finds where numba may write the compiled kernel: the user's
  ``NUMBA_CACHE_DIR`` when writable, else numba's own place beside the package when writable,
  else ``$XDG_CACHE_HOME/attncalc/numba`` (``~/.cache/...``), else a per-user folder in the
  system temporary directory, else nowhere (the kernel is then compiled in every run). Whatever
  differs from what the user asked for is returned as a note for stderr.

Writability is tested by creating a file, not with ``os.access``: as root ``access`` says yes
on a read-only mount.
"""

from __future__ import annotations

import os
import tempfile
from typing import Mapping

from ..errors import WorkloadError

# numba's threading layers (numba/np/ufunc/parallel.py, ``_launch_threads``): the concrete
# ones and the three that pick among them.
BLAS_CHOICES = ("auto", "mkl", "openblas", "callback")
THREADING_LAYERS = ("default", "safe", "forksafe", "threadsafe", "workqueue", "omp", "tbb")


def _is_true(value: str) -> bool:
    """numba reads NUMBA_DISABLE_JIT as an integer: any non-zero number switches the JIT off."""
    try:
        return int(value) != 0
    except ValueError:
        return bool(value.strip())


def check_environment(environ: Mapping[str, str] | None = None) -> None:
    """Raise WorkloadError (one line) for a numba setting the kernel cannot run under."""
    env = os.environ if environ is None else environ
    jit = env.get("NUMBA_DISABLE_JIT", "")
    if jit and _is_true(jit):
        raise WorkloadError(
            f"NUMBA_DISABLE_JIT={jit}: run executes a compiled kernel and cannot run with "
            "numba's JIT switched off; unset NUMBA_DISABLE_JIT"
        )
    threads = env.get("NUMBA_NUM_THREADS")
    if threads is not None and threads.strip() != "":
        t = threads.strip()
        if not t.isdigit() or int(t) < 1:
            raise WorkloadError(
                f"NUMBA_NUM_THREADS={threads!r}: must be a positive integer (or unset: all cores)"
            )
    blas = env.get("ATTNCALC_BLAS", "").strip().lower()
    if blas and blas not in BLAS_CHOICES:
        raise WorkloadError(
            f"ATTNCALC_BLAS={env['ATTNCALC_BLAS']!r}: use one of {', '.join(BLAS_CHOICES)}"
        )
    layer = env.get("NUMBA_THREADING_LAYER")
    if layer is not None and layer.strip() != "" and layer.strip().lower() not in THREADING_LAYERS:
        raise WorkloadError(
            f"NUMBA_THREADING_LAYER={layer!r}: unknown to numba; use one of "
            f"{', '.join(THREADING_LAYERS)} (or unset it: run uses workqueue)"
        )


def writable_dir(path: str) -> bool:
    """True when ``path`` exists or can be made, and a file can be created in it."""
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
        return True
    except OSError:
        return False


def _user_cache(env: Mapping[str, str]) -> str | None:
    base = env.get("XDG_CACHE_HOME") or ""
    if not base:
        home = env.get("HOME") or os.path.expanduser("~")
        if not home or home == "~":
            return None
        base = os.path.join(home, ".cache")
    return os.path.join(base, "attncalc", "numba")


def _temp_cache() -> str:
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    return os.path.join(tempfile.gettempdir(), f"attncalc-numba-{uid}")


def choose_cache_dir(package_dir: str, environ: Mapping[str, str] | None = None
                     ) -> tuple[str | None, bool, str | None]:
    """Where numba's cache of the kernel goes: ``(cache_dir, enabled, note)``.

    ``cache_dir`` is the NUMBA_CACHE_DIR to set (None: leave numba's default, which writes
    ``__pycache__`` beside ``package_dir``); ``enabled`` False means no writable place exists
    and the kernel must be compiled without ``cache=True``; ``note`` says on stderr what was
    changed from the user's setting, or that nothing will be cached.
    """
    env = os.environ if environ is None else environ
    asked = env.get("NUMBA_CACHE_DIR") or ""
    if asked:
        if writable_dir(asked):
            return asked, True, None
    elif writable_dir(os.path.join(package_dir, "__pycache__")):
        return None, True, None
    reason = (f"NUMBA_CACHE_DIR={asked} is not writable" if asked
              else f"the package folder {package_dir} is read-only")
    user = _user_cache(env)
    if user is not None and writable_dir(user):
        return user, True, (f"{reason}; the compiled kernel is cached in {user}" if asked else None)
    temp = _temp_cache()
    if writable_dir(temp):
        return temp, True, f"{reason} and so is {user}; the compiled kernel is cached in {temp}"
    return None, False, (f"{reason}, and neither {user} nor {temp} can be written: the kernel "
                         "is compiled in every run (about 10 s)")
