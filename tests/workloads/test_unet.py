"""The unet family's data (MRI phantoms, k-space masks, zero-filled inputs) and its SSIM metric."""

import numpy as np
import pytest

from workloads.data import phantoms
from workloads.data.phantoms import (
    column_mask,
    kspace,
    load_phantoms,
    make_split,
    phantom,
    zero_filled,
)
from workloads.metrics import METRICS, structural_similarity


def test_split_is_deterministic_with_shapes_and_dtypes():
    a, b = make_split(12, seed=3), make_split(12, seed=3)
    assert a.keys() == {"inputs", "targets", "mean", "std", "acceleration"}
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    s = phantoms.SIZE
    assert a["inputs"].shape == (12, s, s, 1) and a["inputs"].dtype == np.float32
    assert a["targets"].shape == (12, s, s) and a["targets"].dtype == np.float32
    assert a["mean"].shape == a["std"].shape == (12,) and (a["std"] > 0).all()
    assert set(a["acceleration"]) <= {4, 8}
    assert not np.array_equal(make_split(12, seed=4)["targets"], a["targets"])


def test_inputs_and_targets_are_the_zero_filled_and_true_images_normalized():
    split = make_split(5, seed=1)
    images = split["targets"] * split["std"][:, None, None] + split["mean"][:, None, None]
    assert images.min() > -1e-5 and 0.5 < images.max() < 3  # phantoms are >= 0 (clamping aside)
    inputs = split["inputs"][..., 0]
    # the input is normalized by its own statistics (values beyond the clamp are rare)
    np.testing.assert_allclose(inputs.mean(axis=(1, 2)), 0, atol=2e-2)
    np.testing.assert_allclose(inputs.std(axis=(1, 2)), 1, atol=2e-2)


def test_phantom_is_a_nonnegative_head():
    image = phantom(np.random.default_rng(0), 32)
    assert image.shape == (32, 32) and image.min() >= 0
    assert image[16, 16] > 0 and image[0, 0] == 0  # inside the head, outside it


@pytest.mark.parametrize("acceleration,center", [(4, 0.08), (8, 0.04)])
def test_column_mask_acceleration_and_center(acceleration, center):
    cols = 320  # fastMRI's width, where the fractions are exact enough to test
    num_low = round(cols * center)
    masks = np.stack([column_mask(np.random.default_rng(i), cols, acceleration, center) for i in range(400)])
    pad = (cols - num_low + 1) // 2
    assert masks[:, pad:pad + num_low].all()  # the center columns, always
    assert masks.mean() == pytest.approx(1 / acceleration, rel=0.03)  # the acceleration, on average
    assert masks.sum(axis=1).std() > 0  # the other columns at random


def test_column_mask_at_the_data_size():
    mask = column_mask(np.random.default_rng(0), 32, 4, 0.08)
    assert mask[15:18].all()  # round(32 * 0.08) = 3 center columns around column 16 (frequency 0)


def test_zero_filled_by_hand_on_a_tiny_image():
    image = np.arange(16.0).reshape(4, 4)
    assert np.allclose(zero_filled(image, np.ones(4, bool)), image)  # fully sampled: the image
    assert np.allclose(kspace(image)[2, 2], image.sum() / 4)  # the center holds the mean (ortho FFT)
    # only the zero-frequency column (index 2 after centering): every row's mean across columns
    only_dc = zero_filled(image, np.array([False, False, True, False]))
    assert np.allclose(only_dc, np.repeat(image.mean(axis=1, keepdims=True), 4, axis=1))
    # dropping columns 0 and 1 (frequencies -2, -1): the 4-point inverse DFT by hand
    mask = np.array([False, False, True, True])
    f = np.fft.fft(image, axis=1)  # along the masked axis; rows are untouched
    keep = {0: f[:, 0], 1: f[:, 1]}  # frequencies 0 and +1 survive
    w = np.arange(4)
    by_hand = (keep[0][:, None] + keep[1][:, None] * np.exp(2j * np.pi * w / 4)) / 4
    assert np.allclose(zero_filled(image, mask), np.abs(by_hand))


def test_load_phantoms_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("ALGOBENCH_CACHE_DIR", str(tmp_path))
    sizes = {"train": 6, "validation": 3, "test": 3}
    first = load_phantoms(sizes)
    assert {k: len(v["targets"]) for k, v in first.items()} == sizes
    monkeypatch.setattr(phantoms, "make_split", lambda *a: pytest.fail("rebuilt despite the cache"))
    second = load_phantoms(sizes)
    for split in sizes:
        for key in first[split]:
            np.testing.assert_array_equal(first[split][key], second[split][key])
    assert not np.array_equal(first["validation"]["targets"], first["test"]["targets"])


def _ssim_by_hand(x, y, data_range, win=7):
    """SSIM window by window with NumPy's mean and sample (ddof=1) covariance, as scikit-image
    computes it with use_sample_covariance=True, averaged over the windows that fit."""
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    values = []
    for i in range(x.shape[0] - win + 1):
        for j in range(x.shape[1] - win + 1):
            a, b = x[i:i + win, j:j + win].ravel(), y[i:i + win, j:j + win].ravel()
            cov = np.cov(a, b)  # ddof 1
            values.append((2 * a.mean() * b.mean() + c1) * (2 * cov[0, 1] + c2)
                          / ((a.mean() ** 2 + b.mean() ** 2 + c1) * (cov[0, 0] + cov[1, 1] + c2)))
    return np.mean(values)


def test_ssim_matches_a_window_by_window_computation():
    rng = np.random.default_rng(0)
    x, y = rng.random((2, 11, 12)), rng.random((2, 11, 12))
    y[1] = 0.7 * x[1] + 0.1 * y[1]
    got = structural_similarity(x, y, np.array([1.0, 2.0]))
    want = [_ssim_by_hand(x[0], y[0], 1.0), _ssim_by_hand(x[1], y[1], 2.0)]
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_ssim_metric_identical_images_padding_and_denormalization():
    split = make_split(4, seed=2)
    batch = {k: np.concatenate([v, np.zeros_like(v[:2])]) for k, v in split.items()}
    batch["weights"] = np.array([1, 1, 1, 1, 0, 0], np.float32)
    outputs = batch["targets"].copy()
    outputs[4:] = 5.0  # padding: ignored
    metrics = METRICS["ssim"](outputs, batch)
    assert metrics["ssim"] == pytest.approx(1.0) and metrics["loss"] == 0 and metrics["num_examples"] == 4
    worse = METRICS["ssim"](outputs + 0.3 * np.random.default_rng(0).standard_normal(outputs.shape), batch)
    assert worse["ssim"] < 0.99 and worse["loss"] > 0.1
    # (N, H, W, 1) outputs give the same
    assert METRICS["ssim"](outputs[..., None], batch) == metrics
    # SSIM is of the de-normalized images, with the target image's maximum as the data range
    images = split["targets"] * split["std"][:, None, None] + split["mean"][:, None, None]
    noisy = split["targets"] + 0.2 * np.random.default_rng(1).standard_normal(split["targets"].shape)
    expected = structural_similarity(noisy * split["std"][:, None, None] + split["mean"][:, None, None],
                                     images, images.max(axis=(1, 2))).mean()
    assert METRICS["ssim"](noisy, split)["ssim"] == pytest.approx(expected)
