"""Fixed, seed-determined partitions of a dataset's example indices."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = ["split_indices"]


def split_indices(
    num_examples: int, holdout_sizes: Mapping[str, int], seed: int = 0
) -> dict[str, np.ndarray]:
    """Partition ``range(num_examples)`` by one permutation from ``default_rng(seed)``.

    The permutation's first ``holdout_sizes[k]`` entries go to each held-out split ``k``,
    in the mapping's order; the rest is ``'train'``. Every index array is sorted int64.
    """
    if "train" in holdout_sizes:
        raise ValueError("'train' is the remainder and cannot be a held-out split")
    sizes = dict(holdout_sizes)
    if any(int(n) != n or n < 0 for n in sizes.values()):
        raise ValueError(f"held-out sizes must be non-negative integers, got {sizes}")
    if sum(sizes.values()) >= num_examples:
        raise ValueError(
            f"held-out sizes {sizes} leave no training examples out of {num_examples}"
        )
    perm = np.random.default_rng(seed).permutation(num_examples)
    out, start = {}, 0
    for name, n in sizes.items():
        out[name] = np.sort(perm[start : start + n])
        start += n
    out["train"] = np.sort(perm[start:])
    return out
