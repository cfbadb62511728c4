"""Softmax cross-entropy over sequences: logits (batch, positions, classes) and labels (batch,
positions), with per-position masks, give the same losses in PyTorch, JAX and the NumPy metric."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import torch

from workloads.jax_workload import JaxWorkload
from workloads.metrics import classification
from workloads.pytorch_workload import PyTorchWorkload
from workloads.registry import REGISTRY


def _sequence_batch(seed=0, n=3, positions=5, classes=7):
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((n, positions, classes)).astype(np.float32)
    labels = rng.integers(0, classes, (n, positions)).astype(np.int32)
    mask = np.ones((n, positions), np.float32)
    mask[0, 3:] = 0  # padding at the end of the first sequence
    mask[2, 1:] = 0
    return logits, labels, mask


def _by_hand(logits, labels, mask, smoothing=0.0):
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    classes = logits.shape[-1]
    target = np.eye(classes)[labels] * (1 - smoothing) + smoothing / classes
    return -(target * log_p).sum(-1) * mask


def test_per_position_loss_and_mask_match_by_hand_in_both_frameworks():
    spec = REGISTRY["smoke"]  # any softmax cross-entropy workload
    logits, labels, mask = _sequence_batch()
    for smoothing in (0.0, 0.1):
        expected = _by_hand(logits.astype(np.float64), labels, mask, smoothing)
        t = PyTorchWorkload(spec).loss_fn(torch.from_numpy(labels), torch.from_numpy(logits),
                                          torch.from_numpy(mask), smoothing)
        j = JaxWorkload(spec).loss_fn(jnp.asarray(labels), jnp.asarray(logits), jnp.asarray(mask),
                                      smoothing)
        for out in (t, j):
            np.testing.assert_allclose(np.asarray(out["per_example"]), expected, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(float(out["summed"]), expected.sum(), rtol=1e-5)
            assert float(out["n_valid_examples"]) == mask.sum() == 9


def test_classification_metric_counts_each_real_position_once():
    logits, labels, mask = _sequence_batch(seed=1)
    metrics = classification(logits, {"targets": labels, "weights": mask})
    real = mask > 0
    assert metrics["num_examples"] == real.sum()
    np.testing.assert_allclose(metrics["loss"], _by_hand(logits.astype(np.float64), labels, mask)[real].mean())
    np.testing.assert_allclose(metrics["accuracy"], (logits.argmax(-1) == labels)[real].mean())
    # per-sequence weights broadcast over positions
    whole = classification(logits, {"targets": labels, "weights": np.array([1, 0, 1], np.float32)})
    assert whole["num_examples"] == 10
