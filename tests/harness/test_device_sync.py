"""When the runner waits for the device (docs/performance.md#where-the-runner-waits-for-the-device):
not after every step, but before every eval, snapshot and the trial's end, and before a budget or
eval decision that an unsynced clock reading would take too early; a diverged trial ends at the
first sync after the step that made its parameters non-finite, and no eval or snapshot is taken of
them.

`QueuedBackend` is a fake device that runs a step's work (`device_cost` seconds) only when the
host waits for it: at `sync`, or when a step marker queued behind that work is waited for. Host and
device never overlap, so a trial's submission time after k steps is k x (host + device cost)
whenever the runner has synced; an unsynced reading is early by the step still queued."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from harness.logs import TIME_ACCOUNTS, read_trial
from harness.runner import TrialRunner
from tests.harness.fakes import (FakeBackend, FakeClock, fake_task, make_spec, make_splits,
                                 make_submission)


class QueuedBackend(FakeBackend):
    def __init__(self, clock, device_cost: float):
        super().__init__(clock)
        self.device_cost, self.queued, self.done = device_cost, 0.0, 0.0
        self.checks = 0  # finite checks of the parameters (`all_finite`)

    def queue(self) -> None:
        self.queued += self.device_cost

    def wait_for(self, queued: float) -> None:
        if queued > self.done:
            self.clock.advance(queued - self.done)
            self.done = queued

    def sync(self, tree=None):
        super().sync(tree)
        self.wait_for(self.queued)

    def step_marker(self, params):
        return self.queued  # the device work queued so far

    def wait(self, marker):
        if marker is not None:
            self.wait_for(marker)

    def all_finite(self, params):
        self.checks += 1
        return super().all_finite(params)


def queuing(submission, backend: QueuedBackend):
    """`submission` whose every step also queues `backend.device_cost` of device work."""
    inner = submission.update_params

    def update_params(**kwargs):
        result = inner(**kwargs)
        backend.queue()
        return result

    return SimpleNamespace(**{**vars(submission), "update_params": update_params})


def run(tmp_path, *, folder, sync_every_step=False, host_cost=0.5, device_cost=0.5,
        nan_at=None, batched=False, eval_steps=(), **spec_overrides):
    """One fake-device trial: (meta, logs, backend). `batched`: its side takes several steps a
    call, as a submission process does; `backend.ran_per_call` then lists what each `steps` call ran."""
    clock = FakeClock()
    backend = QueuedBackend(clock, device_cost)
    submission = queuing(make_submission(clock, step_cost=host_cost, nan_at=nan_at), backend)
    task = fake_task(tmp_path / folder, hyperparameters={"learning_rate": 0.1})
    trial = TrialRunner(task, make_spec(**spec_overrides), submission, backend,
                        splits=make_splits(), time_fn=clock, calibrate=False,
                        sync_every_step=sync_every_step, eval_steps=eval_steps)
    if batched:
        trial.side.batches_steps, backend.ran_per_call, steps = True, [], trial.side.steps

        def counted(*args, **kwargs):
            done = steps(*args, **kwargs)
            backend.ran_per_call.append(done["ran"])
            return done

        trial.side.steps = counted
    return trial.run(), read_trial(task.folder), backend


def column(rows, name):
    return [row[name] for row in rows]


NO_TARGET = dict(validation_target=math.inf, test_target=math.inf)  # no snapshots: few syncs


@pytest.mark.parametrize("spec", [NO_TARGET, {"validation_target": 2.0}, {}],
                         ids=["no-snapshots", "snapshots", "targets-reached"])
def test_rows_stops_and_times_are_those_of_a_sync_every_step(tmp_path, spec):
    spec = {"max_runtime_sec": 10.0, **spec}
    meta, logs, backend = run(tmp_path, folder="queued", **spec)
    old_meta, old_logs, old_backend = run(tmp_path, folder="every_step", sync_every_step=True, **spec)
    # every eval row's score holds the queued work: 1 s a step (0.5 host + 0.5 device)
    assert column(logs["evals"], "score") == pytest.approx(column(logs["evals"], "global_step"))
    for name in ("global_step", "snapshot", "score", "total_duration", "validation/accuracy"):
        assert column(logs["evals"], name) == pytest.approx(column(old_logs["evals"], name))
    for key in ("global_step", "time_to_target", "total_duration",
                *(f"accumulated_{name}_time" for name in TIME_ACCOUNTS)):
        assert meta["final"][key] == pytest.approx(old_meta["final"][key]), key
    assert meta["stop_reason"] == old_meta["stop_reason"]
    assert old_backend.syncs >= meta["final"]["global_step"]  # one a step, and init's
    if spec.get("validation_target") == math.inf:  # syncs: init's, the first step's, one an eval
        assert backend.syncs <= 2 + len(logs["evals"]) < meta["final"]["global_step"]
    assert backend.checks <= backend.syncs  # the parameters are checked at syncs, not every step


def test_the_budget_stop_is_decided_on_a_synced_reading(tmp_path):
    # unsynced, the reading after step 10 is 9.5 s (its device half still queued): below the
    # budget; synced it is 10.0 s, and the trial stops there, as with a sync every step
    meta, logs, _ = run(tmp_path, folder="budget", max_runtime_sec=10.0, **NO_TARGET)
    assert meta["stop_reason"] == "budget"
    assert meta["final"]["global_step"] == 10
    assert meta["final"]["accumulated_submission_time"] == pytest.approx(10.0)
    assert column(logs["evals"], "global_step") == [3, 6, 9, 10]


def test_a_device_bound_step_is_charged_whole_at_every_eval(tmp_path):
    # the device takes 0.9 of each 1 s step: an eval decided on an unsynced reading would come a
    # step late, and its score would miss the queued 0.9 s
    meta, logs, backend = run(tmp_path, folder="device", host_cost=0.1, device_cost=0.9,
                              max_runtime_sec=10.0, **NO_TARGET)
    assert column(logs["evals"], "global_step") == [3, 6, 9, 10]
    assert column(logs["evals"], "score") == pytest.approx([3.0, 6.0, 9.0, 10.0])
    assert backend.queued == pytest.approx(backend.done)  # nothing left queued at the end


@pytest.mark.parametrize("nan_at", [4, 5])
def test_a_nan_step_ends_the_trial_at_the_next_sync_without_an_eval_of_it(tmp_path, nan_at):
    # step 5 or 6 (global_step 4 or 5 in the submission's count) makes q NaN; the next sync is
    # the one before the eval due after step 6: the trial ends there, with no eval row at step 6
    meta, logs, _ = run(tmp_path, folder="nan", nan_at=nan_at, max_runtime_sec=20.0, **NO_TARGET)
    assert (meta["status"], meta["stop_reason"]) == ("diverged", "diverged")
    assert meta["final"]["global_step"] == 6
    assert column(logs["evals"], "global_step") == [3]
    # the steps after the NaN step are charged to the submission, queued work included
    assert meta["final"]["accumulated_submission_time"] == pytest.approx(6.0)


def test_a_nan_step_ends_the_trial_at_the_next_snapshot_without_keeping_it(tmp_path):
    # snapshots every 1 s of submission time (a step): the sync before the one due after the NaN
    # step ends the trial, so no snapshot holds NaN parameters
    meta, logs, _ = run(tmp_path, folder="nan_snapshot", nan_at=4, max_runtime_sec=20.0,
                        eval_period_sec=10.0, validation_target=2.0)
    assert (meta["status"], meta["stop_reason"]) == ("diverged", "diverged")
    assert meta["final"]["global_step"] == 5
    assert column(logs["evals"], "global_step") == []


@pytest.mark.parametrize("spec", [NO_TARGET, {"validation_target": 2.0}, {}],
                         ids=["no-snapshots", "snapshots", "targets-reached"])
def test_several_steps_a_call_decide_at_the_same_steps_as_one_a_call(tmp_path, spec):
    """A submission process runs several steps a round trip (docs/performance.md#steps-per-call):
    the eval rows, snapshots, stops and times are those of one step a call, in fewer calls."""
    spec = {"max_runtime_sec": 300.0, "eval_period_sec": 100.0, **spec}  # snapshots every 10 s
    meta, logs, backend = run(tmp_path, folder="batched", batched=True, **spec)
    one_meta, one_logs, _ = run(tmp_path, folder="one_a_call", **spec)
    for name in ("global_step", "snapshot", "score", "total_duration", "validation/accuracy"):
        assert column(logs["evals"], name) == pytest.approx(column(one_logs["evals"], name)), name
    for key in ("global_step", "time_to_target", "total_duration", "accumulated_submission_time"):
        assert meta["final"][key] == pytest.approx(one_meta["final"][key]), key
    assert meta["stop_reason"] == one_meta["stop_reason"]
    ran = backend.ran_per_call
    calls = meta["final"]["global_step"] - sum(ran) + len(ran)  # one step a call, and the `steps` calls
    assert max(ran) > 1
    assert calls < 0.6 * meta["final"]["global_step"]  # snapshots 10 steps apart: 5 calls for 10 steps


def test_a_nan_inside_a_call_ends_the_trial_at_the_next_sync(tmp_path):
    meta, logs, backend = run(tmp_path, folder="nan_batched", nan_at=20, batched=True,
                              max_runtime_sec=100.0, eval_period_sec=40.0, **NO_TARGET)
    assert max(backend.ran_per_call) > 1  # the NaN step came inside a call of several
    assert (meta["status"], meta["stop_reason"]) == ("diverged", "diverged")
    assert meta["final"]["global_step"] == 40  # the sync before the eval due after step 40
    assert column(logs["evals"], "global_step") == []


def test_evals_at_given_steps_batch_up_to_each_of_them(tmp_path):
    """With evals at given steps (audits, benchmarks/process_split_overhead.py) a call runs up to
    the next of them, and the rows are those of one step a call."""
    spec = {"max_runtime_sec": 1000.0, "max_steps": 90, **NO_TARGET}
    steps = (7, 40, 90)
    meta, logs, backend = run(tmp_path, folder="batched", batched=True, eval_steps=steps, **spec)
    one_meta, one_logs, _ = run(tmp_path, folder="one_a_call", eval_steps=steps, **spec)
    assert column(logs["evals"], "global_step") == list(steps)
    for name in ("global_step", "score", "validation/accuracy"):
        assert column(logs["evals"], name) == pytest.approx(column(one_logs["evals"], name)), name
    assert meta["final"]["global_step"] == one_meta["final"]["global_step"] == 90
    assert max(backend.ran_per_call) > 10  # far fewer calls than steps
