import hashlib
import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest

from workloads.data import cache
from workloads.data.cache import cache_dir, cached_arrays, params_key


class Builder:
    def __init__(self, value=1.0):
        self.calls, self.value = 0, value

    def __call__(self):
        self.calls += 1
        return {"x": np.full((3, 2), self.value, dtype=np.float32),
                "y": np.arange(3, dtype=np.int32)}


def _entry(directory: Path) -> tuple[Path, Path]:
    """The one entry's folder and its checksums file."""
    (entry,) = [p for p in directory.iterdir() if p.is_dir()]
    return entry, entry / cache.SUMS


def _entries(directory: Path) -> list[Path]:
    return [p for p in directory.iterdir() if p.is_dir()]


def test_cache_dir_env_and_default(monkeypatch, tmp_path, _private_cache):
    assert cache_dir() == _private_cache
    monkeypatch.delenv("ALGOBENCH_CACHE_DIR")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "algobench"


def test_params_key_is_stable_sha256_of_sorted_json():
    a = params_key({"b": [1, 2], "a": {"y": 1, "x": "s"}})
    assert a == params_key({"a": {"x": "s", "y": 1}, "b": [1, 2]})
    expected = hashlib.sha256(b'{"a":{"x":"s","y":1},"b":[1,2]}').hexdigest()
    assert a == expected
    assert params_key({"a": 1}) != params_key({"a": 2})
    with pytest.raises(ValueError):
        params_key({"a": float("nan")})


def test_miss_then_hit(_private_cache):
    build = Builder()
    first = cached_arrays("toy", {"n": 3}, build)
    assert build.calls == 1
    entry, sums = _entry(_private_cache)
    assert entry.name.startswith("toy-")
    assert sorted(p.name for p in entry.iterdir()) == [cache.SUMS, "x.npy", "y.npy"]
    listed = dict(reversed(line.split()) for line in sums.read_text().splitlines())
    assert listed == {f: hashlib.sha256((entry / f).read_bytes()).hexdigest() for f in ("x.npy", "y.npy")}
    assert json.loads(entry.with_name(entry.name + ".json").read_text())["params"] == {"n": 3}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        second = cached_arrays("toy", {"n": 3}, build)
    assert build.calls == 1
    assert second.keys() == first.keys()
    for k in first:
        assert second[k].dtype == first[k].dtype
        np.testing.assert_array_equal(second[k], first[k])


def test_params_and_name_select_entries(_private_cache):
    build = Builder()
    cached_arrays("toy", {"n": 3}, build)
    cached_arrays("toy", {"n": 4}, build)
    cached_arrays("other", {"n": 3}, build)
    assert build.calls == 3
    assert len(_entries(_private_cache)) == 3


@pytest.mark.parametrize("damage", ["flip_array", "garbage_sums", "no_sums", "empty_sums",
                                    "missing_array", "extra_array"])
def test_checksum_mismatch_rebuilds_with_warning(_private_cache, damage):
    cached_arrays("toy", {"n": 3}, Builder(1.0))
    entry, sums = _entry(_private_cache)
    array = entry / "x.npy"
    if damage == "flip_array":
        data = bytearray(array.read_bytes())
        data[-3] ^= 0xFF
        array.write_bytes(bytes(data))
    elif damage == "garbage_sums":
        sums.write_text("0" * 64 + "  x.npy\n" + "0" * 64 + "  y.npy\n")
    elif damage == "no_sums":
        sums.unlink()
    elif damage == "empty_sums":
        sums.write_text("")
    elif damage == "missing_array":
        array.unlink()
    else:
        (entry / "z.npy").write_bytes(array.read_bytes())
    build = Builder(2.0)
    with pytest.warns(RuntimeWarning, match="rebuilding"):
        out = cached_arrays("toy", {"n": 3}, build)
    assert build.calls == 1 and out["x"][0, 0] == 2.0
    # The rebuilt entry is valid again.
    again = Builder(3.0)
    assert cached_arrays("toy", {"n": 3}, again)["x"][0, 0] == 2.0 and again.calls == 0


def test_unreadable_array_with_matching_checksum_rebuilds(_private_cache):
    cached_arrays("toy", {"n": 3}, Builder())
    entry, sums = _entry(_private_cache)
    (entry / "x.npy").write_bytes(b"not an npy file")
    y = hashlib.sha256((entry / "y.npy").read_bytes()).hexdigest()
    sums.write_text(hashlib.sha256(b"not an npy file").hexdigest() + f"  x.npy\n{y}  y.npy\n")
    build = Builder()
    with pytest.warns(RuntimeWarning, match="invalid"):
        cached_arrays("toy", {"n": 3}, build)
    assert build.calls == 1


def test_failed_build_leaves_nothing(_private_cache):
    def boom():
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        cached_arrays("toy", {"n": 3}, boom)
    assert _entries(_private_cache) == []
    assert list(_private_cache.glob(".*")) == []


def test_interrupted_write_is_atomic(_private_cache, monkeypatch):
    cached_arrays("toy", {"n": 3}, Builder(1.0))
    entry, sums = _entry(_private_cache)

    def crash_midway(path, array, **options):
        Path(path).write_bytes(b"\x93NUMPY partial")
        raise KeyboardInterrupt

    # Force a rebuild, and crash while the new arrays are being written.
    sums.write_text("0" * 64)
    before = {p.name: p.read_bytes() for p in entry.iterdir()}
    monkeypatch.setattr(cache.npy_folder.np, "save", crash_midway)
    with pytest.warns(RuntimeWarning), pytest.raises(KeyboardInterrupt):
        cached_arrays("toy", {"n": 3}, Builder(2.0))
    assert {p.name: p.read_bytes() for p in entry.iterdir()} == before  # old files untouched
    assert list(_private_cache.glob(".*.tmp")) == []  # temp folder cleaned up


def test_crash_before_replace_leaves_no_entry(_private_cache, monkeypatch):
    def failing_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        cached_arrays("toy", {"n": 3}, Builder())
    assert _entries(_private_cache) == []
    assert list(_private_cache.glob(".*.tmp")) == []


def test_files_are_not_private(_private_cache):
    cached_arrays("toy", {"n": 3}, Builder())
    entry, sums = _entry(_private_cache)
    umask = os.umask(0)
    os.umask(umask)
    assert entry.stat().st_mode & 0o777 == 0o777 & ~umask
    for path in (entry / "x.npy", sums):
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.parametrize("bad", [{"x": [1, 2]}, {"x": np.array([object()])}, {1: np.zeros(1)}])
def test_build_must_return_arrays(bad):
    with pytest.raises(TypeError):
        cached_arrays("toy", {}, lambda: bad)


@pytest.mark.parametrize("name", ["", "../x", "a/b", ".hidden"])
def test_rejects_bad_names(name):
    with pytest.raises(ValueError):
        cached_arrays(name, {}, Builder())
