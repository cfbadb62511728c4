"""Named arrays as a folder of .npy files (workloads/data/npy_folder.py)."""

import numpy as np
import pytest

from workloads.data import npy_folder


def test_arrays_come_back_as_they_went(tmp_path):
    arrays = {"train.inputs": np.arange(24, dtype=np.float32).reshape(2, 3, 4),
              "targets": np.array([3, 1], dtype=np.int32), "empty": np.zeros((0, 5), dtype=np.int64)}
    written = npy_folder.save(tmp_path / "split", arrays)
    assert sorted(p.name for p in written) == ["empty.npy", "targets.npy", "train.inputs.npy"]
    back = npy_folder.load(tmp_path / "split")
    assert list(back) == ["empty", "targets", "train.inputs"]  # name order
    for name, array in arrays.items():
        assert back[name].dtype == array.dtype and back[name].shape == array.shape
        np.testing.assert_array_equal(back[name], array)


@pytest.mark.parametrize("name", ["", "../x", "a/b", ".hidden", 3])
def test_a_name_that_is_not_a_plain_file_name_is_refused(tmp_path, name):
    with pytest.raises(ValueError, match="must match"):
        npy_folder.save(tmp_path, {name: np.zeros(1)})


def test_object_arrays_are_refused(tmp_path):
    with pytest.raises(ValueError):  # np.save without pickles
        npy_folder.save(tmp_path, {"x": np.array([object()])})


def test_the_benchmark_times_every_way(tmp_path, monkeypatch):
    import importlib
    import sys
    from pathlib import Path

    # importable by name, so that its receiving process (spawned, not forked) finds it too
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2] / "benchmarks"))
    array_files = importlib.import_module("array_files")
    try:
        times = array_files.measure({"x": np.ones((10, 3), dtype=np.float32)}, tmp_path, repeats=2)
    finally:
        sys.modules.pop("array_files")
    assert set(times) == {"handoff_file", "handoff_socket", "handoff_memfd_mapped", "handoff_memfd", "cache_npz", "cache_npy",
                          "checked_apart", "checked_one_read"}
    assert all(len(v) == 2 and min(v) > 0 for v in times.values())


def _digests(folder):
    from workloads.data.cache import sha256_file

    return {p.name: sha256_file(p) for p in sorted(folder.glob("*.npy"))}


def test_a_checked_load_gives_what_load_gives(tmp_path):
    arrays = {"a": np.arange(24, dtype=np.float32).reshape(2, 3, 4), "b": np.array([3, 1], dtype=np.int32),
              "empty": np.zeros((0, 5), dtype=np.int64), "f": np.asfortranarray(np.arange(6.0).reshape(2, 3)),
              "scalar": np.array(7, dtype=np.uint8)}
    npy_folder.save(tmp_path, arrays)
    back = npy_folder.load_checked(tmp_path, _digests(tmp_path))
    assert list(back) == ["a", "b", "empty", "f", "scalar"]
    for name, array in arrays.items():
        assert back[name].dtype == array.dtype and back[name].shape == array.shape
        np.testing.assert_array_equal(back[name], array)
    back["a"][0, 0, 0] = 99  # writable, as np.load's arrays are
    np.testing.assert_array_equal(npy_folder.load(tmp_path)["a"], arrays["a"])  # the file is not


def test_a_checked_load_refuses_a_changed_or_cut_file(tmp_path):
    npy_folder.save(tmp_path, {"a": np.arange(100, dtype=np.float64)})
    digests = _digests(tmp_path)
    path = tmp_path / "a.npy"
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="checksum mismatch of a.npy"):
        npy_folder.load_checked(tmp_path, digests)
    path.write_bytes(bytes(data[:-8]))  # a cut file whose digest was recorded as it is
    with pytest.raises(ValueError, match="bytes of data for an array"):
        npy_folder.load_checked(tmp_path, _digests(tmp_path))


def test_the_recorded_array_files_table_is_the_one_in_the_doc():
    import json
    from pathlib import Path

    from tests.benchmark_scripts import load_benchmark

    repo = Path(__file__).resolve().parents[2]
    bench = load_benchmark("array_files")
    record = json.loads((repo / "docs/data/array_files_stop48.json").read_text())
    assert bench.table(record) in (repo / "docs/performance.md").read_text()
