"""The workload adapters' contract, written once: `WorkloadBase` holds what the PyTorch and JAX
workload classes (workloads/pytorch_workload.py, workloads/jax_workload.py) share (the spec's
public numbers under AlgoPerf's attribute names, the family's init rule) and declares, as abstract
methods with their contract, what each implements in its framework. Framework-free."""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
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


class WorkloadBase(ABC):
    """AlgoPerf's workload interface for one `WorkloadSpec`: the framework-free part here, the
    rest declared below and implemented by each framework's adapter. The object a submission
    receives holds the model code and the spec's public numbers, never data."""

    framework: str  # "pytorch" or "jax" (harness.backends.FRAMEWORKS)

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

    # -- model: what a submission calls ---------------------------------------------------------
    @abstractmethod
    def init_model_fn(self, rng: Any, dropout_rate: float | None = None) -> tuple[Any, Any]:
        """(params, model_state): a new model with the workload's explicit initialization for
        `rng`, identical in both frameworks for the same seed (workloads/initializers.py)."""

    @abstractmethod
    def model_fn(self, params: Any, augmented_and_preprocessed_input_batch: dict[str, Any],
                 model_state: Any, mode: Any, rng: Any, update_batch_norm: bool,
                 dropout_rate: float | None = None) -> tuple[Any, Any]:
        """(logits, model_state): the forward pass. In TRAIN mode batch norm uses batch
        statistics and updates its running averages only when `update_batch_norm`; in EVAL mode
        it uses the running averages."""

    @abstractmethod
    def loss_fn(self, label_batch: Any, logits_batch: Any, mask_batch: Any = None,
                label_smoothing: float = 0.0) -> dict[str, Any]:
        """Per-example loss, its masked sum and the number of valid examples (AlgoPerf's dict:
        `per_example`, `summed`, `n_valid_examples`).

        Softmax cross-entropy: one loss per example, or one per position for sequence logits
        (batch, positions, classes) and labels (batch, positions). Sigmoid cross-entropy: one per
        (example, label), each counted (AlgoPerf's OGBG and Criteo), with label smoothing towards
        1/2. Mean absolute / squared error: the mean over each example's elements. CTC: one loss
        per utterance, counted per target character. A mask of shape (batch,) weights whole
        examples; one of the per-example loss's shape, single positions."""

    # -- harness side (never called by a submission) -------------------------------------------
    @abstractmethod
    def eval_outputs(self, params: Any, model_state: Any, batch: dict[str, np.ndarray]) -> np.ndarray:
        """The model's outputs for a whole eval batch, as a host array: the forward in EVAL mode,
        or the family's `predict` where its Model defines one (sequence models that decode at
        eval). Every data-parallel process returns the same array."""

    @abstractmethod
    def param_signature(self, params: Any) -> tuple:
        """Names and shapes of the parameters: what a submission may not change."""

    @abstractmethod
    def to_device(self, batch: dict[str, np.ndarray]) -> dict[str, Any]:
        """A global training batch (NumPy) on the device, as `data_selection` receives it."""

    @abstractmethod
    def to_canonical(self, params: Any, model_state: Any) -> dict[str, np.ndarray]:
        """Parameters and state under the framework-neutral names and layouts both frameworks
        share (`layer/kernel`, ...): what checkpoints hold and parity tests compare."""

    @abstractmethod
    def from_canonical(self, values: dict[str, np.ndarray]) -> tuple[Any, Any]:
        """(params, model_state) from canonical values (`to_canonical`'s inverse)."""
