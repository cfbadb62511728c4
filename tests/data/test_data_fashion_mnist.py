import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from workloads.data.fashion_mnist import (
    DEFAULT_DIR,
    FashionMNISTNotFoundError,
    load_fashion_mnist,
)
from workloads.data.idx import write_idx
from workloads.data.splits import split_indices

NUM_TRAIN, NUM_TEST, NUM_VAL = 40, 10, 8


def _write_fixture(directory: Path, seed: int = 0, gz: bool = True) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    raw = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (NUM_TRAIN, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, NUM_TRAIN, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (NUM_TEST, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, NUM_TEST, dtype=np.uint8),
    }
    # Make held-out images much brighter than train ones, so stats that leaked
    # from validation/test into standardization would be visible.
    raw["t10k-images-idx3-ubyte"] |= 0xC0
    directory.mkdir(parents=True, exist_ok=True)
    for name, array in raw.items():
        write_idx(directory / (name + (".gz" if gz else "")), array)
    return raw


@pytest.fixture
def fixture_dir(tmp_path):
    directory = tmp_path / "fmnist"
    return directory, _write_fixture(directory)


def test_splits_shapes_dtypes_and_values(fixture_dir):
    directory, raw = fixture_dir
    data = load_fashion_mnist(directory, num_validation=NUM_VAL)
    assert set(data) == {"train", "validation", "test"}
    sizes = {"train": NUM_TRAIN - NUM_VAL, "validation": NUM_VAL, "test": NUM_TEST}
    for split, n in sizes.items():
        assert set(data[split]) == {"inputs", "targets"}
        assert data[split]["inputs"].shape == (n, 28, 28, 1)
        assert data[split]["inputs"].dtype == np.float32
        assert data[split]["targets"].shape == (n,)
        assert data[split]["targets"].dtype == np.int32

    # Fixed validation permutation (seed 0); t10k is the test split.
    idx = split_indices(NUM_TRAIN, {"validation": NUM_VAL}, seed=0)
    assert not set(idx["train"]) & set(idx["validation"])
    images = {
        "train": raw["train-images-idx3-ubyte"][idx["train"]],
        "validation": raw["train-images-idx3-ubyte"][idx["validation"]],
        "test": raw["t10k-images-idx3-ubyte"],
    }
    labels = {
        "train": raw["train-labels-idx1-ubyte"][idx["train"]],
        "validation": raw["train-labels-idx1-ubyte"][idx["validation"]],
        "test": raw["t10k-labels-idx1-ubyte"],
    }
    # Standardization uses the train part's pixel mean/std only.
    train01 = images["train"] / 255.0
    mean, std = train01.mean(), train01.std()
    for split in sizes:
        expected = ((images[split] / 255.0 - mean) / std)[..., None]
        np.testing.assert_allclose(data[split]["inputs"], expected, rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(data[split]["targets"], labels[split])
    assert abs(data["train"]["inputs"].mean()) < 1e-5
    assert abs(data["train"]["inputs"].std() - 1) < 1e-5
    assert data["test"]["inputs"].mean() > 0.5  # the bright test set is not re-centred


def test_validation_disjoint_from_train(fixture_dir):
    directory, _ = fixture_dir
    data = load_fashion_mnist(directory, num_validation=NUM_VAL)
    train = {x.tobytes() for x in data["train"]["inputs"]}
    val = {x.tobytes() for x in data["validation"]["inputs"]}
    assert len(train) == NUM_TRAIN - NUM_VAL and len(val) == NUM_VAL
    assert not train & val


def test_deterministic_and_cached(fixture_dir, _private_cache):
    directory, _ = fixture_dir
    first = load_fashion_mnist(directory, num_validation=NUM_VAL)
    assert len([p for p in _private_cache.glob("fashion_mnist-*") if p.is_dir()]) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        second = load_fashion_mnist(directory, num_validation=NUM_VAL)  # cache hit
    for entry in _private_cache.glob("fashion_mnist-*"):
        if entry.is_dir():
            shutil.rmtree(entry)
    third = load_fashion_mnist(directory, num_validation=NUM_VAL)  # fresh build
    for other in (second, third):
        for split in first:
            for key in first[split]:
                np.testing.assert_array_equal(first[split][key], other[split][key])


def test_cache_key_depends_on_sources_and_num_validation(fixture_dir, tmp_path, _private_cache):
    directory, _ = fixture_dir
    a = load_fashion_mnist(directory, num_validation=NUM_VAL)
    b = load_fashion_mnist(directory, num_validation=NUM_VAL + 2)
    assert len(b["validation"]["targets"]) == NUM_VAL + 2
    other = tmp_path / "other"
    _write_fixture(other, seed=1)
    c = load_fashion_mnist(other, num_validation=NUM_VAL)
    assert len([p for p in _private_cache.glob("fashion_mnist-*") if p.is_dir()]) == 3
    assert not np.array_equal(a["test"]["inputs"], c["test"]["inputs"])


def test_plain_files_and_env_var(tmp_path, monkeypatch):
    directory = tmp_path / "plain"
    _write_fixture(directory, gz=False)
    monkeypatch.setenv("ALGOBENCH_FASHION_MNIST_DIR", str(directory))
    data = load_fashion_mnist(num_validation=NUM_VAL)
    assert data["test"]["inputs"].shape == (NUM_TEST, 28, 28, 1)


def test_missing_directory_error(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(FashionMNISTNotFoundError) as info:
        load_fashion_mnist(missing)
    message = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    assert str(missing) in message and "data_dir argument" in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert "ALGOBENCH_FASHION_MNIST_DIR" in message
    assert "train-images-idx3-ubyte" in message


def test_missing_file_is_named(fixture_dir, monkeypatch):
    directory, _ = fixture_dir
    (directory / "t10k-labels-idx1-ubyte.gz").unlink()
    monkeypatch.setenv("ALGOBENCH_FASHION_MNIST_DIR", str(directory))
    with pytest.raises(FashionMNISTNotFoundError, match=r"missing: t10k-labels-idx1-ubyte") as info:
        load_fashion_mnist()
    assert "ALGOBENCH_FASHION_MNIST_DIR" in str(info.value)


def test_mismatched_files_rejected(fixture_dir):
    directory, _ = fixture_dir
    write_idx(directory / "train-labels-idx1-ubyte.gz", np.zeros(NUM_TRAIN - 1, dtype=np.uint8))
    with pytest.raises(ValueError, match="train-labels-idx1-ubyte"):
        load_fashion_mnist(directory, num_validation=NUM_VAL)


@pytest.mark.parametrize("n", [0, -1, 2.5, NUM_TRAIN])
def test_bad_num_validation(fixture_dir, n):
    directory, _ = fixture_dir
    with pytest.raises(ValueError):
        load_fashion_mnist(directory, num_validation=n)


@pytest.mark.skipif(not (DEFAULT_DIR / "train-images-idx3-ubyte.gz").exists(),
                    reason="dataset-fashion-mnist not installed")
def test_installed_dataset_full_load():
    data = load_fashion_mnist()
    sizes = {split: len(data[split]["targets"]) for split in data}
    assert sizes == {"train": 55000, "validation": 5000, "test": 10000}
    assert data["train"]["inputs"].shape[1:] == (28, 28, 1)
    assert abs(float(data["train"]["inputs"].mean())) < 1e-4
