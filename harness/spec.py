"""The public submission API: what a submission imports from the harness.

Names follow AlgoPerf (`algoperf.spec`) so that people who know AlgoPerf find what they expect:
`ForwardPassMode`, `LossType`, `ParameterType`, `TrainingCompleteError`, the five submission
functions and their keyword arguments. A submission may import this module and nothing else from
`harness`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Iterator

# The enums live with the workload specs (harness depends on workloads, never the reverse).
from workloads.spec import ForwardPassMode, LossType, ParameterType, ShapeTuple  # noqa: F401

# The global batch size of the shipped baselines per workload (`submissions.common` gives them to
# its submissions); AlgoPerf's files have theirs scaled from it (docs/algoperf.md).
BASELINE_BATCH_SIZES = MappingProxyType({"smoke": 64, "gnn": 64, "dlrm": 1024, "lm": 16, "unet": 32,
                                         "vit": 64, "deepspeech": 32, "conformer": 32})
DEFAULT_BASELINE_BATCH_SIZE = 128


def baseline_batch_size(workload_name: str) -> int:
    return BASELINE_BATCH_SIZES.get(workload_name, DEFAULT_BASELINE_BATCH_SIZE)


# The reference baseline's step budget, in step hints, when targets are set (algobench/targets.py),
# and where the shipped baselines end training (`submissions.common.data_selection`): the schedule
# ends at one step hint, and the steps after it, at learning rate 0, move only batch-norm running
# averages, which settle to the final parameters. A target is what the baseline reaches within it.
BASELINE_STEP_BUDGET = 1.2


def baseline_step_budget(step_hint: int) -> int:
    """`BASELINE_STEP_BUDGET` step hints, in steps: where a baseline's training ends."""
    return math.ceil(BASELINE_STEP_BUDGET * step_hint)


class TrainingCompleteError(Exception):
    """Raised by a submission to end its trial early (it counts as a normal end, with a final eval)."""


class Hyperparameters(Mapping):
    """An immutable mapping of hyperparameter values with attribute access (`hp.learning_rate`).

    Unknown names raise AttributeError naming the known ones; assignment raises TypeError.
    """

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, Any] | None = None):
        object.__setattr__(self, "_values", MappingProxyType(dict(values or {})))

    def __getattr__(self, name: str) -> Any:
        values = object.__getattribute__(self, "_values")
        try:
            return values[name]
        except KeyError:
            raise AttributeError(
                f"hyperparameter {name!r} is not set; known: {sorted(values)}"
            ) from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise TypeError("hyperparameters are immutable")

    def __delattr__(self, name: str) -> None:
        raise TypeError("hyperparameters are immutable")

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Hyperparameters({dict(self._values)!r})"

    def __reduce__(self):
        return (Hyperparameters, (dict(self._values),))

    def _asdict(self) -> dict[str, Any]:
        """A plain, mutable copy (AlgoPerf's namedtuple spelling)."""
        return dict(self._values)


class TrainState(Mapping):
    """A read-only view of the trial's clock and progress, handed to `update_params`.

    Keys (AlgoPerf's): `accumulated_submission_time`, `max_allowed_runtime_sec` (this ruleset's
    budget), `remaining_time`, `last_eval_time` (submission time of the last eval),
    `next_eval_time`, `validation_goal_reached`, `test_goal_reached`, `training_complete`,
    `global_step`. Values are as of the start of the current step; the view cannot be written.
    """

    __slots__ = ("_source",)

    def __init__(self, source: Mapping[str, Any]):
        object.__setattr__(self, "_source", source)

    def __getitem__(self, key: str) -> Any:
        return self._source[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._source)

    def __len__(self) -> int:
        return len(self._source)

    def __setattr__(self, name: str, value: Any) -> None:
        raise TypeError("train_state is read-only")

    def __repr__(self) -> str:
        return f"TrainState({dict(self._source)!r})"


# The submission functions, with the keyword arguments the runner passes (AlgoPerf's).
REQUIRED_FUNCTIONS: dict[str, tuple[str, ...]] = {
    "get_batch_size": ("workload_name",),
    "init_optimizer_state": (
        "workload",
        "model_params",
        "model_state",
        "hyperparameters",
        "rng",
    ),
    "update_params": (
        "workload",
        "current_param_container",
        "current_params_types",
        "model_state",
        "hyperparameters",
        "batch",
        "loss_type",
        "optimizer_state",
        "eval_results",
        "global_step",
        "rng",
        "train_state",
    ),
    "data_selection": (
        "workload",
        "input_queue",
        "optimizer_state",
        "current_param_container",
        "model_state",
        "hyperparameters",
        "global_step",
        "rng",
    ),
}
OPTIONAL_FUNCTIONS: dict[str, tuple[str, ...]] = {
    "prepare_for_eval": (
        "workload",
        "current_param_container",
        "current_params_types",
        "model_state",
        "hyperparameters",
        "loss_type",
        "optimizer_state",
        "eval_results",
        "global_step",
        "rng",
    ),
}
