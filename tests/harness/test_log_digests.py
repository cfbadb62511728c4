"""The runner's logs carry a digest chain that stays valid through resumes (docs/integrity.md):
a trial killed at step 8 and resumed, from its last checkpoint or from an older one (rows set
aside), still verifies under its plan's key; an event the executor logs after meta.json too.

Driven by the fake workload and clock of tests/harness/test_faults.py (evals at steps 3, 6, ...),
in a folder laid out as a plan's trial, with a plan.json that lists it and the plan's key."""

from __future__ import annotations

import json
import shutil

import pytest

from harness import digests, integrity
from harness.logs import TrialLog, read_json, read_trial
from harness.runner import TrialRunner
from tests.harness.fakes import FakeBackend, FakeClock, fake_task, make_spec, make_splits, make_submission
from tests.harness.test_faults import SPEC


def task_under(out):
    return fake_task(out, hyperparameters={"learning_rate": 0.1})


def run(out, submission, clock):
    """Run (or resume) the trial `task_under(out)`; return its meta and logs."""
    task = task_under(out)
    trial = TrialRunner(task, make_spec(**SPEC), submission, FakeBackend(clock),
                        splits=make_splits(), time_fn=clock, calibrate=False)
    return trial.run(), read_trial(task.folder)


@pytest.fixture
def out(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    folder = task_under(out).folder
    (out / "plan.json").write_text(json.dumps({"trials": [
        {"folder": folder.relative_to(out).as_posix(), "hyperparameters": {"learning_rate": 0.1}}]}))
    digests.ensure_key(out)
    return out


def killed_at_step_8(out):
    clock = FakeClock()
    with pytest.raises(KeyboardInterrupt):
        run(out, make_submission(clock, interrupt_at=8), clock)


def test_a_finished_trial_verifies_under_its_plans_key(out):
    folder = task_under(out).folder
    clock = FakeClock()
    meta, logs = run(out, make_submission(clock), clock)
    assert meta["status"] == "completed"
    assert read_json(folder / "meta.json")["integrity"]["scheme"] == "hmac-sha256"
    assert integrity.verify_trial(folder) == integrity.Verdict("verified")


@pytest.mark.parametrize("damage", ["none", "latest_checkpoint_gone"])
def test_a_resumed_trial_still_verifies(out, damage):
    folder = task_under(out).folder
    killed_at_step_8(out)
    if damage == "latest_checkpoint_gone":  # resumes from step 3: the step-6 row is set aside
        shutil.rmtree(folder / "checkpoint" / "step_00000006")
    clock = FakeClock()
    meta, logs = run(out, make_submission(clock), clock)
    assert meta["status"] == "completed"
    assert integrity.verify_trial(folder) == integrity.Verdict("verified")
    TrialLog.resume(folder).add_event("interrupted", reason="the executor's, after meta.json")
    assert integrity.verify_trial(folder) == integrity.Verdict("verified")


def test_a_trial_outside_a_plan_has_a_plain_chain_and_is_unverified(tmp_path):
    folder = task_under(tmp_path / "trial").folder
    clock = FakeClock()
    run(tmp_path / "trial", make_submission(clock), clock)
    verdict = integrity.verify_trial(folder)
    assert verdict.status == "unverified" and "not under a plan" in verdict.reason
    rows = (folder / "eval_measurements.csv").read_text()
    assert "\n3," in rows
    (folder / "eval_measurements.csv").write_text(rows.replace("\n3,", "\n4,", 1))  # step 3 -> 4
    assert integrity.verify_trial(folder).status == "rejected"
