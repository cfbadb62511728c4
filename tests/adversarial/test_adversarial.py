"""Every cheating or broken submission in this folder is caught, and the test says by what:
the static checker (`algobench check`) or a run-time guard of the runner. The honest package passes
both with no false alarm."""

from __future__ import annotations

import dataclasses
import importlib.util
import time
from pathlib import Path

import pytest

from harness import pytorch_backend
from algobench.cli import main
from harness.loader import SubmissionError, check_submission, load_submission
from harness.logs import read_trial
from harness.runner import TrialRunner
from harness.task import TrialTask
from scoring.tables import load_results
from workloads.registry import get_spec

HERE = Path(__file__).parent

# package -> (rule the checker reports, a fragment of its message)
CAUGHT_BY_CHECKER = {
    "reads_test_split": ("eval-data", "imports workloads.data"),
    "reads_data_files": ("eval-data", "names the benchmark's data"),
    "fingerprints_shapes": ("fingerprinting", "compares parameter shapes or counts"),
    "reads_private_workload": ("fingerprinting", "private workload attribute _spec"),
    "patches_clock": ("clock", "time.perf_counter"),
    "background_thread": ("concurrency", "imports threading"),
    "spawns_process": ("concurrency", "imports subprocess"),
    "changes_eval_batch_size": ("monkeypatch", "assigns workload.eval_batch_size"),
    "imports_harness_internals": ("harness-internals", "imports harness.runner"),
    "imports_other_framework": ("other-framework", "imports jax"),
    "undeclared_dependency": ("dependencies", "imports requests"),
    "hidden_background_thread": ("dependencies", "computed at run time"),
    "hidden_clock_patch": ("dependencies", "computed at run time"),
    "sleeps_past_budget": ("dependencies", "computed at run time"),
}


@pytest.mark.parametrize("name", sorted(CAUGHT_BY_CHECKER))
def test_the_checker_rejects(name, capsys):
    rule, fragment = CAUGHT_BY_CHECKER[name]
    problems, _ = check_submission(HERE / name)
    assert any(f"[{rule}]" in p and fragment in p for p in problems), problems
    assert main(["check", str(HERE / name)]) == 2
    with pytest.raises(SubmissionError, match=r"\[[a-z-]+\]"):  # and `run` refuses it too
        load_submission(HERE / name, "pytorch")


def test_the_checker_rejects_a_malformed_search_space(capsys):
    problems, _ = check_submission(HERE / "malformed_search_space")
    assert problems == [f"{HERE / 'malformed_search_space' / 'tuning_search_space.json'}: "
                        "hyperparameter 'learning_rate': missing key(s) ['scaling']; give min, max and scaling"]


@pytest.mark.parametrize("name", ["honest", "changes_model", "swaps_model_fn", "returns_nan",
                                  "raises_in_update"])
def test_run_time_cheats_pass_the_checker(name):
    """These break rules only when they run; the guards below must catch them."""
    assert check_submission(HERE / name)[0] == []


def run_unchecked(tmp_path, name, sync_every_step=False, **spec_overrides):
    """Import a package without the checker (as if a cheat had slipped past it) and train it."""
    path = HERE / name / "submission_pytorch.py"
    spec = importlib.util.spec_from_file_location(f"adversarial_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    workload = dataclasses.replace(get_spec("smoke"), **spec_overrides)
    task = TrialTask(str(path.parent), "smoke", "pytorch", "self", 0, 0, 0, {}, str(tmp_path))
    return TrialRunner(task, workload, module, pytorch_backend,
                       sync_every_step=sync_every_step).run()


def test_honest_submission_passes_the_guards(tmp_path):
    meta = run_unchecked(tmp_path, "honest")
    assert meta["status"] == "completed" and meta["stop_reason"] == "targets_reached"


def test_a_hidden_background_thread_is_caught(tmp_path):
    meta = run_unchecked(tmp_path, "hidden_background_thread")
    assert meta["stop_reason"] == "rule_violation" and meta["status"] == "failed"
    assert "update_params left 1 thread(s) running" in meta["error"]
    assert meta["final"]["global_step"] == 0  # ended at the step where it happened


def test_changing_the_model_is_caught_before_the_next_eval(tmp_path):
    meta = run_unchecked(tmp_path, "changes_model", eval_period_sec=0.0)
    assert meta["stop_reason"] == "rule_violation"
    assert "the model's parameters changed names or shapes" in meta["error"]
    assert meta["final"]["global_step"] == 4


def test_swapping_a_workload_function_is_caught(tmp_path):
    meta = run_unchecked(tmp_path, "swaps_model_fn")
    assert meta["stop_reason"] == "rule_violation"
    assert "the workload object was modified" in meta["error"]


def test_nan_parameters_end_the_trial_as_diverged(tmp_path):
    # Step 5 (the sixth) makes the parameters NaN. They are checked at the runner's next sync (a
    # snapshot or eval due, a decision near), which comes when it comes on a real clock: the trial
    # ends there, and no eval row holds the NaN parameters.
    meta = run_unchecked(tmp_path, "returns_nan")
    assert meta["status"] == "diverged" and meta["final"]["global_step"] >= 6
    logs = read_trial(next(tmp_path.rglob("meta.json")).parent)
    assert all(row["global_step"] < 6 for row in logs["evals"])


def test_nan_parameters_end_the_trial_at_their_step_when_every_step_syncs(tmp_path):
    meta = run_unchecked(tmp_path, "returns_nan", sync_every_step=True)
    assert meta["status"] == "diverged" and meta["final"]["global_step"] == 6


def test_an_exception_in_update_params_fails_only_its_trial(tmp_path):
    meta = run_unchecked(tmp_path, "raises_in_update")
    assert meta["status"] == "failed" and meta["stop_reason"] == "error"
    assert "RuntimeError: bug in the submission" in meta["error"]


def test_patching_the_clock_has_no_effect(tmp_path):
    original = time.perf_counter
    started = time.monotonic()
    try:
        meta = run_unchecked(tmp_path, "hidden_clock_patch")
    finally:
        time.perf_counter = original
    elapsed = time.monotonic() - started
    final = meta["final"]
    assert meta["status"] == "completed"
    assert 0.0 < final["accumulated_submission_time"] < final["total_duration"] <= elapsed


def test_sleeping_past_the_budget_ends_the_trial_and_does_not_count(tmp_path):
    meta = run_unchecked(tmp_path, "sleeps_past_budget", max_runtime_sec=1.0, validation_target=0.0,
                         test_target=0.0)
    assert meta["stop_reason"] in ("budget", "targets_reached")
    assert meta["final"]["accumulated_submission_time"] >= 0.3
    results = load_results([tmp_path])
    # a trial whose time-to-target exceeds its budget does not count as solved
    trial = results.trials.iloc[0]
    if meta["final"]["time_to_target"] is not None and meta["final"]["time_to_target"] > meta["budget_sec"]:
        assert trial["time_to_target"] == float("inf")


def test_a_clock_patched_when_the_submission_is_imported_does_not_reach_the_harness():
    """The loader binds the harness's clock before importing any submission, so even a patch made
    at import time (which the checker would also reject) leaves every clock the runner uses."""
    from harness import clock, jax_backend
    from harness.clock import Ledger

    original = time.perf_counter
    try:
        time.perf_counter = lambda: 0.0  # what a cheating submission's import would do
        for backend in (pytorch_backend, jax_backend):
            assert backend.time_fn() is original
        assert clock.perf_counter is original
        ledger = Ledger()
        time.sleep(0.01)
        assert ledger.read()["total_duration"] > 0.0
    finally:
        time.perf_counter = original
