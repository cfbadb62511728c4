"""Batching of split dicts (``{name: array}``, equal leading dimension): training stream,
padded eval batches, train-eval subset and data-parallel sharding. Pure NumPy."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np

__all__ = ["TrainStream", "eval_batches", "shard_batch", "split_size", "train_eval_subset"]

Batch = dict[str, np.ndarray]


def split_size(split: Mapping[str, np.ndarray]) -> int:
    """The common leading dimension of the split's arrays (ValueError if none or unequal)."""
    if not split:
        raise ValueError("split has no arrays")
    sizes = {k: np.shape(v)[0] if np.ndim(v) else None for k, v in split.items()}
    if None in sizes.values() or len(set(sizes.values())) != 1:
        raise ValueError(f"split arrays need one common leading dimension, got {sizes}")
    return next(iter(sizes.values()))


def _check_positive_int(name: str, value: int) -> int:
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


class TrainStream(Iterator[Batch]):
    """Infinite iterator of shuffled, fixed-size training batches.

    Epoch ``e`` visits the examples in the order ``np.random.default_rng([seed, e])
    .permutation(N)``, cut into ``N // batch_size`` batches (the ragged rest is dropped).
    ``position`` counts the batches yielded; ``TrainStream(..., start_batch=k)`` yields
    exactly what a fresh stream yields after its first ``k`` batches.
    """

    def __init__(self, split: Mapping[str, np.ndarray], batch_size: int, seed: int,
                 start_batch: int = 0):
        n = split_size(split)
        self.batch_size = _check_positive_int("batch_size", batch_size)
        if self.batch_size > n:
            raise ValueError(f"batch_size {batch_size} exceeds the split's {n} examples")
        if isinstance(seed, bool) or int(seed) != seed or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        if isinstance(start_batch, bool) or int(start_batch) != start_batch or start_batch < 0:
            raise ValueError(f"start_batch must be a non-negative integer, got {start_batch!r}")
        self.split = {k: np.asarray(v) for k, v in split.items()}
        self.num_examples = n
        self.seed = int(seed)
        self.batches_per_epoch = n // self.batch_size
        self.position = int(start_batch)
        self._perm_epoch, self._perm = -1, np.empty(0, dtype=np.int64)

    @property
    def epoch(self) -> int:
        """The epoch of the next batch."""
        return self.position // self.batches_per_epoch

    def permutation(self, epoch: int) -> np.ndarray:
        """The example order of ``epoch``."""
        return np.random.default_rng([self.seed, epoch]).permutation(self.num_examples)

    def __iter__(self) -> TrainStream:
        return self

    def __next__(self) -> Batch:
        epoch, i = divmod(self.position, self.batches_per_epoch)
        if epoch != self._perm_epoch:
            self._perm_epoch, self._perm = epoch, self.permutation(epoch)
        idx = self._perm[i * self.batch_size : (i + 1) * self.batch_size]
        self.position += 1
        return {k: v[idx] for k, v in self.split.items()}


def eval_batches(split: Mapping[str, np.ndarray], batch_size: int) -> Iterator[Batch]:
    """Batches of exactly ``batch_size`` covering the split once, in order.

    The last batch is zero-padded to full size. Every batch gets a float32 ``weights``
    array: 1 for real examples, 0 for padding (so weighted metrics ignore padding).
    """
    n = split_size(split)
    batch_size = _check_positive_int("batch_size", batch_size)
    if "weights" in split:
        raise ValueError("split already has a 'weights' array")
    for start in range(0, n, batch_size):
        real = min(batch_size, n - start)
        batch = {}
        for k, v in split.items():
            part = np.asarray(v[start : start + real])
            if real < batch_size:
                pad = np.zeros((batch_size - real, *part.shape[1:]), dtype=part.dtype)
                part = np.concatenate([part, pad])
            batch[k] = part
        weights = np.zeros(batch_size, dtype=np.float32)
        weights[:real] = 1.0
        batch["weights"] = weights
        yield batch


def train_eval_subset(
    split: Mapping[str, np.ndarray], num_examples: int, seed: int = 0
) -> Batch:
    """A fixed subset of ``num_examples`` distinct examples (chosen by ``default_rng(seed)``,
    kept in split order), for the 'train' metrics of evaluations."""
    n = split_size(split)
    k = _check_positive_int("num_examples", num_examples)
    if k > n:
        raise ValueError(f"num_examples {k} exceeds the split's {n} examples")
    idx = np.sort(np.random.default_rng(seed).choice(n, size=k, replace=False))
    return {key: np.asarray(v)[idx] for key, v in split.items()}


def shard_batch(batch: Mapping[str, np.ndarray], num_shards: int, index: int) -> Batch:
    """The ``index``-th of ``num_shards`` contiguous equal slices of every array (views)."""
    n = split_size(batch)
    num_shards = _check_positive_int("num_shards", num_shards)
    if not 0 <= index < num_shards:
        raise ValueError(f"shard index {index} not in 0..{num_shards - 1}")
    if n % num_shards:
        raise ValueError(f"batch size {n} is not divisible by num_shards {num_shards}")
    size = n // num_shards
    return {k: np.asarray(v)[index * size : (index + 1) * size] for k, v in batch.items()}
