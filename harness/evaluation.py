"""The harness's evaluation: a workload's metrics on the held-out splits, computed in the harness's
process from the parameters the submission side hands over (harness/runner.py calls it)."""

from __future__ import annotations

import numpy as np


def evaluate(workload, params, model_state, eval_sets: dict[str, list[dict]], metric_fn) -> dict:
    """Metrics on every eval split, as AlgoPerf names them (`validation/accuracy`, ...): the
    outputs of all of a split's batches, then `metric_fn` once over the whole split."""
    results = {}
    for split, batches in eval_sets.items():
        outputs = np.concatenate([workload.eval_outputs(params, model_state, b) for b in batches])
        whole = {key: np.concatenate([b[key] for b in batches]) for key in batches[0]}
        for key, value in metric_fn(outputs, whole).items():
            if not (split == "train" and key == "num_examples"):
                results[f"{split}/{key}"] = value
    return results
