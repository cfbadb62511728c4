"""Faults a trial meets from outside, each resumed or ended with a clear reason and nothing already
logged lost: its process killed alone (kill -9), a damaged checkpoint, a full disk.

The runner's faults are driven by the fake workload and clock (tests/harness/fakes.py): eval
period 3 s, 1 s steps, so evals (and checkpoints) at steps 3, 6, 9, ... of a trial whose target
is out of reach and whose budget is 12 s."""

from __future__ import annotations

import errno
import io
import os
import signal
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from harness import checkpoint, executors, study
from harness.logs import META_FILE, atomic_write_json, read_events, read_json, read_trial
from harness.runner import TrialRunner
from harness.task import TrialTask
from tests.harness.fakes import (FakeBackend, FakeClock, fake_task, make_spec, make_splits,
                                 make_submission)

SPEC = dict(validation_target=2.0, max_runtime_sec=12.0)


def trial_task(tmp_path):
    return fake_task(tmp_path / "trial", hyperparameters={"learning_rate": 0.1})


def run(tmp_path, submission, clock):
    """Run (or resume) the trial `trial_task(tmp_path)`."""
    task = trial_task(tmp_path)
    trial = TrialRunner(task, make_spec(**SPEC), submission, FakeBackend(clock),
                        splits=make_splits(), time_fn=clock, calibrate=False)
    return trial.run(), read_trial(task.folder)


def killed_at_step_8(tmp_path) -> Path:
    """The folder of a trial killed at step 8: eval rows and checkpoints at steps 3 and 6."""
    folder = trial_task(tmp_path).folder
    clock = FakeClock()
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, make_submission(clock, interrupt_at=8), clock)
    assert [r["global_step"] for r in read_trial(folder)["evals"]] == [3, 6]
    return folder


def steps(logs) -> list[int]:
    return [r["global_step"] for r in logs["evals"]]


def events(folder: Path) -> list[dict]:
    return read_events(folder / "events.jsonl")


# -- damaged checkpoints ------------------------------------------------------------------------
def test_a_truncated_checkpoint_falls_back_to_the_one_before(tmp_path):
    folder = killed_at_step_8(tmp_path)
    params = folder / "checkpoint" / "step_00000006" / checkpoint.PARAMS_FILE
    params.write_bytes(params.read_bytes()[:40])  # truncated
    clock = FakeClock()
    meta, logs = run(tmp_path, make_submission(clock), clock)  # no traceback
    assert meta["status"] == "completed" and meta["final"]["global_step"] == 12
    resume = [e for e in events(folder) if e["event"] == "resume"][-1]
    assert resume["checkpoint"] == "step_00000003"
    assert "step_00000006: params.npz truncated" in resume["skipped_checkpoints"][0]
    assert steps(logs) == [3, 6, 9, 12]  # step 6 measured again, from the step-3 checkpoint
    set_aside = [e for e in events(folder) if e["event"] == "rows_set_aside"]
    assert [r["global_step"] for r in set_aside[0]["rows"]] == [6]  # the first step-6 row, kept
    assert set_aside[0]["rows"][0]["preemption_count"] == 0


def test_every_file_of_a_checkpoint_is_checked(tmp_path):
    folder = killed_at_step_8(tmp_path)
    step_6 = folder / "checkpoint" / "step_00000006"
    for name in ("opt.pkl", checkpoint.STATE_FILE):  # the backend's file, the runner's own
        original = (step_6 / name).read_bytes()
        (step_6 / name).write_bytes(original[:-3])
        assert checkpoint.choose(folder)[0].name == "step_00000003"
        (step_6 / name).write_bytes(original)
        assert checkpoint.choose(folder) == (step_6, [])


def test_a_latest_pointer_to_a_missing_folder_keeps_the_rows_already_logged(tmp_path):
    folder = killed_at_step_8(tmp_path)
    before = read_trial(folder)["evals"]
    shutil.rmtree(folder / "checkpoint" / "step_00000006")
    clock = FakeClock()
    meta, logs = run(tmp_path, make_submission(clock), clock)
    assert meta["status"] == "completed"
    assert logs["evals"][0] == before[0]  # the step-3 row as first logged, not a new run's
    assert [e["event"] for e in events(folder)][:2] == ["start", "eval"]  # the first run's events
    resume = [e for e in events(folder) if e["event"] == "resume"][-1]
    assert resume["checkpoint"] == "step_00000003"
    assert resume["skipped_checkpoints"] == ["step_00000006: missing"]
    assert [e for e in events(folder) if e["event"] == "rows_set_aside"][0]["rows"] == [before[1]]


def test_without_any_whole_checkpoint_the_trial_restarts_and_keeps_what_it_logged(tmp_path):
    folder = killed_at_step_8(tmp_path)
    before = read_trial(folder)["evals"]
    for step_folder in (folder / "checkpoint").glob("step_*"):
        (step_folder / checkpoint.STATE_FILE).write_text("{")
    clock = FakeClock()
    meta, logs = run(tmp_path, make_submission(clock), clock)
    assert meta["status"] == "completed" and steps(logs) == [3, 6, 9, 12]
    assert {r["preemption_count"] for r in logs["evals"]} == {1}  # the second run of the trial
    log = events(folder)
    assert [e["event"] for e in log].count("start") == 2
    assert log[0]["event"] == "start" and log[1]["event"] == "eval"  # the first run's, kept
    set_aside = [e for e in log if e["event"] == "rows_set_aside"][0]
    assert set_aside["rows"] == before and set_aside["from_step"] == 0


# -- a trial's process killed alone ---------------------------------------------------------------
def _task(tmp_path, trial: int = 0) -> TrialTask:
    return TrialTask(str(tmp_path / "sub"), "smoke", "jax", "external", 0, trial, 0, {},
                           str(tmp_path / "out"))


def _trial_with_checkpoint(tmp_path) -> TrialTask:
    """A trial that logged a start and wrote a checkpoint at step 6, still `running`."""
    task = _task(tmp_path)
    task.folder.mkdir(parents=True)
    atomic_write_json(task.folder / META_FILE, {"status": "running", "workload": "smoke"})
    (task.folder / "events.jsonl").write_text('{"event": "start"}\n')
    checkpoint.save(task.folder, 6, {"q": np.array([0.6])}, {"count": 6}, {"global_step": 6},
                    FakeBackend(FakeClock()))
    return task


def test_a_trial_process_killed_after_a_checkpoint_is_interrupted_not_failed(tmp_path):
    task = _trial_with_checkpoint(tmp_path)
    meta = executors.record_exit(task, -9, "some output")
    assert meta["status"] == "running"
    assert meta["interrupted"] == ("trial process killed by SIGKILL (exit code -9); resumes from "
                                   "its checkpoint step_00000006")
    assert read_json(task.folder / META_FILE) == meta
    assert events(task.folder)[-1]["event"] == "interrupted"
    assert events(task.folder)[-1]["checkpoint"] == "step_00000006"


def test_a_second_kill_at_the_same_checkpoint_fails_the_trial(tmp_path):
    task = _trial_with_checkpoint(tmp_path)
    executors.record_exit(task, -9)
    meta = executors.record_exit(task, -9, "out of memory?")  # no progress since the first kill
    assert (meta["status"], meta["stop_reason"], meta["exit_code"]) == ("failed", "error", -9)
    assert meta["error"].splitlines()[-1] == ("trial process killed by SIGKILL (exit code -9) again "
                                              "at its checkpoint step_00000006; not resumed a "
                                              "second time")


def test_an_exit_code_or_a_kill_before_any_checkpoint_fails_the_trial(tmp_path):
    task = _trial_with_checkpoint(tmp_path)
    assert executors.record_exit(task, 3)["status"] == "failed"  # os._exit(3): the process's choice
    fresh = _task(tmp_path, trial=1)
    fresh.folder.mkdir(parents=True)
    atomic_write_json(fresh.folder / META_FILE, {"status": "running", "workload": "smoke"})
    assert executors.record_exit(fresh, -9)["status"] == "failed"  # nothing to resume from


def _worker_pids(text: str) -> list[int]:
    """The trial processes (harness.worker) whose command line mentions `text`."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if "harness.worker" in cmdline and text in cmdline:
                found.append(int(proc.name))
    return found


def kill_workers_after_a_checkpoint(folder: Path, out: Path) -> tuple[threading.Thread, list[int]]:
    """A started thread that, once the trial in `folder` has logged a checkpoint, kill -9s every
    worker process of the plan in `out` (`_worker_pids`), and the list of the pids it killed."""
    killed: list[int] = []

    def kill_after_a_checkpoint():
        deadline = time.time() + 180
        while time.time() < deadline:
            try:
                if any(e["event"] == "checkpoint" for e in events(folder)):
                    for pid in _worker_pids(str(out)):
                        os.kill(pid, signal.SIGKILL)
                        killed.append(pid)
                    return
            except (OSError, ValueError):
                pass
            time.sleep(0.05)

    killer = threading.Thread(target=kill_after_a_checkpoint)
    killer.start()
    return killer, killed


def test_kill_9_of_a_trial_process_alone_resumes_it_on_the_next_run(tmp_path):
    from tests.harness.tuning_submissions import make_submission as make_package

    submission = make_package(tmp_path, [{"mode": "slow", "sleep": 0.02, "stop_at": 300,
                                          "learning_rate": 1e-7}], frameworks=("jax",))
    plan = study.build_plan(submission, ["smoke"], ["jax"], out=tmp_path / "out", studies=1,
                            trials=1)
    study.write_plan(plan)
    folder = plan.tasks[0].folder
    killer, killed = kill_workers_after_a_checkpoint(folder, plan.out)
    executor = executors.LocalExecutor(1, poll_s=0.05)
    with pytest.raises(executors.PlanInterrupted):
        executor.run(plan.tasks, study.Progress(plan, io.StringIO()))
    killer.join()
    assert killed
    meta = read_trial(folder)["meta"]
    assert meta["status"] == "running" and "killed by SIGKILL" in meta["interrupted"]
    logged = read_trial(folder)["evals"]

    progress = study.Progress(plan, io.StringIO())
    executor.run(plan.tasks, progress)  # the same plan again
    resumed = read_trial(folder)
    assert resumed["meta"]["status"] == "completed"
    assert "resume" in [e["event"] for e in events(folder)]
    assert resumed["evals"][:len(logged)] == logged  # nothing logged before the kill lost
    assert {r["preemption_count"] for r in resumed["evals"]} == {0, 1}
    assert progress.counts()["failed"] == 0


# -- a full disk ----------------------------------------------------------------------------------
def test_a_full_disk_stops_the_trial_resumable_not_failed(tmp_path, monkeypatch):
    folder = trial_task(tmp_path).folder
    real_savez, calls = np.savez, []

    def savez_on_a_full_disk(path, **arrays):
        calls.append(path)
        if len(calls) == 2:  # the second checkpoint
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real_savez(path, **arrays)

    monkeypatch.setattr(checkpoint.np, "savez", savez_on_a_full_disk)
    clock = FakeClock()
    with pytest.raises(OSError) as raised:
        run(tmp_path, make_submission(clock), clock)
    assert raised.value.errno == errno.ENOSPC
    logged = read_trial(folder)
    assert logged["meta"]["status"] == "running"  # not failed: the submission did nothing wrong
    assert steps(logged) == [3, 6]
    monkeypatch.setattr(checkpoint.np, "savez", real_savez)  # space freed
    clock = FakeClock()
    meta, logs = run(tmp_path, make_submission(clock), clock)
    assert meta["status"] == "completed" and steps(logs) == [3, 6, 9, 12]
    # the step-6 checkpoint was never written: resumed from step 3, the step-6 row measured again
    assert [e for e in events(folder) if e["event"] == "resume"][0]["checkpoint"] == "step_00000003"
    assert logs["evals"][0] == logged["evals"][0]
    set_aside = [e for e in events(folder) if e["event"] == "rows_set_aside"][0]
    assert set_aside["rows"] == logged["evals"][1:]


def _mount_tmpfs(where: Path, size: str) -> str | None:
    """Mount a tmpfs of `size` at `where`; why not, or None."""
    if os.geteuid() != 0:
        return "mounting a tmpfs needs root"
    where.mkdir(parents=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                             capture_output=True, text=True)
    return None if mounted.returncode == 0 else f"mount failed: {mounted.stderr.strip()}"


def _fill(folder: Path) -> Path:
    filler = folder / "filler"
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError as err:
            assert err.errno == errno.ENOSPC
    return filler


def test_algobench_run_on_a_full_tmpfs_ends_with_a_clear_reason_and_resumes(tmp_path):
    from tests.harness.tuning_submissions import REPO, make_submission as make_package

    disk = tmp_path / "disk"
    why_not = _mount_tmpfs(disk, "16m")
    if why_not:
        pytest.skip(why_not)
    try:
        submission = make_package(tmp_path, [{"mode": "slow", "sleep": 0.02, "stop_at": 300,
                                              "learning_rate": 1e-7}], frameworks=("jax",))
        args = [sys.executable, "-m", "algobench.cli", "run", str(submission), "--workload", "smoke",
                "--framework", "jax", "--out", str(disk / "out")]
        folder = disk / "out" / "modal" / "external" / "jax" / "smoke" / "study_0" / "trial_0"
        trial = subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True)
        deadline = time.time() + 180
        while time.time() < deadline and trial.poll() is None:
            try:
                if any(e["event"] == "checkpoint" for e in events(folder)):
                    break
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        filler = _fill(disk)
        _, stderr = trial.communicate(timeout=180)
        assert trial.returncode == 1, stderr
        assert "Traceback" not in stderr
        assert stderr.strip().splitlines()[-1].startswith(
            f"algobench: error: {folder}: no space left on the device")
        assert stderr.strip().endswith("free space and run the same command again")
        assert read_json(folder / META_FILE)["status"] == "running"
        logged = read_trial(folder)["evals"]

        filler.unlink()  # space freed: the same command resumes the trial
        again = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=300)
        assert again.returncode == 0, again.stderr
        resumed = read_trial(folder)
        assert resumed["meta"]["status"] == "completed"
        assert resumed["evals"][:len(logged)] == logged
        assert "resume" in [e["event"] for e in events(folder)]
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


def test_a_trial_process_that_found_the_disk_full_is_interrupted_under_tune(tmp_path):
    task = _trial_with_checkpoint(tmp_path)
    meta = executors.record_exit(task, executors.EXIT_DISK_FULL, "whatever it printed")
    assert meta["status"] == "running"
    assert meta["interrupted"] == (f"no space left on the device for {task.folder}; free space and "
                                   "run the same command again")
    assert read_json(task.folder / META_FILE)["interrupted"] == meta["interrupted"]
