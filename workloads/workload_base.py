"""What the PyTorch and JAX workload classes share: the spec's public numbers under AlgoPerf's
attribute names, and the family's init rule. Framework-free."""

from __future__ import annotations

import importlib

from workloads.spec import LossType, WorkloadSpec


class WorkloadBase:
    """The part of AlgoPerf's workload interface that does not depend on the framework."""

    def __init__(self, spec: WorkloadSpec):
        self._spec = spec
        family = importlib.import_module(f"workloads.{spec.family}.spec")
        self._init_rule = family.init_rule(spec.model_config) if hasattr(family, "init_rule") else None

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
