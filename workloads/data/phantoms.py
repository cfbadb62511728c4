"""MRI phantoms: single-coil k-space reconstruction at laptop scale (AlgoPerf's fastMRI domain).

Each image is a random Shepp-Logan-style head phantom (`phantom`): a bright skull ellipse, a darker
brain ellipse inside it, 4 to 10 smaller ellipses of random center, axes, angle and intensity added
on top (overlaps add up, as in Shepp-Logan; cut off at the brain's edge), and a smooth random
texture over the brain; values are clipped to >= 0. It is rasterized at twice the resolution and
2x2-averaged, so edges are partial pixels, not staircases. The ellipses are drawn in NumPy (a point-in-ellipse test on the pixel grid),
vectorized over the ellipses, so the project needs no image library for the data.

k-space is the centered, orthonormal 2-D FFT of the image. It is undersampled by a fastMRI
`RandomMaskFunc` column mask (`column_mask`), one per image, drawn once with the image (the same
mask every epoch): acceleration 4 with 8% fully sampled center columns or acceleration 8 with 4%,
chosen at random per image. The model input is the zero-filled reconstruction (the magnitude of
the inverse FFT of the masked k-space), normalized by its own mean and std as fastMRI does; the
target is the ground-truth image normalized with the same mean and std; both are clamped to
[-6, 6]. Every split holds

- ``inputs`` float32 (N, S, S, 1): the normalized zero-filled reconstruction,
- ``targets`` float32 (N, S, S): the normalized ground truth,
- ``mean``, ``std`` float32 (N,): the normalization, so that ``targets * std + mean`` is the
  image (the SSIM metric compares images, `workloads.metrics.ssim`),
- ``acceleration`` int32 (N,): 4 or 8.
"""

from __future__ import annotations

import numpy as np

from .cache import cached_arrays

__all__ = ["ACCELERATIONS", "SIZE", "column_mask", "load_phantoms", "make_split", "phantom",
           "zero_filled"]

SIZE = 32
ACCELERATIONS = ((4, 0.08), (8, 0.04))  # (acceleration, fraction of fully sampled center columns)
SPLITS = {"train": 8000, "validation": 1000, "test": 1000}
SEED = 0
CLAMP = 6.0
EPS = 1e-11  # fastMRI's normalization epsilon


def _ellipses(grid_x, grid_y, params: np.ndarray) -> np.ndarray:
    """Sum over ellipses of intensity * [point inside]; params rows (cx, cy, a, b, angle, value)."""
    cx, cy, a, b, angle, value = (params[:, i, None, None] for i in range(6))
    dx, dy = grid_x - cx, grid_y - cy
    cos, sin = np.cos(angle), np.sin(angle)
    u, v = (dx * cos + dy * sin) / a, (-dx * sin + dy * cos) / b
    return ((u * u + v * v <= 1.0) * value).sum(axis=0)


def phantom(rng: np.random.Generator, size: int = SIZE) -> np.ndarray:
    """One random head phantom, float64 (size, size), values >= 0 (about 0 to 1.5)."""
    fine = 2 * size
    coords = (np.arange(fine) + 0.5) / fine * 2.0 - 1.0  # pixel centers in [-1, 1]
    grid_y, grid_x = np.meshgrid(coords, coords, indexing="ij")
    cx, cy = rng.uniform(-0.08, 0.08, 2)
    a, b = rng.uniform(0.62, 0.8), rng.uniform(0.78, 0.92)
    angle = rng.uniform(-0.3, 0.3)
    inner = rng.uniform(0.86, 0.92)
    head = [(cx, cy, a, b, angle, 1.0), (cx, cy, a * inner, b * inner, angle, -rng.uniform(0.6, 0.8))]
    k = int(rng.integers(4, 11))
    r, t = 0.6 * np.sqrt(rng.uniform(0, 1, k)), rng.uniform(0, 2 * np.pi, k)  # inside the brain
    ex = cx + r * a * np.cos(t) * np.cos(angle) - r * b * np.sin(t) * np.sin(angle)
    ey = cy + r * a * np.cos(t) * np.sin(angle) + r * b * np.sin(t) * np.cos(angle)
    features = np.stack([ex, ey, rng.uniform(0.04, 0.3, k), rng.uniform(0.04, 0.3, k),
                         rng.uniform(0, np.pi, k), rng.uniform(-0.25, 0.45, k)], axis=1)
    # smooth texture: a few random low-frequency waves
    freqs, phases = rng.uniform(-3, 3, (4, 2)) * np.pi, rng.uniform(0, 2 * np.pi, 4)
    waves = np.cos(freqs[:, 0, None, None] * grid_x + freqs[:, 1, None, None] * grid_y + phases[:, None, None])
    brain = _ellipses(grid_x, grid_y, np.array([head[1][:5] + (1.0,)]))
    inside = _ellipses(grid_x, grid_y, features) + 0.04 * waves.sum(axis=0)
    image = _ellipses(grid_x, grid_y, np.array(head)) + inside * brain  # features stay in the brain
    image = np.clip(image, 0.0, None)
    return image.reshape(size, 2, size, 2).mean(axis=(1, 3))


def column_mask(rng: np.random.Generator, num_cols: int, acceleration: int,
                center_fraction: float) -> np.ndarray:
    """fastMRI's RandomMaskFunc: bool (num_cols,) with round(num_cols * center_fraction) center
    columns always sampled and every other column sampled with the probability that makes the
    expected number of sampled columns num_cols / acceleration."""
    num_low = round(num_cols * center_fraction)
    prob = (num_cols / acceleration - num_low) / (num_cols - num_low)
    mask = rng.uniform(size=num_cols) < prob
    pad = (num_cols - num_low + 1) // 2
    mask[pad: pad + num_low] = True
    return mask


def kspace(image: np.ndarray) -> np.ndarray:
    """Centered orthonormal 2-D FFT (zero frequency in the middle) of the last two axes."""
    return np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(image, axes=(-2, -1)), norm="ortho"), axes=(-2, -1))


def zero_filled(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """|inverse FFT| of the image's k-space with the columns where `mask` is False set to zero."""
    masked = kspace(image) * mask[..., None, :]
    return np.abs(np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(masked, axes=(-2, -1)), norm="ortho"),
                                  axes=(-2, -1)))


def make_split(num: int, seed: int, size: int = SIZE) -> dict[str, np.ndarray]:
    """`num` examples of one split (arrays as the module docstring says), from `seed` alone."""
    rng = np.random.default_rng(seed)
    images = np.empty((num, size, size))
    masks = np.empty((num, size), bool)
    acceleration = np.empty(num, np.int32)
    for i in range(num):
        images[i] = phantom(rng, size)
        acc, center = ACCELERATIONS[int(rng.integers(len(ACCELERATIONS)))]
        masks[i] = column_mask(rng, size, acc, center)
        acceleration[i] = acc
    zf = zero_filled(images, masks)
    mean, std = zf.mean(axis=(1, 2)), zf.std(axis=(1, 2))
    scale = lambda x: np.clip((x - mean[:, None, None]) / (std[:, None, None] + EPS), -CLAMP, CLAMP)
    return {"inputs": scale(zf)[..., None].astype(np.float32), "targets": scale(images).astype(np.float32),
            "mean": mean.astype(np.float32), "std": std.astype(np.float32), "acceleration": acceleration}


def load_phantoms(sizes: dict[str, int] | None = None, seed: int = SEED,
                  size: int = SIZE) -> dict[str, dict[str, np.ndarray]]:
    """The splits {'train'|'validation'|'test': arrays}, built once and cached (split i from seed
    (seed, i), so a split does not depend on the others' sizes)."""
    sizes = dict(SPLITS if sizes is None else sizes)
    params = {"sizes": sizes, "seed": seed, "size": size, "format": 1}

    def build() -> dict[str, np.ndarray]:
        out = {}
        for i, (split, num) in enumerate(sizes.items()):
            for key, value in make_split(num, seed * 1000 + i, size).items():
                out[f"{split}.{key}"] = value
        return out

    flat = cached_arrays("mri_phantoms", params, build)
    return {split: {k.split(".", 1)[1]: v for k, v in flat.items() if k.startswith(f"{split}.")}
            for split in sizes}
