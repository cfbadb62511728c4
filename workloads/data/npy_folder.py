"""Named NumPy arrays as a folder of `.npy` files, one file an array: NumPy's own format, written
with one `np.save` and read with one `np.load` each.

The data cache's format (cache.py). Why not one `.npz`: NumPy reads an `.npz`'s members through
`zipfile`, chunk by chunk in Python, where an `.npy` file is one read
(benchmarks/array_files.py measures both side by side).
"""

from __future__ import annotations

import re
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
