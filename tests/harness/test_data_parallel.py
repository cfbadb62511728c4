"""Data parallelism inside a trial reproduces the single-device run: DDP with 2 processes (torchrun,
gloo on the CPU) and JAX with 2 host devices, each against 1, through the local executor.

The trials train NAdamW on `smoke` for 20 steps, then end (TrainingCompleteError); the losses of
their final evaluation depend on every step's parameters, so equal losses mean equal training."""

from __future__ import annotations

import io
import os

import pytest

from harness import sandbox, study
from harness.executors import LocalExecutor, run_task
from harness.logs import read_events, read_trial
from tests.harness.tuning_submissions import make_submission

LOSSES = ("train/loss", "validation/loss", "test/loss")


def run_pair(tmp_path, framework: str) -> tuple[dict, dict]:
    """The trial on 1 and on 2 devices. PyTorch's 1-device run is in this process (it needs no
    environment of its own; saves a process start); the others go through the local executor."""
    submission = make_submission(tmp_path, [{"mode": "ok", "stop_at": 20}], frameworks=(framework,))
    plans = [study.build_plan(submission, ["smoke"], [framework], out=tmp_path / f"devices_{n}",
                              studies=1, trials=1, devices=n, load_modules=False)
             for n in (1, 2)]
    tasks = [p.tasks[0] for p in plans]
    cores = sorted(os.sched_getaffinity(0))[:2]
    if len(cores) < 2:
        pytest.skip("needs 2 cores")
    progress = study.Progress(plans[0], io.StringIO())
    if framework == "pytorch":
        run_task(tasks[0])
        LocalExecutor(parallel=1, cores=cores, gpus=[]).run(tasks[1:], progress)
    else:  # side by side, one core each
        LocalExecutor(parallel=2, cores=cores, gpus=[]).run(tasks, progress)
    return tuple(read_trial(t.folder) for t in tasks)


def final_losses(trial: dict) -> dict[str, float]:
    row = trial["evals"][-1]
    assert row["global_step"] == 20
    return {k: row[k] for k in LOSSES}


@pytest.mark.parametrize("framework", ["jax", "pytorch"])
def test_two_devices_reproduce_the_single_device_losses(tmp_path, framework):
    one, two = run_pair(tmp_path, framework)
    for trial in (one, two):
        meta = trial["meta"]
        assert (meta["status"], meta["stop_reason"]) == ("completed", "training_complete"), meta["error"]
    assert one["meta"]["hardware"]["num_devices"] == 1
    assert two["meta"]["hardware"]["num_devices"] == 2
    assert final_losses(one) != pytest.approx({k: 2.3 for k in LOSSES}, abs=0.2)  # it trained
    assert final_losses(two) == pytest.approx(final_losses(one), rel=1e-5)
    # one writer: a single start, and one row per evaluation
    events = [e["event"] for e in read_events(two["folder"] + "/events.jsonl")]
    assert events.count("start") == 1 and events.count("eval") == len(two["evals"])
    if framework == "pytorch":  # torchrun's two ranks, one core each
        assert two["meta"]["hardware"]["cores_used"] == 1
    # every trial's submission ran in processes of its own: DDP in the two ranks' processes
    assert {one["meta"]["isolation"], two["meta"]["isolation"]} == {"separate-process"}
    shared = two["meta"]["sandbox"].endswith("; " + sandbox.SHARED_NETWORK_NOTE)
    assert shared == (framework == "pytorch" and sandbox.status().available)
