"""Atomic file writes: temp file in the target directory, fsync, ``os.replace``."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

UMASK = os.umask(0)  # read the process umask once (os.umask is the only portable way)
os.umask(UMASK)


def atomic_write(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write ``path`` through ``write(fileobj)``; readers see the old file or the whole new one.

    On any error the temp file is removed and ``path`` is untouched. The file gets the
    usual ``0o666 & ~umask`` mode (mkstemp alone would make it 0o600).
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~UMASK)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
