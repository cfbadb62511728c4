"""`tune --executor slurm` through a real one-node Slurm cluster (the `slurm_cluster` fixture,
tests/harness/conftest.py): a plan runs as a job array and scores like the local executor's, a
job requeued mid-trial resumes from its checkpoint with its clock, and a job over its time limit
is recorded as interrupted and resumes on the next run. Skipped where Slurm cannot run (not root,
not installed: `scripts/slurm_cluster.sh install`)."""

from __future__ import annotations

import dataclasses
import io
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from harness import study
from algobench.cli import main
from harness.executors import PlanInterrupted
from harness.logs import read_events, read_trial
from harness.submitit_executor import SubmititExecutor
from tests.harness.tuning_submissions import REPO, make_submission

pytest.importorskip("submitit")
SLOW = {"mode": "slow", "learning_rate": 1e-7}  # sleeps each step; never reaches the target


def folder(out: Path, trial: int) -> Path:
    return out / "modal" / "external" / "jax" / "smoke" / "study_0" / f"trial_{trial}"


def events(out: Path, trial: int = 0) -> list[dict]:
    return read_events(folder(out, trial) / "events.jsonl")


def sacct(job: str, settle_s: float = 60) -> list[dict[str, str]]:
    """The job's records (one per run: a requeued job has two), array tasks as `ID_INDEX`, once
    accounting has caught up with the jobs' ends (slurmdbd records a state a moment after it)."""
    deadline = time.time() + settle_s
    records = _sacct(job)
    while any(r["State"] in ("PENDING", "RUNNING") for r in records) and time.time() < deadline:
        time.sleep(1)
        records = _sacct(job)
    return records


def _sacct(job: str) -> list[dict[str, str]]:
    text = subprocess.run(["sacct", "-j", job, "-X", "--duplicates", "--parsable2",
                           "-o", "JobID,State,ExitCode"],
                          capture_output=True, text=True, check=True).stdout
    names, *lines = text.splitlines()
    return [dict(zip(names.split("|"), line.split("|"))) for line in lines]


def job_id(out: Path) -> str:
    """The Slurm job id of the plan's only submission (submitit names its files after it)."""
    (pickle,) = (out / "submitit").glob("*_submission.sh")
    return pickle.name.split("_")[0]


def wait_for_checkpoint(trial: Path, limit_s: float = 240) -> None:
    deadline = time.time() + limit_s
    while time.time() < deadline:
        events = trial / "events.jsonl"
        if events.exists() and any(e["event"] == "checkpoint" for e in read_events(events)):
            return
        time.sleep(0.2)
    raise AssertionError(f"no checkpoint in {trial} after {limit_s} s")


def test_a_tune_plan_runs_as_a_job_array_and_scores_like_the_local_executor(
        slurm_cluster, tmp_path, monkeypatch, capsys):
    modes = [{"mode": "ok", "stop_at": 20}, {"mode": "ok", "stop_at": 30}, {"mode": "raise"}]
    submission = make_submission(tmp_path, modes, frameworks=("jax",))
    monkeypatch.chdir(tmp_path)  # a relative --out: the jobs' results must land here too
    args = ["tune", str(submission), "--workloads", "smoke", "--framework", "jax",
            "--studies", "1", "--trials", "3", "--parallel", "2"]
    assert main([*args, "--executor", "slurm", "--threads", "1", "--out", "slurm"]) == 1
    printed = capsys.readouterr().out
    assert main([*args, "--executor", "local", "--out", "local"]) == 1

    job = job_id(tmp_path / "slurm")
    records = sacct(job)  # one job array, one task per trial
    assert sorted(r["JobID"] for r in records) == [f"{job}_0", f"{job}_1", f"{job}_2"]
    assert {r["State"] for r in records} == {"COMPLETED"}
    assert f"(job {job}_0)" in printed and "3/3 done, 0 running, 1 failed" in printed
    for t in range(3):  # each task's output lands beside the plan, under submitit/
        log = (tmp_path / "slurm" / "submitit" / f"{job}_{t}_0_log.out").read_text()
        assert f"JobEnvironment(job_id={job}_{t}," in log
    for t in range(3):
        on_slurm = read_trial(folder(tmp_path / "slurm", t))
        local = read_trial(folder(tmp_path / "local", t))
        assert on_slurm["hparams"] == local["hparams"]
        for key in ("status", "stop_reason", "seed", "budget_sec"):
            assert on_slurm["meta"][key] == local["meta"][key], key
        assert on_slurm["meta"]["hardware"]["cores_used"] == 1  # --threads 1: its Slurm CPUs
        if on_slurm["meta"]["status"] == "completed":
            assert on_slurm["meta"]["final"]["global_step"] == local["meta"]["final"]["global_step"]
            assert on_slurm["evals"][-1]["global_step"] == local["evals"][-1]["global_step"]
        else:
            assert "RuntimeError: broken on purpose" in on_slurm["meta"]["error"]


def test_a_requeued_job_resumes_from_its_checkpoint_with_its_clock(slurm_cluster, tmp_path):
    submission = make_submission(tmp_path, [{**SLOW, "sleep": 0.05, "stop_at": 2000}],
                                 frameworks=("jax",))
    out = tmp_path / "out"
    tune = subprocess.Popen(
        [sys.executable, "-m", "algobench.cli", "tune", str(submission), "--workloads", "smoke",
         "--framework", "jax", "--studies", "1", "--trials", "1", "--executor", "slurm",
         "--threads", "1", "--out", str(out)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for_checkpoint(folder(out, 0))
        job = job_id(out)
        subprocess.run(["scontrol", "requeue", job], check=True)  # as a preemption does
        printed, _ = tune.communicate(timeout=480)
    finally:
        tune.kill()
    assert tune.returncode == 0, printed
    assert [r["State"] for r in sacct(job)] == ["REQUEUED", "COMPLETED"]
    trial = read_trial(folder(out, 0))
    assert (trial["meta"]["status"], trial["meta"]["stop_reason"]) == ("completed", "budget")
    counts = [r["preemption_count"] for r in trial["evals"]]
    print(f"requeue test: preemption_count {max(counts)} in the last eval rows")
    assert counts == sorted(counts) and set(counts) == {0, 1}
    assert [e["event"] for e in events(out)].count("resume") == 1
    scores = [r["score"] for r in trial["evals"]]  # the clock went on from the checkpoint
    assert scores == sorted(scores) and scores[-1] >= trial["meta"]["budget_sec"]


def test_a_job_over_its_time_limit_is_recorded_as_such_and_resumes_on_the_next_run(
        slurm_cluster, tmp_path):
    # about 80 s of training (0.2 s a step, 400 steps) in a job with a 5-minute limit, cut to
    # one minute once the trial has checkpointed (Slurm's signal 90 s before the limit then
    # comes at once; submitit takes it for a time-out, as for any limit of 10 minutes or less),
    # and no requeue at the limit: the job stops there, the next run finishes the trial, without
    # the sleeps (`fast_after`: the file is made once the first job has stopped)
    fast = tmp_path / "fast"
    submission = make_submission(tmp_path, [{**SLOW, "sleep": 0.2, "stop_at": 400,
                                             "fast_after": str(fast)}], frameworks=("jax",))
    out = tmp_path / "out"
    plan = study.build_plan(submission, ["smoke"], ["jax"], out=out, studies=1, trials=1)
    study.write_plan(plan)
    tasks = [dataclasses.replace(t, spec_overrides={"max_runtime_sec": 600.0}) for t in plan.tasks]
    limited = SubmititExecutor(out / "submitit", cluster="slurm", threads=1, timeout_min=5,
                               timeout_requeues=0)
    stream, raised = io.StringIO(), []

    def run() -> None:
        try:
            limited.run(tasks, study.Progress(plan, stream))
        except PlanInterrupted as err:
            raised.append(err)

    runner = threading.Thread(target=run, daemon=True)
    runner.start()
    wait_for_checkpoint(folder(out, 0))
    job = job_id(out)
    subprocess.run(["scontrol", "update", f"JobId={job}", "TimeLimit=1"], check=True)
    runner.join(timeout=300)
    assert not runner.is_alive() and len(raised) == 1
    stopped = read_trial(folder(out, 0))
    assert stopped["meta"]["status"] == "running"  # not failed: resumable
    assert f"job {job} reached its time limit" in stopped["meta"]["interrupted"]
    assert f"stopped modal/external/jax/smoke/study_0/trial_0: job {job}" in stream.getvalue()
    assert "interrupted" in [e["event"] for e in events(out)]

    fast.touch()
    unlimited = SubmititExecutor(out / "submitit", cluster="slurm", threads=1)
    progress = study.Progress(plan, io.StringIO())
    unlimited.run(tasks, progress)
    trial = read_trial(folder(out, 0))
    assert (trial["meta"]["status"], trial["meta"]["stop_reason"]) == ("completed",
                                                                       "training_complete")
    assert trial["meta"]["final"]["global_step"] == 400
    assert "interrupted" not in trial["meta"]
    assert {r["preemption_count"] for r in trial["evals"]} == {0, 1}
    assert progress.counts() == {"total": 1, "done": 1, "running": 0, "failed": 0}


def test_a_job_that_slurm_killed_at_its_time_limit_leaves_its_trial_resumable(
        tmp_path, monkeypatch):
    # no cluster needed: submitit's job as Slurm leaves it when it kills a job at its time limit
    # before submitit could act (no result file; sacct says TIMEOUT)
    class KilledJob:
        job_id, state = "7_0", "TIMEOUT"
        paths = type("Paths", (), {"result_pickle": tmp_path / "absent.pkl"})()

        def done(self):
            return True

        def stderr(self):
            return "out of memory"

    class Executor:
        def map_array(self, function, arguments):
            return [KilledJob() for _ in arguments]

    submission = make_submission(tmp_path, [{**SLOW, "sleep": 0.0}], frameworks=("jax",))
    out = tmp_path / "out"
    plan = study.build_plan(submission, ["smoke"], ["jax"], out=out, studies=1, trials=1)
    executor = SubmititExecutor(out / "submitit", cluster="slurm", poll_s=0.01)
    monkeypatch.setattr(executor, "_executor", lambda tasks: Executor())
    progress = study.Progress(plan, io.StringIO())
    with pytest.raises(PlanInterrupted):
        executor.run(plan.tasks, progress)
    meta = read_trial(folder(out, 0))["meta"]
    assert meta["status"] == "running"
    assert meta["interrupted"] == "job 7_0 reached its time limit (state TIMEOUT)"
    assert progress.counts() == {"total": 1, "done": 0, "running": 0, "failed": 0}

    # the next run's job dies hard: a failure, whatever the run before said
    KilledJob.job_id, KilledJob.state = "8_0", "OUT_OF_MEMORY"
    executor.run(plan.tasks, progress)
    meta = read_trial(folder(out, 0))["meta"]
    assert (meta["status"], "interrupted" in meta) == ("failed", False)
    assert meta["error"].splitlines()[-1] == "job 8_0 died without a result (state OUT_OF_MEMORY)"


def test_the_leaderboard_runs_through_the_same_executor(slurm_cluster, tmp_path, capsys):
    """`algobench leaderboard --executor slurm`: its trials are one job array, and it scores them."""
    out = tmp_path / "board"
    assert main(["leaderboard", "--protocol", "tiny", "--submissions", "nadamw", "--workloads",
                 "smoke", "--executor", "slurm", "--threads", "1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    records = sacct(job_id(out))
    assert len(records) == 2 and {r["State"] for r in records} == {"COMPLETED"}
    assert "algobench leaderboard: external tuning, pytorch entries" in printed
    assert (out / "trials.csv").exists() and (out / "scores" / "external" / "report.html").exists()
