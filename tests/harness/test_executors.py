"""Executors end to end on the smoke workload (JAX: the quicker to start): failures lose only their
trial, a killed plan finishes on a re-run without redoing finished trials, and the submitit
executor runs a plan through submitit's local backend (Slurm's code path minus the scheduler)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness import study
from algobench.cli import main
from harness.executors import trial_environment
from harness.logs import read_events, read_trial
from harness.submitit_executor import SubmititExecutor
from harness.task import TrialTask
from tests.harness.tuning_submissions import REPO, make_submission


def folder(out: Path, trial: int, study_index: int = 0) -> Path:
    return out / "modal" / "external" / "jax" / "smoke" / f"study_{study_index}" / f"trial_{trial}"


def test_a_trial_that_raises_goes_nan_or_dies_loses_only_itself(tmp_path, capsys):
    modes = [{"mode": "ok", "stop_at": 20}, {"mode": "raise"}, {"mode": "nan"}, {"mode": "kill"}]
    submission = make_submission(tmp_path, modes, frameworks=("jax",))
    out = tmp_path / "out"
    code = main(["tune", str(submission), "--workloads", "smoke", "--framework", "jax",
                 "--studies", "1", "--trials", "4", "--parallel", "2", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 1  # some trials failed; the plan still ran to its end
    ok, raised, nan, killed = (read_trial(folder(out, t))["meta"] for t in range(4))
    assert (ok["status"], ok["stop_reason"]) == ("completed", "training_complete")
    assert (raised["status"], raised["stop_reason"]) == ("failed", "error")
    assert "RuntimeError: broken on purpose" in raised["error"]
    assert (nan["status"], nan["stop_reason"]) == ("diverged", "diverged")
    # SIGKILL to its own process ends the submission process; the trial process records how
    assert (killed["status"], killed["stop_reason"]) == ("failed", "submission_exited")
    assert "the submission process was killed by SIGKILL during step" in killed["error"]
    assert killed["trial"] == 3 and killed["budget_sec"] == ok["budget_sec"]
    assert "4/4 done, 0 running, 2 failed" in printed
    for t in range(4):  # each trial ran in a process of its own, on one of the two cores
        log = (folder(out, t) / "worker.log").read_text()
        assert log.count("--- ") == 1 and ("cores [0]" in log or "cores [1]" in log)


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and int(proc.name) != os.getpid():
            try:
                if text in (proc / "cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(proc.name))
            except OSError:
                pass
    return found


def test_a_killed_plan_finishes_on_a_rerun_without_redoing_finished_trials(tmp_path, capsys):
    # two trials side by side: a quick one that ends, and a slow one killed after a checkpoint
    modes = [{"mode": "ok", "stop_at": 20}, {"mode": "slow", "sleep": 0.02, "stop_at": 400,
                                                "learning_rate": 1e-7}]  # never reaches the target
    submission = make_submission(tmp_path, modes, frameworks=("jax",))
    out = tmp_path / "out"
    args = ["tune", str(submission), "--workloads", "smoke", "--framework", "jax",
            "--studies", "1", "--trials", "2", "--parallel", "2", "--out", str(out)]
    tune = subprocess.Popen([sys.executable, "-m", "algobench.cli", *args], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    events = folder(out, 1) / "events.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline:
        if ((folder(out, 0) / "meta.json").exists()
                and read_trial(folder(out, 0))["meta"]["status"] == "completed"
                and events.exists() and any(e["event"] == "checkpoint" for e in read_events(events))):
            break
        time.sleep(0.05)
    tune.kill()  # SIGKILL: no chance to clean up
    tune.wait()
    assert read_trial(folder(out, 0))["meta"]["status"] == "completed"
    assert read_trial(folder(out, 1))["meta"]["status"] == "running"
    deadline = time.time() + 10  # the trial process died with the executor
    while _processes_mentioning(str(out)) and time.time() < deadline:
        time.sleep(0.1)
    assert not _processes_mentioning(str(out))
    finished = (folder(out, 0) / "meta.json").read_text()

    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "skip    modal/external/jax/smoke/study_0/trial_0: already completed" in printed
    assert (folder(out, 0) / "meta.json").read_text() == finished  # not redone
    resumed = read_trial(folder(out, 1))
    assert resumed["meta"]["status"] == "completed"
    assert "resume" in [e["event"] for e in read_events(folder(out, 1) / "events.jsonl")]
    assert {r["preemption_count"] for r in resumed["evals"]} == {0, 1}
    assert resumed["evals"][-1]["score"] > resumed["evals"][0]["score"]  # the clock went on


def test_the_submitit_executor_runs_a_plan_with_its_local_backend(tmp_path):
    pytest.importorskip("submitit")
    modes = [{"mode": "ok", "stop_at": 20}, {"mode": "kill"}]
    submission = make_submission(tmp_path, modes, frameworks=("jax",))
    out = tmp_path / "out"
    plan = study.build_plan(submission, ["smoke"], ["jax"], out=out, studies=1, trials=2)
    study.write_plan(plan)
    executor = SubmititExecutor(out / "submitit", cluster="local", poll_s=0.2)
    progress = study.Progress(plan, io.StringIO())
    executor.run(plan.tasks, progress)
    ok, killed = (read_trial(folder(out, t))["meta"] for t in range(2))
    assert ok["status"] == "completed" and ok["stop_reason"] == "training_complete"
    # the submission's SIGKILL to itself ends its own process, not the trial's
    assert killed["status"] == "failed" and killed["stop_reason"] == "submission_exited"
    assert "killed by SIGKILL" in killed["error"]
    assert progress.counts() == {"total": 2, "done": 2, "running": 0, "failed": 1}
    jobs = sorted(p.name for p in (out / "submitit").iterdir())
    # a re-run submits nothing: every trial has ended
    again = study.Progress(plan, io.StringIO())
    executor.run(plan.tasks, again)
    assert again.counts()["done"] == 2 and sorted(p.name for p in (out / "submitit").iterdir()) == jobs


def test_a_jax_trial_gets_one_host_device_per_core_or_its_data_parallel_devices():
    def flags(framework, devices, cores, xla_flags="--xla_cpu_enable_fast_math=false"):
        task = TrialTask("submissions/nadamw", "smoke", framework, "external", 0, 0, 0, {},
                               "results", devices=devices)
        return trial_environment(task, {"XLA_FLAGS": xla_flags}, cores=cores)["XLA_FLAGS"]

    assert flags("jax", 1, 2) == "--xla_cpu_enable_fast_math=false --xla_force_host_platform_device_count=2"
    assert flags("jax", 4, 2).endswith("device_count=4")
    assert flags("jax", 1, 1, "--xla_force_host_platform_device_count=8") == \
        "--xla_force_host_platform_device_count=1"  # replaced, not added
    assert flags("pytorch", 1, 2) == "--xla_cpu_enable_fast_math=false"  # left alone
