import numpy as np
import pytest
from sklearn.datasets import load_digits as sk_load_digits

from workloads.data.digits import load_digits
from workloads.data.splits import split_indices


def test_digits_splits():
    data = load_digits()
    x, y = sk_load_digits(return_X_y=True)
    idx = split_indices(len(x), {"validation": 300, "test": 300}, seed=0)
    sizes = {"train": 1197, "validation": 300, "test": 300}
    assert {k: len(v) for k, v in idx.items()} == sizes
    all_idx = np.concatenate(list(idx.values()))
    assert len(np.unique(all_idx)) == len(x) == 1797  # disjoint and complete

    train = x[idx["train"]]
    mean, std = train.mean(0), train.std(0)
    std[std == 0] = 1
    for split, n in sizes.items():
        assert set(data[split]) == {"inputs", "targets"}
        assert data[split]["inputs"].shape == (n, 64) and data[split]["inputs"].dtype == np.float32
        assert data[split]["targets"].shape == (n,) and data[split]["targets"].dtype == np.int32
        np.testing.assert_allclose(data[split]["inputs"], (x[idx[split]] - mean) / std,
                                   rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(data[split]["targets"], y[idx[split]])
    np.testing.assert_allclose(data["train"]["inputs"].mean(0), 0, atol=1e-5)
    again = load_digits()
    for split in data:
        np.testing.assert_array_equal(again[split]["inputs"], data[split]["inputs"])


def test_digits_custom_sizes():
    data = load_digits(num_validation=100, num_test=200)
    assert [len(data[s]["targets"]) for s in ("train", "validation", "test")] == [1497, 100, 200]


def test_split_indices_validation():
    out = split_indices(10, {"a": 2, "b": 3}, seed=5)
    assert list(out) == ["a", "b", "train"]
    assert [len(v) for v in out.values()] == [2, 3, 5]
    assert all(np.all(np.diff(v) > 0) for v in out.values())
    for bad in ({"train": 1}, {"a": -1}, {"a": 10}, {"a": 1.5}):
        with pytest.raises(ValueError):
            split_indices(10, bad)
