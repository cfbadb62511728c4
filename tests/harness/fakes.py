"""A framework-free workload, backend and submission driven by a fake clock, for runner tests.

The model is one number q (its 'quality'): an example (target t, position u in [0, 1)) is classified
correctly when u < q, so accuracy equals q exactly. The submission raises q by `gain` per step and
advances the fake clock by `step_cost` seconds; evals cost `eval_cost` per batch.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from harness.task import TrialTask
from workloads.spec import LossType, WorkloadSpec


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_spec(**overrides) -> WorkloadSpec:
    fields = dict(
        name="fake", family="fake", description="fake", data_source="none", input_shape=(2,),
        num_outputs=2, loss_type=LossType.SOFTMAX_CROSS_ENTROPY, target_metric="accuracy",
        lower_is_better=False, validation_target=0.55, test_target=0.5, max_runtime_sec=100.0,
        eval_period_sec=3.0, step_hint=20, eval_batch_size=10)
    fields.update(overrides)
    return WorkloadSpec(**fields)


def make_splits(n: int = 20) -> dict:
    u = (np.arange(n) + 0.5) / n
    targets = (np.arange(n) % 2).astype(np.int32)
    inputs = np.stack([targets.astype(np.float32), u.astype(np.float32)], axis=1)
    return {s: {"inputs": inputs.copy(), "targets": targets.copy()} for s in ("train", "validation", "test")}


def fake_task(out, *, submission: str = "fake", ruleset: str = "external", study: int = 0,
              hyperparameters: dict | None = None) -> TrialTask:
    """A trial of the fake workload (`make_spec`) written under `out`, in `task.folder`."""
    return TrialTask(str(Path(out) / submission), "fake", "fake", ruleset, study, 0, 0,
                     dict(hyperparameters or {}), str(out))


class FakeWorkload:
    framework = "fake"

    def __init__(self, spec, clock, eval_cost):
        self.spec, self.clock, self.eval_cost = spec, clock, eval_cost
        self.model_params_types = {"q": "weight"}
        self.step_hint = spec.step_hint

    def init_model_fn(self, rng):
        return {"q": np.zeros(1)}, None

    def to_device(self, batch):
        return batch

    def eval_outputs(self, params, model_state, batch):
        self.clock.advance(self.eval_cost)
        inputs = batch["inputs"]
        targets, u = inputs[:, 0].astype(int), inputs[:, 1]
        correct = u < params["q"][0]
        predicted = np.where(correct, targets, 1 - targets)
        return np.eye(2)[predicted] * 5.0

    def param_signature(self, params):
        return (("q", params["q"].shape),)

    def to_canonical(self, params, model_state):
        return {"q": params["q"]}

    def from_canonical(self, values):
        return {"q": values["q"].copy()}, None


class FakeBackend:
    def __init__(self, clock, eval_cost=0.1):
        self.clock, self.eval_cost = clock, eval_cost
        self.syncs = 0

    def import_submission_libraries(self):
        pass

    def make_workload(self, spec):
        return FakeWorkload(spec, self.clock, self.eval_cost)

    def make_rng(self, seed):
        return seed

    def sync(self, tree=None):
        self.syncs += 1

    def step_marker(self, params):
        return None

    def wait(self, marker):
        pass

    def all_finite(self, params):
        return bool(np.isfinite(params["q"]).all())

    def save_optimizer_state(self, state, folder):
        (folder / "opt.pkl").write_bytes(pickle.dumps(state))

    def load_optimizer_state(self, template, folder):
        return pickle.loads((folder / "opt.pkl").read_bytes())


def make_submission(clock, *, step_cost=1.0, init_cost=0.0, select_cost=0.0, gain=0.1,
                    nan_at=None, complete_at=None, raise_at=None, interrupt_at=None,
                    prepare_cost=None):
    """A submission module (as a namespace) whose functions advance the fake clock."""

    def get_batch_size(workload_name):
        return 4

    def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
        clock.advance(init_cost)
        return {"count": 0}

    def data_selection(workload, input_queue, optimizer_state, current_param_container,
                       model_state, hyperparameters, global_step, rng):
        clock.advance(select_cost)
        return next(input_queue)

    def update_params(workload, current_param_container, current_params_types, model_state,
                      hyperparameters, batch, loss_type, optimizer_state, eval_results,
                      global_step, rng, train_state):
        if interrupt_at is not None and global_step == interrupt_at:
            raise KeyboardInterrupt("simulated kill")
        if raise_at is not None and global_step == raise_at:
            raise RuntimeError("submission bug")
        if complete_at is not None and global_step == complete_at:
            from harness.spec import TrainingCompleteError

            raise TrainingCompleteError()
        clock.advance(step_cost)
        q = current_param_container["q"] + gain
        if nan_at is not None and global_step == nan_at:
            q = q * np.nan
        return {"count": optimizer_state["count"] + 1}, {"q": q}, model_state

    functions = dict(get_batch_size=get_batch_size, init_optimizer_state=init_optimizer_state,
                     data_selection=data_selection, update_params=update_params)
    if prepare_cost is not None:
        def prepare_for_eval(workload, current_param_container, current_params_types, model_state,
                             hyperparameters, loss_type, optimizer_state, eval_results,
                             global_step, rng):
            clock.advance(prepare_cost)
            return optimizer_state, current_param_container, model_state

        functions["prepare_for_eval"] = prepare_for_eval
    return SimpleNamespace(**functions)
