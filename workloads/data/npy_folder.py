"""Named NumPy arrays as a folder of `.npy` files, one file an array: NumPy's own format, written
with one `np.save` and read with one `np.load` each.

The data cache's format (cache.py). Why not one `.npz`: NumPy reads an `.npz`'s members through
`zipfile`, chunk by chunk in Python, where an `.npy` file is one read
(benchmarks/array_files.py measures both side by side). `load_checked` reads each file once and
checks its SHA-256 on the bytes read, files on threads of their own.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Mapping
from pathlib import Path

import numpy as np

SUFFIX = ".npy"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")  # an array's name is its file's name


def save(folder: Path | str, arrays: Mapping[str, np.ndarray]) -> list[Path]:
    """Write each array to `folder/<name>.npy` (the folder made if needed); the files written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, array in arrays.items():
        if not isinstance(name, str) or not NAME.match(name):
            raise ValueError(f"array name {name!r} must match {NAME.pattern} (it names a file)")
        path = folder / f"{name}{SUFFIX}"
        np.save(path, np.asarray(array), allow_pickle=False)
        written.append(path)
    return written


def load(folder: Path | str) -> dict[str, np.ndarray]:
    """Every `.npy` file of `folder`, by name, in name order."""
    return {path.name[: -len(SUFFIX)]: np.load(path, allow_pickle=False)
            for path in sorted(Path(folder).glob(f"*{SUFFIX}"))}


def load_checked(folder: Path | str, digests: Mapping[str, str]) -> dict[str, np.ndarray]:
    """The arrays of the files `digests` names (file name -> SHA-256 hex digest), by name in name
    order, each file read once and its digest checked on the bytes read; ValueError naming the file
    when a digest differs or a file is not a whole `.npy`.

    Written by hand because NumPy has no load that also hashes: `sha256_file` followed by `np.load`
    reads every file twice, and a trial's setup paid for both (issue 28). The files are read and
    hashed on as many threads as this process has cores (file reads and hashlib release the GIL)."""
    folder = Path(folder)
    names = sorted(digests)
    workers = max(1, min(len(names), len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        arrays = list(pool.map(lambda name: _read_checked(folder / name, digests[name]), names))
    return {name[: -len(SUFFIX)]: array for name, array in zip(names, arrays)}


def _read_checked(path: Path, digest: str) -> np.ndarray:
    """One `.npy` file as an array over the one buffer it was read into, its SHA-256 checked."""
    size = path.stat().st_size
    buffer = np.empty(size, dtype=np.uint8)
    view, got = memoryview(buffer), 0
    with open(path, "rb", buffering=0) as f:
        while got < size and (n := f.readinto(view[got:])):
            got += n
    if got != size:
        raise ValueError(f"{path}: read {got} of its {size} bytes")
    actual = hashlib.sha256(buffer).hexdigest()
    if actual != digest:
        raise ValueError(f"checksum mismatch of {path.name} (expected {digest}, got {actual})")
    header = io.BytesIO(buffer[: min(size, 1 << 16)].tobytes())  # the header is within its first 64 KiB
    version = np.lib.format.read_magic(header)
    if version not in ((1, 0), (2, 0)):  # 3.0: unicode field names, which numeric arrays never have
        raise ValueError(f"{path}: .npy format version {version} is not one `save` writes")
    read_header = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    shape, fortran_order, dtype = read_header[version](header)
    if dtype.hasobject:
        raise ValueError(f"{path}: holds Python objects, which the cache never writes")
    data = buffer[header.tell():]
    if data.size != dtype.itemsize * int(np.prod(shape, dtype=np.int64)):
        raise ValueError(f"{path}: {data.size} bytes of data for an array of shape {shape} and {dtype}")
    return data.view(dtype).reshape(shape, order="F" if fortran_order else "C")
