"""The cheats of issue 27, each run as a user would run it (`harness.trial.run_trial`, or the CLI
in a process of its own), each test asserting that the cheat gained nothing: the trial failed with
a clear reason, or what it logged is honest.

None of these cheats is seen by the static checker (the first test): they are caught, if at all,
by the design. Those that today's in-process runner does not catch are marked xfail(strict): the
two-process runner of issue 27 (the submission in its own sandboxed process, frozen during evals)
should catch them, and then the mark is removed. docs/integrity.md#cheats lists them.

Each trial is short: `smoke`, a few steps (`max_steps`) with a target no trial can reach, or
stopped by the cheat itself."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from harness import integrity, runner, study
from harness.loader import check_submission
from harness.logs import read_eval_rows, read_json
from harness.task import make_task
from harness.trial import run_trial
from scoring.tables import load_results
from workloads.registry import get_spec

HERE = Path(__file__).parent
REPO = HERE.parents[1]
STEPS = 10
SHORT = {"max_steps": STEPS, "validation_target": 2.0, "test_target": 2.0}  # ends at STEPS
CHEATS = ["rewinds_ledger_via_frames", "keeps_workload_name", "finds_validation_in_memory", "replaces_evaluate",
          "lowers_target", "trains_at_import", "thread_at_import", "forks_child",
          "carries_weights_over", "forges_sibling_logs", "raises_system_exit", "calls_os_exit",
          "raises_keyboard_interrupt", "raises_in_init"]


def run(out: Path, name: str, **spec_overrides) -> tuple[dict, Path]:
    """Run trial 0 of the package `name` on smoke into `out`: (meta, trial folder)."""
    task = make_task(HERE / name, "smoke", "pytorch", out, spec_overrides=spec_overrides)
    return run_trial(task), task.folder


def last_eval(folder: Path) -> dict:
    return [r for r in read_eval_rows(folder / "eval_measurements.csv") if not r.get("snapshot")][-1]


@pytest.fixture(autouse=True)
def restore_the_harness(monkeypatch):
    """An in-process cheat may replace harness functions; put them back after every test."""
    monkeypatch.setattr(runner, "evaluate", runner.evaluate)


@pytest.fixture(scope="module")
def honest_short(tmp_path_factory):
    """The honest submission's last eval after STEPS steps (same seed as every cheat's trial 0)."""
    meta, folder = run(tmp_path_factory.mktemp("honest"), "honest", **SHORT)
    assert meta["stop_reason"] == "step_budget"
    return last_eval(folder)


@pytest.mark.parametrize("name", CHEATS)
def test_the_static_checker_does_not_see_the_cheat(name):
    """So that each reaches run time: what catches it must be the design."""
    assert check_submission(HERE / name)[0] == []


def test_rewinding_the_ledger_through_frames_gains_no_time(tmp_path):
    meta, _ = run(tmp_path, "rewinds_ledger_via_frames", **SHORT)
    # each step slept EXTRA_WORK_SEC = 0.02 s inside update_params: at least that is on the clock
    assert meta["final"]["accumulated_submission_time"] >= STEPS * 0.02


def test_training_on_the_validation_split_found_in_memory_is_impossible(tmp_path, honest_short):
    """The cheat trains exactly as the honest submission does unless it finds the validation
    split: its curve must be the honest one (same seed, same steps, deterministic CPU)."""
    meta, folder = run(tmp_path, "finds_validation_in_memory", **SHORT)
    row = last_eval(folder)
    assert meta["stop_reason"] == "step_budget"
    assert row["validation/loss"] == pytest.approx(honest_short["validation/loss"], rel=1e-6)
    assert row["validation/accuracy"] == honest_short["validation/accuracy"]


def test_replacing_the_evaluation_function_reports_nothing_false(tmp_path, honest_short):
    """It trains as the honest submission does: the logged metrics must be the honest ones."""
    meta, folder = run(tmp_path, "replaces_evaluate", **SHORT)
    row = last_eval(folder)
    assert row["validation/accuracy"] == honest_short["validation/accuracy"]
    assert row["validation/loss"] == pytest.approx(honest_short["validation/loss"], rel=1e-6)


@pytest.fixture(scope="module")
def lowered(tmp_path_factory):
    out = tmp_path_factory.mktemp("lowered")
    meta, folder = run(out, "lowers_target")
    return out, meta, folder


def test_lowering_the_target_does_not_reach_the_runner(lowered):
    _, meta, folder = lowered
    real = get_spec("smoke")
    assert (meta["validation_target"], meta["test_target"]) == (real.validation_target, real.test_target)
    if meta["stop_reason"] == "targets_reached":
        # the trial's last eval does not measure a validation split already past its target
        # (docs/log_format.md): the best validation accuracy logged is what must meet it
        measured = [r["validation/accuracy"] for r in read_eval_rows(folder / "eval_measurements.csv")
                    if r.get("validation/accuracy") is not None]
        assert max(measured) >= real.validation_target


def test_a_lowered_target_earns_no_time_to_target_in_scoring(lowered):
    """Caught today: scoring takes the targets from the registry, not from meta.json."""
    out, _, folder = lowered
    real = get_spec("smoke")
    assert real.validation_target == 0.93  # the registry's own spec was not reached
    rows = read_eval_rows(folder / "eval_measurements.csv")
    met = [r["score"] for r in rows
           if r.get("validation/accuracy") is not None and r["validation/accuracy"] >= real.validation_target]
    scored = load_results([out]).trials.iloc[0]["time_to_target"]
    assert scored == (met[0] if met else float("inf"))


def test_work_done_at_import_time_is_on_the_clock(tmp_path):
    meta, _ = run(tmp_path, "trains_at_import", **{**SHORT, "max_steps": 2})
    # its import slept IMPORT_WORK_SEC = 1.5 s after pretraining; 2 steps take far less
    assert meta["final"]["accumulated_submission_time"] >= 1.5


def _cheat_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "adversarial-import-thread"]


def test_a_thread_started_at_import_does_not_outlive_its_trial(tmp_path):
    try:
        run(tmp_path, "thread_at_import", **SHORT)
        # the submission process that held the thread is gone (a thread of that name in this
        # process comes from another test's in-process import of the package, not this trial)
        assert [pid for pid in _processes_with("harness.submission_process")
                if _descends_from_this_process(pid)] == []
    finally:
        for thread in _cheat_threads():
            thread.stop.set()
            thread.join()


def _processes_with(text: str) -> list[int]:
    """Live processes whose command line contains `text`."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and text in (proc / "cmdline").read_bytes().decode(errors="replace"):
                if (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                    found.append(int(proc.name))
        except OSError:
            continue
    return found


def _processes_named(name: str, marker: str | None = None) -> list[int]:
    """Live (not zombie) processes whose name is `name` (and, with `marker`, whose environment
    holds that `NAME=value` entry: a submission's processes inherit the trial's environment)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and (proc / "comm").read_text().strip() == name:
                if marker is not None and marker.encode() not in (proc / "environ").read_bytes().split(b"\0"):
                    continue
                if (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                    found.append(int(proc.name))
        except OSError:
            continue
    return found


def _descends_from_this_process(pid: int) -> bool:
    while pid > 1:
        if pid == os.getpid():
            return True
        try:
            pid = int((Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError):
            return False
    return False


def test_a_forked_child_does_not_outlive_its_trial(tmp_path, monkeypatch):
    # this trial's children only: the parametrized test above may run the same package at the
    # same time in another pytest worker
    marker = f"ALGOBENCH_TEST_TRIAL={os.getpid()}-{tmp_path.name}"
    monkeypatch.setenv(*marker.split("=", 1))
    before = set(_processes_named("adv-forks-child", marker))
    try:
        run(tmp_path, "forks_child", **SHORT)
        assert set(_processes_named("adv-forks-child", marker)) - before == set()
    finally:
        for pid in set(_processes_named("adv-forks-child", marker)) - before:
            if _descends_from_this_process(pid):  # the ones this test started, only
                os.kill(pid, signal.SIGKILL)
                try:
                    os.waitpid(pid, 0)
                except ChildProcessError:
                    pass


def _carry_files() -> list[Path]:
    name = "adversarial_carried_weights.pt"
    return [Path(tempfile.gettempdir()) / name, HERE / "carries_weights_over" / f".{name}"]


def test_weights_written_by_one_trial_do_not_reach_the_next(tmp_path):
    """Two runs of the same trial (same seed) into two folders: the second must not start from
    the first's weights. In the sandbox the submission's own folder is read-only, so the first
    trial fails on its write there; where it may write (its scratch folder, emptied between
    trials), both runs end where the first did."""
    for path in _carry_files():
        path.unlink(missing_ok=True)
    try:
        first_meta, first = run(tmp_path / "first", "carries_weights_over", **SHORT)
        if first_meta["status"] == "failed":
            assert "Read-only file system" in first_meta["error"], first_meta["error"]
            assert not _carry_files()[1].exists()
            return
        _, second = run(tmp_path / "second", "carries_weights_over", **SHORT)
        assert last_eval(second)["validation/loss"] == pytest.approx(
            last_eval(first)["validation/loss"], rel=1e-6)
    finally:
        for path in _carry_files():
            path.unlink(missing_ok=True)


def test_a_sibling_trials_logs_cannot_be_forged(tmp_path):
    plan = study.build_plan(HERE / "forges_sibling_logs", ["smoke"], ["pytorch"],
                            out=tmp_path / "out", studies=2, trials=1,
                            spec_overrides={"max_steps": STEPS})
    study.write_plan(plan)
    sibling, cheat = plan.tasks
    run_trial(sibling)
    written = {name: (sibling.folder / name).read_bytes()
               for name in ("eval_measurements.csv", "meta.json")}
    run_trial(cheat)  # finds the sibling's folder and rewrites it
    now = {name: (sibling.folder / name).read_bytes() for name in written}
    # what scoring accepts for the sibling is what its own run wrote
    assert now == written or integrity.verify_trial(sibling.folder).status == integrity.REJECTED


EXITS = {  # package -> what meta.json's error must name ("": any reason)
    "raises_system_exit": "",
    "calls_os_exit": "",
    "raises_keyboard_interrupt": "",
    "raises_in_init": "bug in init_optimizer_state",
}


@pytest.mark.parametrize("name", sorted(EXITS))
def test_a_submission_that_exits_or_raises_fails_only_its_trial(tmp_path, name):
    """Through the CLI, in a process of its own (an os._exit or a KeyboardInterrupt would end
    pytest's): the trial ends as failed with a clear reason, the CLI says so and does not crash
    (the submission's own traceback is printed for its author; none of the CLI's)."""
    done = subprocess.run(
        [sys.executable, "-m", "algobench.cli", "run", str(HERE / name), "--workload", "smoke",
         "--framework", "pytorch", "--out", str(tmp_path)],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
        timeout=600)
    assert "algobench/cli.py" not in done.stderr, done.stderr[-2000:]
    assert ": failed, stopped by" in done.stdout, done.stdout[-2000:]
    assert done.returncode == 1, (done.returncode, done.stderr[-2000:])
    [meta_path] = list(tmp_path.rglob("meta.json"))
    meta = read_json(meta_path)
    assert meta["status"] == "failed" and meta["error"] and EXITS[name] in meta["error"], meta


HANGS = ["hangs_in_update", "deadlocks_in_data_selection"]  # at step 3, in a call on the clock


@pytest.mark.parametrize("name", HANGS)
def test_a_submission_that_hangs_on_the_clock_ends_its_trial_on_its_budget(tmp_path, name, monkeypatch):
    """The harness waits for a timed call no longer than what is left of the budget and a grace
    (here 2 s, not 10, to keep the test short), then kills the submission process: the trial ends
    on its budget, the time charged to the submission, what it logged before kept."""
    from harness import submission_process

    monkeypatch.setattr(submission_process, "GRACE_MIN_SEC", 2.0)
    budget = 2.0
    meta, folder = run(tmp_path, name, max_runtime_sec=budget, eval_period_sec=0.0,
                       validation_target=2.0, test_target=2.0)
    assert meta["status"] == "completed" and meta["stop_reason"] == "budget", meta
    assert "did not return within the trial's remaining budget" in meta["note"], meta
    assert meta["final"]["accumulated_submission_time"] >= meta["budget_sec"] * 1.5  # self-tuning
    rows = [r for r in read_eval_rows(folder / "eval_measurements.csv") if not r.get("snapshot")]
    assert [r["global_step"] for r in rows] == [1, 2, 3]  # an eval after every step before the hang
    assert integrity.verify_trial(folder).status != integrity.REJECTED
    assert not _submission_processes()


def test_a_submission_that_hangs_off_the_clock_fails_its_trial(tmp_path, monkeypatch):
    """A call off the clock (here saving the optimizer state for a checkpoint) gets a fixed
    timeout; past it the submission process is killed and the trial fails with that reason."""
    from harness import submission_process

    monkeypatch.setattr(submission_process, "UNTIMED_TIMEOUT_SEC", 8.0)
    meta, folder = run(tmp_path, "hangs_off_the_clock", max_runtime_sec=30.0, eval_period_sec=0.0,
                       validation_target=2.0, test_target=2.0)
    assert meta["status"] == "failed" and meta["stop_reason"] == "submission_timeout", meta
    assert "optimizer_files" in meta["error"] and "within 8 s" in meta["error"], meta["error"]
    rows = read_eval_rows(folder / "eval_measurements.csv")
    assert [r["global_step"] for r in rows] == [1]  # the eval before the checkpoint that hung
    assert not _submission_processes()


def _submission_processes() -> list[int]:
    """The live submission processes this test process started (none once a trial has ended)."""
    return [pid for pid in _processes_with("harness.submission_process")
            if _descends_from_this_process(pid)]


def test_the_cli_goes_on_after_a_submission_that_hangs(tmp_path):
    """Through the CLI, in a process of its own, with smoke's budget cut to 2 s there and the
    grace to 2 s."""
    shorten = ("import dataclasses, sys; from workloads import registry; "
               "registry.REGISTRY['smoke'] = dataclasses.replace(registry.REGISTRY['smoke'], "
               "max_runtime_sec=2.0); from harness import submission_process; "
               "submission_process.GRACE_MIN_SEC = 2.0; "
               "from algobench.cli import main; sys.exit(main(sys.argv[1:]))")
    done = subprocess.run(
        [sys.executable, "-c", shorten, "run", str(HERE / "hangs_in_update"), "--workload", "smoke",
         "--framework", "pytorch", "--out", str(tmp_path)],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
        timeout=600)
    assert done.returncode == 0, (done.returncode, done.stdout[-2000:], done.stderr[-2000:])
    assert "stopped by budget" in done.stdout, done.stdout[-2000:]
    [meta_path] = list(tmp_path.rglob("meta.json"))
    meta = read_json(meta_path)
    assert meta["stop_reason"] == "budget" and "killed" in meta["note"], meta


def test_the_workload_name_given_to_get_batch_size_never_reaches_training(tmp_path, honest_short,
                                                                          monkeypatch):
    """`get_batch_size` runs in a process of its own, ended before the training process runs
    again: the training process never knows the name (what the cheat writes there each step),
    and trains as the honest submission does. In-process, where the name stays in memory, the
    same package does train with its rate tuned for `smoke`."""
    seen = []

    def read_what_training_knows(row):  # the training process's scratch folder, during an eval
        (path,) = Path(tempfile.gettempdir()).glob(f"algobench-scratch-{os.getpid()}-*/seen_workload_name")
        seen.append(path.read_text())

    task = make_task(HERE / "keeps_workload_name", "smoke", "pytorch", tmp_path / "separate",
                     spec_overrides=SHORT)
    meta = run_trial(task, on_eval=read_what_training_knows)
    assert meta["status"] == "completed" and meta["isolation"] == "separate-process", meta["error"]
    assert seen and set(seen) == {"None"}, seen
    assert last_eval(task.folder)["validation/loss"] == pytest.approx(
        honest_short["validation/loss"], rel=1e-6)

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the in-process cheat writes
    task = make_task(HERE / "keeps_workload_name", "smoke", "pytorch", tmp_path / "in-process",
                     spec_overrides=SHORT)
    meta = run_trial(task, isolation="in-process")
    assert meta["status"] == "completed", meta["error"]
    assert (tmp_path / "seen_workload_name").read_text() == "'smoke'"
    assert last_eval(task.folder)["validation/loss"] != pytest.approx(
        honest_short["validation/loss"], rel=1e-6)
