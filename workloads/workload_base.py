"""What the PyTorch and JAX workload classes share: the spec's public numbers under AlgoPerf's
attribute names, and the family's init rule. Framework-free."""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np

from workloads.spec import LossType, WorkloadSpec


def default_example_batch(spec: WorkloadSpec, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Standard-normal `inputs` of the spec's input shape and integer class `targets`."""
    return {"inputs": rng.standard_normal((n, *spec.input_shape)).astype(np.float32),
            "targets": rng.integers(0, spec.num_outputs, n).astype(np.int32)}


def example_batch(spec: WorkloadSpec, n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """A valid batch of `n` made-up examples, as the family's data would give it (the family's
    `example_batch(spec, n, rng)` in its spec module, if it has one): for shape inference and tests."""
    family = importlib.import_module(f"workloads.{spec.family}.spec")
    make = getattr(family, "example_batch", default_example_batch)
    return make(spec, n, np.random.default_rng(seed))


class WorkloadBase:
    """The part of AlgoPerf's workload interface that does not depend on the framework."""

    # AlgoPerf's submissions log through `workload.metrics_logger` when it is not None; the
    # harness writes its own logs, so there is none to log to.
    metrics_logger = None

    def __init__(self, spec: WorkloadSpec):
        self._spec = spec
        family = importlib.import_module(f"workloads.{spec.family}.spec")
        self._init_rule = family.init_rule(spec.model_config) if hasattr(family, "init_rule") else None

    def model_inputs(self, batch: dict[str, Any]) -> Any:
        """What the model reads from a batch: the `inputs` array, or a dict of the spec's input keys."""
        keys = self._spec.input_keys
        return batch["inputs"] if tuple(keys) == ("inputs",) else {k: batch[k] for k in keys}

    @property
    def loss_type(self) -> LossType:
        return self._spec.loss_type

    @property
    def target_metric_name(self) -> str:
        return self._spec.target_metric

    @property
    def validation_target_value(self) -> float:
        return self._spec.validation_target

    @property
    def test_target_value(self) -> float:
        return self._spec.test_target

    @property
    def step_hint(self) -> int:
        return self._spec.step_hint

    @property
    def max_allowed_runtime_sec(self) -> float:
        return self._spec.max_runtime_sec

    @property
    def eval_period_time_sec(self) -> float:
        return self._spec.eval_period_sec

    def has_reached_validation_target(self, eval_result: dict[str, float]) -> bool:
        value = eval_result[f"validation/{self._spec.target_metric}"]
        return self._spec.is_better_or_equal(value, self._spec.validation_target)

    def has_reached_test_target(self, eval_result: dict[str, float]) -> bool:
        value = eval_result[f"test/{self._spec.target_metric}"]
        return self._spec.is_better_or_equal(value, self._spec.test_target)
