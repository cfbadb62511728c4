"""On-disk cache of built NumPy arrays, verified by a SHA-256 checksum.

An entry is ``<cache dir>/<name>-<key>.npz`` plus a sidecar ``.npz.sha256`` holding the
checksum of the npz file (``sha256sum`` format) and a ``.json`` with the params, for
humans. ``key`` is the SHA-256 of the params as canonical JSON (sorted keys), so it is
stable across processes and Python versions.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import atomic_write

try:  # POSIX only; elsewhere concurrent builders just race (still correct, atomic writes).
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

__all__ = ["CACHE_DIR_ENV", "cache_dir", "cached_arrays", "params_key", "sha256_file"]

CACHE_DIR_ENV = "ALGOBENCH_CACHE_DIR"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_RESERVED_KEYS = {"file", "allow_pickle"}  # keyword arguments of np.savez


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


def _load(npz: Path, sidecar: Path) -> dict[str, np.ndarray] | None:
    """The entry's arrays, or None (with a warning) if it is missing, corrupt or unreadable."""
    if not npz.exists():
        return None
    try:
        expected = sidecar.read_text().split()[0]
        actual = sha256_file(npz)
        if actual != expected:
            raise ValueError(f"checksum mismatch (expected {expected}, got {actual})")
        with np.load(npz, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except Exception as e:  # noqa: BLE001 - any failure means: rebuild
        warnings.warn(f"algobench cache entry {npz} is invalid ({e}); rebuilding", RuntimeWarning,
                      stacklevel=3)
        return None


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
    if not _NAME_RE.match(name):
        raise ValueError(f"cache name must match {_NAME_RE.pattern}, got {name!r}")
    key = params_key(params)
    directory = cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"{name}-{key[:32]}"
    npz = directory / f"{stem}.npz"
    sidecar = directory / f"{stem}.npz.sha256"

    with _lock(directory / f"{stem}.lock"):
        arrays = _load(npz, sidecar)
        if arrays is not None:
            return arrays
        built = build()
        arrays = {}
        for k, v in built.items():
            if not isinstance(k, str) or not isinstance(v, np.ndarray) or v.dtype == object:
                raise TypeError(f"build() for cache {name!r} must return str -> numeric "
                                f"np.ndarray, got {k!r}: {type(v).__name__}")
            if k in _RESERVED_KEYS:
                raise ValueError(f"array name {k!r} is reserved by np.savez")
            arrays[k] = v
        atomic_write(npz, lambda f: np.savez(f, **arrays))
        digest = sha256_file(npz)
        atomic_write(sidecar, lambda f: f.write(f"{digest}  {npz.name}\n".encode()))
        meta = {"name": name, "params": params, "key": key}
        atomic_write(directory / f"{stem}.json",
                      lambda f: f.write(json.dumps(meta, sort_keys=True, indent=1).encode()))
        return arrays
