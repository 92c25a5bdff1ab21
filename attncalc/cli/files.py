"""Writing a file the user named, safely: only a regular file, at that path, atomically.

``write_text_file`` writes to a temporary file in the same folder and renames it over the target
(``os.replace``, atomic on POSIX), so a reader never sees half a file and the target is never
*opened*: a FIFO there cannot block us, a device cannot be written to, a symbolic link is not
written through. What is already at the path decides:

- nothing: the file is created;
- a regular file: replaced with ``force``, else refused;
- a symbolic link: refused, unless ``follow_links``: then its target must be an existing regular
  file (a dangling link is always refused) and the target is replaced (with ``force``);
- anything else (a folder, a FIFO, a socket, a device): always refused.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from ..errors import ConfigError


def write_text_file(path: Path, text: str, *, force: bool = False, follow_links: bool = False) -> Path:
    """Write ``text`` to ``path`` as described above; returns the path written (a link's target)."""
    label = str(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    except OSError as err:
        raise ConfigError(err.strerror or str(err), source=label) from None
    if st is not None and stat.S_ISLNK(st.st_mode):
        if not follow_links:
            raise ConfigError("is a symbolic link; refusing to write through it "
                              "(use --follow-links to replace the file it points to)", source=label)
        target = Path(os.path.realpath(path))
        try:
            st = os.stat(target)
        except OSError:
            raise ConfigError("is a symbolic link to nothing; refusing to create its target", source=label) from None
        path, label = target, f"{label} -> {target}"
    if st is not None:
        if not stat.S_ISREG(st.st_mode):
            kind = "a folder" if stat.S_ISDIR(st.st_mode) else "not a regular file (a FIFO, socket or device)"
            raise ConfigError(f"is {kind}; refusing to write there", source=label)
        if not force:
            raise ConfigError("already exists; use --force to overwrite", source=label)
    folder = path.parent
    if not folder.is_dir():
        raise ConfigError(f"no such folder {str(folder)!r}", source=label)
    if st is not None:
        mode = stat.S_IMODE(st.st_mode)
    else:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
        tmp = None
    except OSError as err:
        raise ConfigError(err.strerror or str(err), source=label) from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    return path
