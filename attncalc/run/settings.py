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

A cache folder is used only when THIS user owns it and no one else can write to it
(:func:`cache_dir_problem`): numba's cache index is a pickle, loaded on the next run, so a folder
another user could write (an existing ``$TMPDIR/attncalc-numba-<uid>`` made by someone else, a
world-writable ``NUMBA_CACHE_DIR``) would let them run code as this user. A folder attncalc makes
is made with mode 0700. Writability is tested by creating a file, not with ``os.access``: as root
``access`` says yes on a read-only mount.
"""

from __future__ import annotations

import os
import stat
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


def cache_dir_problem(path: str) -> str | None:
    """Why ``path`` may not hold this user's compiled code, or None when it may: it exists or is
    made (mode 0700), it is a folder and not a symbolic link, this user owns it, no other user can
    write to it (no group or world write bit), and a file can be created in it."""
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        st = os.lstat(path)
    except OSError as err:
        return f"is not writable ({err.strerror or err})"
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        return "is not a folder (a symbolic link or a file)"
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        return f"belongs to another user (uid {st.st_uid})"
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return "can be written by other users"
    try:
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError:
        return "is not writable"
    return None


def writable_dir(path: str) -> bool:
    """True when ``path`` may hold this user's cache: see :func:`cache_dir_problem`."""
    return cache_dir_problem(path) is None


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
        problem = cache_dir_problem(asked)
        if problem is None:
            return asked, True, None
        reason = f"NUMBA_CACHE_DIR={asked} {problem}"
    else:
        problem = cache_dir_problem(os.path.join(package_dir, "__pycache__"))
        if problem is None:
            return None, True, None
        reason = (f"the package folder {package_dir} is read-only" if problem.startswith("is not writable")
                  else f"the package's cache folder {os.path.join(package_dir, '__pycache__')} {problem}")
    user = _user_cache(env)
    user_problem = cache_dir_problem(user) if user is not None else "is unknown (no HOME)"
    if user_problem is None and user is not None:
        return user, True, (f"{reason}; the compiled kernel is cached in {user}" if asked else None)
    user = user or "the user cache folder"
    temp = _temp_cache()
    temp_problem = cache_dir_problem(temp)
    if temp_problem is None:
        return temp, True, f"{reason}, and {user} {user_problem}; the compiled kernel is cached in {temp}"
    return None, False, (f"{reason}, {user} {user_problem} and {temp} {temp_problem}: the kernel "
                         "is compiled in every run (about 10 s)")
