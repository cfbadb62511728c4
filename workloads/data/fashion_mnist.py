"""Fashion-MNIST from local IDX files, split into train / validation / test.

Nothing is downloaded. The files come from Debian's ``dataset-fashion-mnist`` package
or a directory given by argument or ``$ALGOBENCH_FASHION_MNIST_DIR``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .cache import cached_arrays, sha256_file
from .idx import read_idx
from .splits import split_indices

__all__ = [
    "DEFAULT_DIR",
    "DIR_ENV",
    "NUM_CLASSES",
    "FILES",
    "FashionMNISTNotFoundError",
    "find_fashion_mnist_files",
    "load_fashion_mnist",
]

DEFAULT_DIR = Path("/usr/share/datasets/fashion-mnist")
DIR_ENV = "ALGOBENCH_FASHION_MNIST_DIR"
NUM_CLASSES = 10
VALIDATION_SEED = 0  # fixed: the validation split never depends on a trial seed
FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
_FORMAT_VERSION = 1  # bump when the processing below changes


class FashionMNISTNotFoundError(FileNotFoundError):
    """The Fashion-MNIST IDX files are not where the loader looked."""


def _resolve_dir(data_dir: str | os.PathLike | None) -> tuple[Path, str]:
    if data_dir is not None:
        return Path(data_dir).expanduser(), "the data_dir argument"
    if os.environ.get(DIR_ENV):
        return Path(os.environ[DIR_ENV]).expanduser(), f"${DIR_ENV}"
    return DEFAULT_DIR, "the default location"


def find_fashion_mnist_files(data_dir: str | os.PathLike | None = None) -> dict[str, Path]:
    """Paths of the four IDX files (``.gz`` preferred, plain accepted).

    Looks in ``data_dir``, else ``$ALGOBENCH_FASHION_MNIST_DIR``, else ``DEFAULT_DIR``;
    raises ``FashionMNISTNotFoundError`` saying where it looked and how to fix it.
    """
    directory, source = _resolve_dir(data_dir)
    found, missing = {}, []
    for key, base in FILES.items():
        for candidate in (directory / f"{base}.gz", directory / base):
            if candidate.is_file():
                found[key] = candidate
                break
        else:
            missing.append(f"{base}[.gz]")
    if missing:
        raise FashionMNISTNotFoundError(
            f"Fashion-MNIST not found in {directory} (from {source}); missing: "
            f"{', '.join(missing)}. Install it with `apt-get install dataset-fashion-mnist` "
            f"(files go to {DEFAULT_DIR}), or pass data_dir= / set ${DIR_ENV} to a directory "
            f"holding {', '.join(f'{b}.gz' for b in FILES.values())} (or the same names "
            "without .gz). algobench never downloads data."
        )
    return found


def _read_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"{images_path}: expected uint8 images of shape (N, 28, 28), "
                         f"got {images.dtype} {images.shape}")
    if labels.dtype != np.uint8 or labels.shape != images.shape[:1]:
        raise ValueError(f"{labels_path}: expected uint8 labels of shape {images.shape[:1]}, "
                         f"got {labels.dtype} {labels.shape}")
    if labels.size and labels.max() >= NUM_CLASSES:
        raise ValueError(f"{labels_path}: label {labels.max()} outside 0..{NUM_CLASSES - 1}")
    return images, labels


def _build(files: dict[str, Path], num_validation: int) -> dict[str, np.ndarray]:
    train_x, train_y = _read_pair(files["train_images"], files["train_labels"])
    test_x, test_y = _read_pair(files["test_images"], files["test_labels"])
    idx = split_indices(len(train_x), {"validation": num_validation}, seed=VALIDATION_SEED)
    raw = {
        "train": (train_x[idx["train"]], train_y[idx["train"]]),
        "validation": (train_x[idx["validation"]], train_y[idx["validation"]]),
        "test": (test_x, test_y),
    }
    scaled_train = raw["train"][0].astype(np.float64) / 255.0
    mean, std = scaled_train.mean(), scaled_train.std()
    if not std > 0:
        raise ValueError("Fashion-MNIST training images have zero pixel variance")
    out = {}
    for split, (x, y) in raw.items():
        z = (x.astype(np.float64) / 255.0 - mean) / std
        out[f"{split}.inputs"] = z.astype(np.float32)[..., None]  # NHWC
        out[f"{split}.targets"] = y.astype(np.int32)
    return out


def load_fashion_mnist(
    data_dir: str | os.PathLike | None = None, num_validation: int = 5000
) -> dict[str, dict[str, np.ndarray]]:
    """Fashion-MNIST as ``{'train'|'validation'|'test': {'inputs', 'targets'}}``.

    ``inputs`` are float32 (N, 28, 28, 1) NHWC: pixels scaled to [0, 1], then
    standardized with the scalar mean and std of the ``train`` split's pixels.
    ``targets`` are int32 (N,). ``validation`` is a fixed ``num_validation`` training
    images (permutation seed 0, independent of trial seeds), ``train`` the rest, ``test``
    the official t10k set. Processed arrays are cached keyed by the source files'
    SHA-256 and size (see ``cache.cached_arrays``).
    """
    if int(num_validation) != num_validation or num_validation < 1:
        raise ValueError(f"num_validation must be a positive integer, got {num_validation}")
    num_validation = int(num_validation)
    files = find_fashion_mnist_files(data_dir)
    params = {
        "format_version": _FORMAT_VERSION,
        "num_validation": num_validation,
        "validation_seed": VALIDATION_SEED,
        "sources": {
            key: {"sha256": sha256_file(p), "size": p.stat().st_size} for key, p in files.items()
        },
    }
    flat = cached_arrays("fashion_mnist", params, lambda: _build(files, num_validation))
    return {
        split: {"inputs": flat[f"{split}.inputs"], "targets": flat[f"{split}.targets"]}
        for split in ("train", "validation", "test")
    }
