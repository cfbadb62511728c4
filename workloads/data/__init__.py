"""Framework-neutral NumPy data layer: local datasets, on-disk cache, batching.

No torch/jax here; nothing is downloaded at run time.
"""

from .batching import TrainStream, eval_batches, shard_batch, split_size, train_eval_subset
from .cache import cache_dir, cached_arrays, params_key, sha256_file
from .digits import load_digits
from .fashion_mnist import FashionMNISTNotFoundError, find_fashion_mnist_files, load_fashion_mnist
from .idx import read_idx, write_idx
from .splits import split_indices

__all__ = [
    "FashionMNISTNotFoundError",
    "TrainStream",
    "cache_dir",
    "cached_arrays",
    "eval_batches",
    "find_fashion_mnist_files",
    "load_digits",
    "load_fashion_mnist",
    "params_key",
    "read_idx",
    "sha256_file",
    "shard_batch",
    "split_indices",
    "split_size",
    "train_eval_subset",
    "write_idx",
]
