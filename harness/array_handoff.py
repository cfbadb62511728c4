"""Arrays handed to the submission process in one sealed memory file, not pickled over its socket.

The harness copies the training split once into an anonymous memory file (`memfd_create`), seals
it against any further write, and passes its descriptor over the process's socket (SCM_RIGHTS,
`multiprocessing.reduction`); the submission process maps it copy-on-write, so its arrays are
views of the file that it may write to, privately. Pickling the split over the socket copied it
three times, through the kernel twice, and was most of a trial's setup (1-4 s for `cnn`'s 173 MB
and `dlrm`'s 480 MB, docs/performance.md#where-real-trials-wall-time-went). Written here because
`multiprocessing.shared_memory` names its blocks in /dev/shm, which the sandbox hides, and leaves
them to a resource tracker to unlink; a memory file has no name and is freed with its last mapping.
"""

from __future__ import annotations

import fcntl
import mmap
import os

import numpy as np

ALIGN = 64  # each array starts on a cache line
SEALS = fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL

Layout = list[tuple[str, str, tuple[int, ...], int]]  # (name, dtype, shape, byte offset)


def to_memory_file(arrays: dict[str, np.ndarray]) -> tuple[int, Layout]:
    """A sealed memory file holding `arrays` (numeric, any layout), and where each lies in it.
    The caller closes the descriptor once it has been sent."""
    arrays = {name: np.asarray(a) for name, a in arrays.items()}
    layout = layout_of(arrays)
    fd = os.memfd_create("algobench-arrays", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        os.ftruncate(fd, size(layout))
        for (name, _, _, start) in layout:  # written by the kernel: twice as fast as a copy
            _write_all(fd, np.ascontiguousarray(arrays[name]), start)  # into a mapping (stop 48)
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, SEALS)
    except BaseException:
        os.close(fd)
        raise
    return fd, layout


def layout_of(arrays: dict[str, np.ndarray]) -> Layout:
    """Where each array lies in the memory file: one after the other, each on a cache line."""
    layout, end = [], 0
    for name, a in arrays.items():
        if a.dtype.hasobject:
            raise ValueError(f"array {name!r} holds Python objects: only numeric arrays are handed over")
        start = -(-end // ALIGN) * ALIGN
        layout.append((name, a.dtype.str, tuple(a.shape), start))
        end = start + a.nbytes
    return layout


def _write_all(fd: int, array: np.ndarray, offset: int) -> None:
    """`array`'s bytes into `fd` at `offset` (pwrite may write fewer bytes than asked)."""
    data, written = memoryview(array.reshape(-1)).cast("B"), 0
    while written < len(data):
        written += os.pwrite(fd, data[written:], offset + written)


def from_memory_file(fd: int, layout: Layout) -> dict[str, np.ndarray]:
    """The arrays of a memory file made by `to_memory_file`, mapped copy-on-write (writable;
    writes stay in this process). Takes over `fd`: it is closed here."""
    try:
        memory = mmap.mmap(fd, size(layout), flags=mmap.MAP_PRIVATE)
    finally:
        os.close(fd)
    # each array holds the mapping through its buffer: it lives as long as they do
    return {name: np.ndarray(shape, np.dtype(dtype), buffer=memory, offset=start)
            for name, dtype, shape, start in layout}


def size(layout: Layout) -> int:
    """Bytes of the memory file (at least 1: a mapping cannot be empty)."""
    ends = [start + int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
            for _, dtype, shape, start in layout]
    return max([1, *ends])
