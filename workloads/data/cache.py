"""On-disk cache of built NumPy arrays, verified by SHA-256 checksums.

An entry is a folder ``<cache dir>/<name>-<key>/`` of ``.npy`` files, one an array
(``npy_folder``: a trial reads them in a tenth of the time an ``.npz`` takes), and a
``SHA256SUMS`` file (``sha256sum`` format) with every file's checksum, beside a ``.json`` with
the params, for humans. ``key`` is the SHA-256 of the params as canonical JSON (sorted keys), so
it is stable across processes and Python versions. An entry is built in a temporary folder and
renamed into place whole. Entries of the format before stop 41 (one ``<name>-<key>.npz`` and its
``.npz.sha256``) are no longer read; deleting them frees their space.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from . import npy_folder
from .atomic import UMASK, atomic_write

try:  # POSIX only; elsewhere concurrent builders just race (still correct, atomic writes).
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

__all__ = ["CACHE_DIR_ENV", "cache_dir", "cached_arrays", "params_key", "sha256_file"]

CACHE_DIR_ENV = "ALGOBENCH_CACHE_DIR"
SUMS = "SHA256SUMS"  # in an entry's folder: every array file's checksum


def cache_dir() -> Path:
    """The cache directory: ``$ALGOBENCH_CACHE_DIR``, else ``~/.cache/algobench``."""
    env = os.environ.get(CACHE_DIR_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "algobench"


def params_key(params: Mapping[str, Any]) -> str:
    """SHA-256 hex digest of ``params`` as canonical JSON (sorted keys, no NaN)."""
    text = json.dumps(params, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sha256_file(path: str | os.PathLike, chunk_size: int = 1 << 22) -> str:
    """SHA-256 hex digest of the file's contents."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_size):
            h.update(chunk)
    return h.hexdigest()


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    """Exclusive inter-process lock on ``path`` (so parallel trials build an entry once)."""
    if fcntl is None:  # pragma: no cover
        yield
        return
    with open(path, "a") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _load(entry: Path) -> dict[str, np.ndarray] | None:
    """The entry's arrays, or None (with a warning) if it is missing, corrupt or unreadable."""
    if not entry.exists():
        return None
    try:
        expected = {}
        for line in (entry / SUMS).read_text().splitlines():
            digest, name = line.split(maxsplit=1)
            expected[name] = digest
        present = {p.name for p in entry.glob(f"*{npy_folder.SUFFIX}")}
        if not expected or set(expected) != present:
            raise ValueError(f"{SUMS} lists {sorted(expected)}, the folder holds {sorted(present)}")
        return npy_folder.load_checked(entry, expected)  # one read a file, its checksum on it
    except Exception as e:  # noqa: BLE001 - any failure means: rebuild
        warnings.warn(f"algobench cache entry {entry} is invalid ({e}); rebuilding", RuntimeWarning,
                      stacklevel=3)
        return None


def _write_entry(entry: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """The arrays and their checksums in a temporary folder beside `entry`, renamed into place
    (an invalid entry there is removed first); on any error nothing of it is left."""
    tmp = Path(tempfile.mkdtemp(dir=entry.parent, prefix=f".{entry.name}.", suffix=".tmp"))
    try:
        files = npy_folder.save(tmp, arrays)
        sums = "".join(f"{sha256_file(f)}  {f.name}\n" for f in files)
        atomic_write(tmp / SUMS, lambda f: f.write(sums.encode()))
        os.chmod(tmp, 0o777 & ~UMASK)  # mkdtemp made it private
        if entry.exists():
            shutil.rmtree(entry)
        os.replace(tmp, entry)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def cached_arrays(
    name: str,
    params: Mapping[str, Any],
    build: Callable[[], Mapping[str, np.ndarray]],
) -> dict[str, np.ndarray]:
    """Return ``build()``'s arrays, from the cache entry for ``(name, params)`` if valid.

    ``params`` must be JSON-serializable and determine the result completely. A
    missing entry is built and stored; an entry whose checksum mismatches or that
    cannot be read is rebuilt with a ``RuntimeWarning``. Writes are atomic, and an
    inter-process lock makes concurrent callers build an entry only once.
    """
    if not npy_folder.NAME.match(name):  # an entry's name is its folder's, as an array's its file's
        raise ValueError(f"cache name must match {npy_folder.NAME.pattern}, got {name!r}")
    key = params_key(params)
    directory = cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"{name}-{key[:32]}"
    entry = directory / stem

    with _lock(directory / f"{stem}.lock"):
        arrays = _load(entry)
        if arrays is not None:
            return arrays
        built = build()
        arrays = {}
        for k, v in built.items():
            if not isinstance(k, str) or not isinstance(v, np.ndarray) or v.dtype == object:
                raise TypeError(f"build() for cache {name!r} must return str -> numeric "
                                f"np.ndarray, got {k!r}: {type(v).__name__}")
            arrays[k] = v
        _write_entry(entry, arrays)
        meta = {"name": name, "params": params, "key": key}
        atomic_write(directory / f"{stem}.json",
                      lambda f: f.write(json.dumps(meta, sort_keys=True, indent=1).encode()))
        return arrays
