import gzip

import numpy as np
import pytest

from workloads.data.idx import read_idx, write_idx

DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_round_trip(tmp_path, dtype, suffix):
    rng = np.random.default_rng(0)
    array = (rng.normal(size=(3, 4, 5)) * 50).astype(dtype)
    path = tmp_path / f"a-idx3{suffix}"
    write_idx(path, array)
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.dtype.isnative
    np.testing.assert_array_equal(back, array)


def test_mnist_layout_and_gzip_detection(tmp_path):
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    write_idx(tmp_path / "l.gz", labels)
    raw = gzip.decompress((tmp_path / "l.gz").read_bytes())
    assert raw == bytes([0, 0, 0x08, 1, 0, 0, 0, 5]) + labels.tobytes()
    # Gzip is detected by content, not by name.
    (tmp_path / "renamed").write_bytes((tmp_path / "l.gz").read_bytes())
    np.testing.assert_array_equal(read_idx(tmp_path / "renamed"), labels)
    assert read_idx(tmp_path / "l.gz").shape == (5,)


def _header(code, dims):
    return bytes([0, 0, code, len(dims)]) + np.asarray(dims, dtype=">u4").tobytes()


@pytest.mark.parametrize(
    "payload, message",
    [
        (b"\x00\x00", "header needs 4"),
        (b"\x01\x00\x08\x01" + b"\x00\x00\x00\x01" + b"\x07", "magic number"),
        (_header(0x07, [1]) + b"\x07", "dtype code 0x07"),
        (bytes([0, 0, 8, 0]), "0 dimensions"),
        (bytes([0, 0, 8, 3]) + b"\x00\x00\x00\x01", "truncated IDX header"),
        (_header(0x08, [2, 3]) + bytes(5), "needs 6 bytes, file has 5"),
        (_header(0x08, [2, 3]) + bytes(7), "needs 6 bytes, file has 7"),
        (_header(0x0C, [2]) + bytes(4), "needs 8 bytes"),
        (b"\x1f\x8b\x08garbage", "corrupt gzip"),
    ],
)
def test_rejects_corrupt_files(tmp_path, payload, message):
    path = tmp_path / "bad-file-idx"
    path.write_bytes(payload)
    with pytest.raises(ValueError, match=message) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_rejects_truncated_gzip(tmp_path):
    path = tmp_path / "t.gz"
    write_idx(path, np.arange(1000, dtype=np.int32))
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(ValueError, match="t.gz"):
        read_idx(path)


@pytest.mark.parametrize("array", [np.zeros(3, dtype=np.int64), np.zeros(3, dtype=bool),
                                   np.zeros(3, dtype=np.uint16), np.float32(1.0)])
def test_write_rejects_unsupported(tmp_path, array):
    with pytest.raises(ValueError):
        write_idx(tmp_path / "x", array)
    assert list(tmp_path.iterdir()) == []
