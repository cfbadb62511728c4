"""scikit-learn's bundled 8x8 digits (1,797 images, offline), split train / validation / test."""

from __future__ import annotations

import numpy as np

from .cache import cached_arrays
from .splits import split_indices

__all__ = ["NUM_CLASSES", "SPLIT_SEED", "load_digits"]

NUM_CLASSES = 10
SPLIT_SEED = 0


def load_digits(
    num_validation: int = 300, num_test: int = 300
) -> dict[str, dict[str, np.ndarray]]:
    """Digits as ``{'train'|'validation'|'test': {'inputs', 'targets'}}`` (1,197/300/300).

    ``inputs`` are float32 (N, 64), each feature standardized with the ``train`` split's
    mean and std (features constant on train are only centered); ``targets`` int32 (N,).
    Splits come from ``split_indices(1797, {'validation', 'test'}, seed=SPLIT_SEED)``.
    """
    params = {"num_validation": num_validation, "num_test": num_test, "format": 1}
    # Cached so that a trial process does not import sklearn (about 1 s) once the cache exists.
    flat = cached_arrays("digits", params, lambda: _build(num_validation, num_test))
    return {
        split: {"inputs": flat[f"{split}.inputs"], "targets": flat[f"{split}.targets"]}
        for split in ("train", "validation", "test")
    }


def _build(num_validation: int, num_test: int) -> dict[str, np.ndarray]:
    from sklearn.datasets import load_digits as _sk_load_digits  # lazy: sklearn is slow to import

    x, y = _sk_load_digits(return_X_y=True)
    idx = split_indices(len(x), {"validation": num_validation, "test": num_test}, SPLIT_SEED)
    train = x[idx["train"]].astype(np.float64)
    mean, std = train.mean(axis=0), train.std(axis=0)
    std[std == 0] = 1.0
    out = {}
    for split in ("train", "validation", "test"):
        out[f"{split}.inputs"] = ((x[idx[split]] - mean) / std).astype(np.float32)
        out[f"{split}.targets"] = y[idx[split]].astype(np.int32)
    return out
