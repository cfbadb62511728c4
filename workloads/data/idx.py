"""Read and write IDX files, the MNIST file format (plain or gzip-compressed).

An IDX file is a 4-byte magic number ``00 00 <dtype code> <ndim>``, then ``ndim``
big-endian uint32 dimension sizes, then the array data in big-endian C order.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

from .atomic import atomic_write

__all__ = ["read_idx", "write_idx"]

# IDX dtype code -> big-endian NumPy dtype.
_CODE_TO_DTYPE = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    raw = path.read_bytes()
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        raise ValueError(f"{path}: corrupt gzip data ({e})") from e


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Return the array stored in the IDX file ``path`` (gzip detected by content).

    The result has native byte order. Raises ``ValueError`` naming the file if the
    magic number, dtype code, dimensions or data size are invalid.
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise ValueError(f"{path}: not an IDX file (only {len(data)} bytes, header needs 4)")
    if data[0] != 0 or data[1] != 0:
        raise ValueError(
            f"{path}: not an IDX file (magic number {data[:4].hex()} does not start with 0000)"
        )
    code, ndim = data[2], data[3]
    if code not in _CODE_TO_DTYPE:
        raise ValueError(f"{path}: unknown IDX dtype code 0x{code:02x}")
    if ndim == 0:
        raise ValueError(f"{path}: IDX header declares 0 dimensions")
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise ValueError(
            f"{path}: truncated IDX header ({len(data)} bytes, {ndim} dims need {header_len})"
        )
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = _CODE_TO_DTYPE[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    actual = len(data) - header_len
    if actual != expected:
        raise ValueError(
            f"{path}: IDX data size mismatch: shape {shape} of {dtype.name} needs "
            f"{expected} bytes, file has {actual}"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header_len).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=True)


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write ``array`` to ``path`` in IDX format, gzip-compressed if ``path`` ends in ``.gz``.

    Supported dtypes: uint8, int8, int16, int32, float32, float64; at least one
    dimension. The write is atomic (temporary file + ``os.replace``).
    """
    path = Path(path)
    array = np.asarray(array)
    code = next(
        (c for c, dt in _CODE_TO_DTYPE.items() if dt.kind == array.dtype.kind
         and dt.itemsize == array.dtype.itemsize),
        None,
    )
    if code is None:
        raise ValueError(f"{path}: dtype {array.dtype} cannot be stored in IDX")
    if array.ndim == 0 or array.ndim > 255:
        raise ValueError(f"{path}: IDX needs 1 to 255 dimensions, got {array.ndim}")
    if any(d >= 2**32 for d in array.shape):
        raise ValueError(f"{path}: dimension too large for IDX: {array.shape}")
    payload = (
        bytes([0, 0, code, array.ndim])
        + np.asarray(array.shape, dtype=">u4").tobytes()
        + np.ascontiguousarray(array, dtype=_CODE_TO_DTYPE[code]).tobytes()
    )
    if path.name.endswith(".gz"):
        payload = gzip.compress(payload, mtime=0)
    atomic_write(path, lambda f: f.write(payload))
