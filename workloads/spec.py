"""The framework-neutral workload spec: everything about a workload except its model code.

A variant is a spec with a few fields overridden and its own targets (`variant()`).
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping


class ForwardPassMode(enum.Enum):
    TRAIN = 0
    EVAL = 1


class LossType(enum.Enum):
    SOFTMAX_CROSS_ENTROPY = 0
    SIGMOID_CROSS_ENTROPY = 1
    MEAN_SQUARED_ERROR = 2
    CTC_LOSS = 3
    MEAN_ABSOLUTE_ERROR = 4


class ParameterType(enum.Enum):
    WEIGHT = 0
    BIAS = 1
    CONV_WEIGHT = 2
    BATCH_NORM_SCALE = 3
    BATCH_NORM_BIAS = 4
    LAYER_NORM_SCALE = 5
    LAYER_NORM_BIAS = 6
    EMBEDDING = 7


@dataclass(frozen=True)
class ShapeTuple:
    shape: tuple[int, ...]

    @property
    def shape_tuple(self) -> tuple[int, ...]:
        """AlgoPerf's name for the shape (its submissions read `param_shapes[...].shape_tuple`)."""
        return self.shape


def meets_target(value: Any, target: float, lower_is_better: bool) -> bool:
    """Whether a metric `value` reaches `target` (inclusive); a missing or NaN value never does.

    The one definition of "reached": the runner, target setting and scoring all use it."""
    if value is None:
        return False
    value = float(value)
    if math.isnan(value):
        return False
    return value <= target if lower_is_better else value >= target


# The eval schedule, in seconds of submission time on the reference host (docs/scoring.md#
# measurement-resolution). Where the reference baseline's time to target T on the reference host is
# recorded (REFERENCE_TIMES_FILE; every base workload): an eval every T/8 and, between evals, a
# parameter snapshot every T/40, evaluated only when an eval first meets the validation target, so
# time to target is resolved to 2.5% of T, within the 3% asked. T/8 minimizes a trial's wall time
# near T: training past the crossing until the next eval (P/2 on average) plus the evaluations
# (T/P regular evals, P/(2s) searched snapshots on average) at an eval cost of about 1% of T.
# Elsewhere (variants, `smoke`): an eval every budget/40 and a snapshot every tenth of that.
EVALS_PER_REFERENCE_TIME = 8
SNAPSHOTS_PER_REFERENCE_TIME = 40
EVALS_PER_BUDGET = 40
SNAPSHOTS_PER_EVAL = 10
# `eval_schedule="algoperf"`: AlgoPerf's schedule, every split at every eval and no snapshots, an
# eval every budget/30 (this project's period before stop 30): the "before" of docs/scoring.md's
# resolution table, measured with `algobench run --eval-schedule algoperf`.
EVAL_SCHEDULES = ("snapshots", "algoperf")
ALGOPERF_EVALS_PER_BUDGET = 30
# Written by benchmarks/resolution_table.py --write-reference-times from the five-seed runs of the
# reference baseline on the reference host (the host of workloads/calibration_reference.json).
REFERENCE_TIMES_FILE = Path(__file__).resolve().parent / "reference_times.json"


def _read_reference_times() -> dict[str, float]:
    if not REFERENCE_TIMES_FILE.exists():
        return {}
    record = json.loads(REFERENCE_TIMES_FILE.read_text())
    return {name: entry["seconds"] for name, entry in record["workloads"].items()}


REFERENCE_TIMES = _read_reference_times()


@dataclass(frozen=True)
class WorkloadSpec:
    """One workload: data, model family and config, loss, metric, targets and budget.

    `family` names the folder `workloads/<family>/` that holds `model_pytorch.py` and
    `model_jax.py`; `data_source` names a loader in `workloads.sources`. `model_config` is passed to
    both model modules unchanged. Targets refer to `target_metric` on the validation and test
    splits, compared inclusively in the direction `lower_is_better` says.
    """

    name: str
    family: str
    description: str
    data_source: str
    input_shape: tuple[int, ...]  # one example, channels last
    num_outputs: int
    loss_type: LossType
    target_metric: str
    lower_is_better: bool
    validation_target: float
    test_target: float
    max_runtime_sec: float
    step_hint: int
    eval_batch_size: int
    # Seconds of submission time between evals and between snapshots; None (every registered
    # workload but `smoke`): from the recorded reference time where there is one, else from the
    # budget (the schedule above). docs/scoring.md#measurement-resolution.
    eval_period_sec: float | None = None
    snapshot_period_sec: float | None = None
    eval_schedule: str = "snapshots"  # or "algoperf" (EVAL_SCHEDULES, above)
    metrics: str = "classification"  # a key of workloads.metrics.METRICS
    # The batch arrays the model reads: for ("inputs",) the model gets that array, else a dict of
    # the named arrays (graphs, for example). The family's `example_batch` gives their shapes.
    input_keys: tuple[str, ...] = ("inputs",)
    model_config: Mapping[str, Any] = field(default_factory=dict)
    base: str | None = None  # the base workload's name, for a variant
    targets_source: str = ""  # where the targets came from (a target-setting record)
    # A step budget besides the time budget: a trial ends after this many steps (stop reason
    # `step_budget`). No registered workload sets it; `algobench set-targets` gives its runs one
    # (AlgoPerf's target-setting runs had step budgets), so they do not train on at a finished
    # schedule until the time budget.
    max_steps: int | None = None

    def __post_init__(self):
        object.__setattr__(self, "model_config", MappingProxyType(dict(self.model_config)))
        reference = self.reference_time_sec
        if self.eval_schedule not in EVAL_SCHEDULES:
            raise ValueError(f"workload {self.name}: unknown eval_schedule {self.eval_schedule!r}; "
                             f"choose one of {', '.join(EVAL_SCHEDULES)}")
        if self.eval_period_sec is None and self.eval_schedule == "algoperf":
            object.__setattr__(self, "eval_period_sec", self.max_runtime_sec / ALGOPERF_EVALS_PER_BUDGET)
        if self.eval_period_sec is None:
            period = (reference / EVALS_PER_REFERENCE_TIME if reference is not None
                      else self.max_runtime_sec / EVALS_PER_BUDGET)
            object.__setattr__(self, "eval_period_sec", period)
        if self.snapshot_period_sec is None:
            period = (reference / SNAPSHOTS_PER_REFERENCE_TIME if reference is not None
                      else self.eval_period_sec / SNAPSHOTS_PER_EVAL)
            object.__setattr__(self, "snapshot_period_sec", period)

    @property
    def reference_time_sec(self) -> float | None:
        """The reference baseline's median time to target on the reference host, where recorded
        (workloads/reference_times.json): what the eval schedule is sized by."""
        return REFERENCE_TIMES.get(self.name)

    @property
    def has_targets(self) -> bool:
        return all(isinstance(t, (int, float)) and math.isfinite(t)
                   for t in (self.validation_target, self.test_target))

    @property
    def base_name(self) -> str:
        """The name a submission's `get_batch_size` sees: the base workload's, for a variant."""
        return self.base or self.name

    def is_better_or_equal(self, value: float, target: float) -> bool:
        """Whether a metric value meets a target (inclusive comparison)."""
        return meets_target(value, target, self.lower_is_better)

    def __reduce__(self):
        # MappingProxyType does not pickle; trials cross process boundaries.
        kwargs = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        kwargs["model_config"] = dict(self.model_config)
        return (_rebuild_spec, (kwargs,))

    def summary(self) -> dict[str, Any]:
        """The registry entry as plain JSON-able values (`algobench workloads --json`)."""
        return {
            "name": self.name,
            "base": self.base,
            "family": self.family,
            "description": self.description,
            "data_source": self.data_source,
            "metric": self.target_metric,
            "lower_is_better": self.lower_is_better,
            "validation_target": self.validation_target,
            "test_target": self.test_target,
            "max_runtime_sec": self.max_runtime_sec,
            "reference_time_sec": self.reference_time_sec,
            "eval_period_sec": self.eval_period_sec,
            "snapshot_period_sec": self.snapshot_period_sec,
            "eval_schedule": self.eval_schedule,
            "step_hint": self.step_hint,
            "eval_batch_size": self.eval_batch_size,
            "loss_type": self.loss_type.name,
            "metrics": self.metrics,
            "input_keys": list(self.input_keys),
            "model_config": dict(self.model_config),
            "targets_source": self.targets_source,
        }


def _rebuild_spec(kwargs: dict[str, Any]) -> WorkloadSpec:
    return WorkloadSpec(**kwargs)


def variant(
    base: WorkloadSpec,
    name: str,
    *,
    validation_target: float | None,
    test_target: float | None,
    model_config: Mapping[str, Any] | None = None,
    **overrides: Any,
) -> WorkloadSpec:
    """A variant of `base`: `model_config` entries are merged into the base's; other fields replace.

    A variant must bring its own targets, found by its own target-setting runs: until then pass
    `None` for both, and the registry offers it to `algobench set-targets` only. A variant gets its
    own eval period (from its own recorded reference time, else from its budget), unless it names
    one.
    """
    config = {**base.model_config, **(model_config or {})}
    overrides.setdefault("eval_period_sec", None)
    overrides.setdefault("snapshot_period_sec", None)
    return dataclasses.replace(
        base,
        name=name,
        base=base.name,
        model_config=config,
        validation_target=math.nan if validation_target is None else validation_target,
        test_target=math.nan if test_target is None else test_target,
        **overrides,
    )
