"""Data parallelism inside a trial reproduces the single-device run: DDP with 2 processes (torchrun,
gloo on the CPU) and JAX with 2 host devices, each against 1, through the local executor.

The trials train NAdamW on `smoke` for 20 steps, then end (TrainingCompleteError); the losses of
their final evaluation depend on every step's parameters, so equal losses mean equal training."""

from __future__ import annotations

import io
import os
import socket
import time
import uuid
from pathlib import Path

import pytest

from harness import sandbox, study
from harness.executors import LocalExecutor, PlanInterrupted, run_task
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


# -- a data-parallel PyTorch trial's submission processes (harness/data_parallel_process.py) ------
UPDATE_ON_RANK_1 = '''

import torch.distributed as _dist

_update = update_params


def update_params(workload, current_param_container, current_params_types, model_state,
                  hyperparameters, batch, loss_type, optimizer_state, eval_results, global_step,
                  rng, train_state):
    args = dict(locals())
    if global_step == 3 and _dist.get_rank() == 1:
        {before}
    optimizer_state, params, model_state = _update(**args)
    if global_step == 3 and _dist.get_rank() == 1:
        {after}
    return optimizer_state, params, model_state
'''


def run_data_parallel(tmp_path, extra: str, spec_overrides: dict | None = None, **point) -> dict:
    """A 2-rank PyTorch trial of NAdamW on `smoke` whose submission module ends with `extra` (which
    may redefine its functions), through the local executor; its `read_trial`."""
    cores = sorted(os.sched_getaffinity(0))[:2]
    if len(cores) < 2:
        pytest.skip("needs 2 cores")
    submission = make_submission(tmp_path, [{"mode": "ok", **point}], frameworks=("pytorch",))
    module = submission / "submission_pytorch.py"
    module.write_text(module.read_text() + extra)
    plan = study.build_plan(submission, ["smoke"], ["pytorch"], out=tmp_path / "results", studies=1,
                            trials=1, devices=2, load_modules=False, spec_overrides=spec_overrides)
    LocalExecutor(parallel=1, cores=cores, gpus=[]).run(plan.tasks, study.Progress(plan, io.StringIO()))
    return read_trial(plan.tasks[0].folder)


def _marked_submission_processes(mark: str) -> list[int]:
    """Live submission processes whose environment holds `mark` (this test's)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if (proc.name.isdigit() and b"harness.submission_process" in (proc / "cmdline").read_bytes()
                    and mark.encode() in (proc / "environ").read_bytes()
                    and (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"):
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def test_the_submission_processes_form_their_own_group_and_only_they_share_the_network(tmp_path):
    """Each rank's submission process is rank RANK of a group of 2 of its own, without torchrun's
    address or the results folder; the batch-size process (rank 0's) cannot reach a listener on
    the host, so its answer is 32, not 16. One trial checks both (a trial costs ~20 s)."""
    if not sandbox.status().available:
        pytest.skip(f"no sandbox on this machine: {sandbox.status().meta}")
    server = socket.create_server(("127.0.0.1", 0))
    results = tmp_path / "results"
    checks = f'''

import os as _os2
import socket as _socket

import torch.distributed as _dist

_init = init_optimizer_state


def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
    env = getattr(_os2, "environ")
    assert _dist.get_world_size() == 2 and _dist.get_rank() == int(env["RANK"]), env.get("RANK")
    assert "MASTER_PORT" not in env and "TORCHELASTIC_RUN_ID" not in env
    assert _os2.listdir({str(results)!r}) == [], "the results folder is visible"
    return _init(workload, model_params, model_state, hyperparameters, rng)


def get_batch_size(workload_name):
    try:
        _socket.create_connection(("127.0.0.1", {server.getsockname()[1]}), timeout=5)
        return 16
    except OSError:
        return 32
'''
    try:
        trial = run_data_parallel(tmp_path, checks, stop_at=5)
    finally:
        server.close()
    meta = trial["meta"]
    assert (meta["status"], meta["stop_reason"]) == ("completed", "training_complete"), meta["error"]
    assert meta["global_batch_size"] == 32
    assert meta["sandbox"].endswith("; " + sandbox.SHARED_NETWORK_NOTE)


def test_a_rank_whose_submission_process_ends_fails_the_trial_promptly(tmp_path, monkeypatch):
    """Rank 1's process alone calls os._exit at step 3: every rank ends the trial with rank 1's
    failure (not rank 0's broken collective), long before the 30 s budget; no process is left."""
    mark = f"algobench-test-{uuid.uuid4().hex}"
    monkeypatch.setenv("ALGOBENCH_TEST_MARK", mark)
    exits = UPDATE_ON_RANK_1.replace("{before}", "_os._exit(3)").replace("{after}", "pass")
    meta = run_data_parallel(tmp_path, exits)["meta"]
    assert (meta["status"], meta["stop_reason"]) == ("failed", "submission_exited"), meta
    assert meta["error"].startswith("rank 1: the submission process exited with code 3"), meta["error"]
    assert meta["final"]["accumulated_submission_time"] < 15.0
    assert not _marked_submission_processes(mark)


def test_a_rank_whose_submission_hangs_ends_the_trial_on_its_budget(tmp_path):
    hangs = UPDATE_ON_RANK_1.replace("{before}", "_time.sleep(3600)").replace("{after}", "pass")
    meta = run_data_parallel(tmp_path, hangs, spec_overrides={"max_runtime_sec": 3.0})["meta"]
    assert (meta["status"], meta["stop_reason"]) == ("completed", "budget"), meta
    assert "killed" in meta["note"], meta["note"]


def test_a_nan_on_one_rank_diverges_every_rank(tmp_path):
    """Rank 1's process alone makes its parameters NaN, outside DDP: the ranks agree on it, so the
    trial ends as diverged on every rank, and none waits on another. The parameters are checked at
    the runner's syncs, which on a real clock come when they come (after step 8 once, under CI's
    load): the trial ends at the first after the NaN step (its 4th), with no eval row of it."""
    poisons = UPDATE_ON_RANK_1.replace("{before}", "pass").replace("{after}", "params = _poison(params)")
    logs = run_data_parallel(tmp_path, poisons)
    meta = logs["meta"]
    assert (meta["status"], meta["stop_reason"]) == ("diverged", "diverged"), meta
    assert meta["final"]["global_step"] >= 4
    assert all(row["global_step"] < 4 for row in logs["evals"])


def test_kill_9_of_a_data_parallel_trial_resumes_it_on_the_next_run(tmp_path, monkeypatch):
    """Every process of a 2-rank trial killed (kill -9) after a checkpoint: their submission
    processes die with them, and the next run restores both ranks' processes from rank 0's
    checkpoint and completes the trial, keeping what was logged."""
    from tests.harness.test_faults import events, kill_workers_after_a_checkpoint

    mark = f"algobench-test-{uuid.uuid4().hex}"
    monkeypatch.setenv("ALGOBENCH_TEST_MARK", mark)
    cores = sorted(os.sched_getaffinity(0))[:2]
    if len(cores) < 2:
        pytest.skip("needs 2 cores")
    submission = make_submission(tmp_path, [{"mode": "slow", "sleep": 0.02, "stop_at": 200,
                                               "learning_rate": 1e-7}],
                                 frameworks=("pytorch",))
    plan = study.build_plan(submission, ["smoke"], ["pytorch"], out=tmp_path / "out", studies=1,
                            trials=1, devices=2)
    study.write_plan(plan)
    folder = plan.tasks[0].folder
    killer, killed = kill_workers_after_a_checkpoint(folder, plan.out)
    executor = LocalExecutor(1, cores=cores, gpus=[], poll_s=0.05)
    with pytest.raises(PlanInterrupted):
        executor.run(plan.tasks, study.Progress(plan, io.StringIO()))
    killer.join()
    assert killed
    logged = read_trial(folder)["evals"]
    assert read_trial(folder)["meta"]["status"] == "running"
    deadline = time.time() + 30  # the submission processes die with their ranks
    while _marked_submission_processes(mark) and time.time() < deadline:
        time.sleep(0.1)
    assert not _marked_submission_processes(mark)

    progress = study.Progress(plan, io.StringIO())
    executor.run(plan.tasks, progress)  # the same plan again
    resumed = read_trial(folder)
    assert (resumed["meta"]["status"], resumed["meta"]["stop_reason"]) == (
        "completed", "training_complete"), resumed["meta"]["error"]
    assert "resume" in [e["event"] for e in events(folder)]
    assert resumed["evals"][:len(logged)] == logged  # nothing logged before the kill lost
    assert resumed["evals"][-1]["global_step"] == 200
    assert progress.counts()["failed"] == 0
