"""Evaluation metrics, computed in NumPy from a model's outputs so that both frameworks agree exactly.

A metric function maps (outputs, batch) to *sums* over the batch's real examples (padding has
weight 0); the harness adds the sums over all batches and `finalize` divides by the example count.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

MetricSums = dict[str, float]


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    logits = logits.astype(np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def classification(outputs: np.ndarray, batch: dict[str, np.ndarray]) -> MetricSums:
    """Sums of accuracy and softmax cross-entropy (no label smoothing) over weighted examples."""
    targets = batch["targets"].astype(np.int64)
    weights = batch.get("weights", np.ones(len(targets), np.float32)).astype(np.float64)
    log_probs = _log_softmax(outputs)
    nll = -np.take_along_axis(log_probs, targets[:, None], axis=-1)[:, 0]
    correct = (outputs.argmax(axis=-1) == targets).astype(np.float64)
    return {
        "accuracy": float((correct * weights).sum()),
        "loss": float((nll * weights).sum()),
        "num_examples": float(weights.sum()),
    }


METRICS: dict[str, Callable[[np.ndarray, dict], MetricSums]] = {
    "classification": classification,
}


def finalize(sums: MetricSums) -> dict[str, float]:
    """Means from sums; `num_examples` stays a count."""
    n = sums["num_examples"]
    return {k: (v if k == "num_examples" else v / n) for k, v in sums.items()}
