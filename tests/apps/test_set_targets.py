"""`algobench set-targets`: the target-setting procedure of docs/targets.md."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

from algobench.targets import Targets, derive_targets, unfinished
from harness.logs import find_trial_folders, read_trial
from harness.task import make_task
from harness.trial import run_trial

REPO = Path(__file__).resolve().parents[2]


def rows(*points):
    return [{"global_step": 10 * (i + 1), "score": t, "validation/accuracy": v, "test/accuracy": te}
            for i, (t, v, te) in enumerate(points)]


def test_targets_are_what_every_run_reaches_rounded_safely():
    runs = [rows((5.0, 0.80, 0.79), (10.0, 0.912, 0.905), (15.0, 0.90, 0.91)),
            rows((6.0, 0.85, 0.84), (12.0, 0.9071, 0.899))]
    targets = derive_targets(runs, "accuracy", False, step_hint=300, resolution=0.005)
    # best validation per run: 0.912 and 0.9071 -> the worse, 0.9071, floored to 0.905;
    # best test per run: 0.91 and 0.899 -> 0.899 floored to 0.895
    assert targets.validation_target == 0.905 and targets.test_target == 0.895
    # time to 0.905: 10 s (run 1), 12 s (run 2) -> budget 2 x 12 = 24, rounded up to 30 s
    assert targets == Targets(0.905, 0.895, 300, 30.0)


def test_lower_is_better_rounds_up():
    runs = [[{"global_step": 5, "score": 3.0, "validation/loss": 1.8123, "test/loss": 1.83}],
            [{"global_step": 5, "score": 4.0, "validation/loss": 1.79, "test/loss": 1.801}]]
    targets = derive_targets(runs, "loss", True, step_hint=100, resolution=0.01)
    assert targets.validation_target == 1.82 and targets.test_target == 1.83

def test_only_timed_runs_set_the_budget_but_every_run_sets_the_targets():
    slow_on_one_core = rows((50.0, 0.80, 0.79), (100.0, 0.9071, 0.899))
    runs = [rows((5.0, 0.80, 0.79), (10.0, 0.912, 0.905)), slow_on_one_core]
    targets = derive_targets(runs, "accuracy", False, 300, 0.005, timed=[True, False])
    # the untimed run still makes the targets what it reached (0.9071 -> 0.905) ...
    assert (targets.validation_target, targets.test_target) == (0.905, 0.895)
    # ... but the budget is twice the timed run's 10 s, not twice its 100 s
    assert targets.max_runtime_sec == 20.0
    assert derive_targets(runs, "accuracy", False, 300, 0.005).max_runtime_sec == 200.0
    with pytest.raises(ValueError, match="timed"):
        derive_targets(runs, "accuracy", False, 300, 0.005, timed=[False, False])



def test_runs_stopped_before_their_schedule_ends_are_named():
    summary = {"targets": {"step_hint": 1000}, "confirmation": [
        {"folder": "a", "steps": 1200, "stop_reason": "step_budget", "finished_schedule": True},
        {"folder": "b", "steps": 834, "stop_reason": "budget", "finished_schedule": False},
        {"folder": "c", "steps": 900}]}  # written before the field existed: not judged
    lines = unfinished(summary)
    assert len(lines) == 1 and lines[0].startswith("b: stopped by its budget at step 834")
    assert "step 1000" in lines[0] and "--budget" in lines[0]


def test_a_diverged_run_is_refused():
    with pytest.raises(ValueError, match="diverged"):
        derive_targets([rows((1.0, float("nan"), 0.1))], "accuracy", False, 10, 0.005)


def test_set_targets_on_smoke_gives_targets_the_baseline_reaches(tmp_path):
    out = tmp_path / "targets"
    result = subprocess.run(
        [sys.executable, "-m", "algobench.cli", "set-targets", "smoke", "--trials", "2", "--seeds", "1",
         "--budget", "8", "--resolution", "0.01", "--threads", "1", "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    # progress inside each run: its hyperparameters when it starts, then its evaluations
    assert "hyperparameters {" in result.stdout and re.search(
        r"eval +\S+: step \d+, submission time [0-9.]+/8 s, validation accuracy", result.stdout)
    assert "validation_target=" in result.stdout and "step_hint=400" in result.stdout
    summary = json.loads((out / "targets.json").read_text())
    assert len(summary["tuning"]) == 2 and len(summary["confirmation"]) == 2  # both frameworks
    targets = summary["targets"]
    assert 0.5 < targets["validation_target"] <= 1.0
    for run in summary["confirmation"]:  # the evidence is kept
        assert (Path(run["folder"]) / "eval_measurements.csv").exists()
        # each run stops at 1.2 step hints (480 steps) unless the 8 s budget comes first
        meta = json.loads((Path(run["folder"]) / "meta.json").read_text())
        assert meta["spec_overrides"]["max_steps"] == 480 and run["steps"] <= 480
        assert meta["hardware"]["cores_used"] == 1  # --threads 1
        assert meta["stop_reason"] in ("step_budget", "budget")
        assert run["stop_reason"] == meta["stop_reason"] and run["finished_schedule"] == (run["steps"] >= 396)
    # a run the 8 s budget stopped before step 400 is named on stderr, and only then
    assert ("before its schedule's end" in result.stderr) == (not all(
        run["finished_schedule"] for run in summary["confirmation"]))

    overrides = {k: targets[k] for k in ("validation_target", "test_target", "max_runtime_sec",
                                         "step_hint")}
    # the targets are what is tested here; a budget of a few seconds is not met on a busy machine
    # (a CI run niced behind two training jobs stopped by budget), so give the check room
    overrides["max_runtime_sec"] = 10 * targets["max_runtime_sec"]
    meta = run_trial(make_task("submissions/nadamw", "smoke", "pytorch", tmp_path / "check",
                               spec_overrides=overrides))
    # Both targets reached, also when only the last eval meets the test target (often at the
    # schedule's end, step 480, where the baseline ends its training): that eval ends the trial
    # `targets_reached`, as any eval meeting both does.
    assert meta["stop_reason"] == "targets_reached", meta
    assert math.isfinite(meta["final"]["time_to_target"]), meta
    (check,) = find_trial_folders(tmp_path / "check")
    assert any(r["test/accuracy"] is not None and r["test/accuracy"] >= targets["test_target"]
               for r in read_trial(check)["evals"]), meta


def test_set_targets_dry_run_prints_the_runs_and_their_time_and_runs_nothing(tmp_path, capsys):
    from algobench.cli import main
    from harness.study import recorded_times

    assert main(["set-targets", "cnn_silu", "--trials", "2", "--seeds", "1", "--budget", "150",
                 "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "pytorch cnn_silu: 2 runs (2 tuning, 1 confirmation incl. the best tuning run)" in out
    assert "jax cnn_silu: 1 run (0 tuning, 1 confirmation)" in out
    ms = recorded_times()[("cnn_silu", "jax")]["ms_per_step"]  # docs/workloads.md's step times
    assert f"1800 steps at {ms:g} ms/step" in out
    assert "estimated time" in out and "nothing was run or written" in out
    assert main(["set-targets", "cnn_silu"]) == 2  # a real run keeps its evidence: --out
    assert "give --out DIR" in capsys.readouterr().err


def _fake_run(folder: Path, study: int, evals: list[tuple], stop_reason: str, hparams=None):
    """A completed cnn trial folder as `algobench run` leaves it: (step, score, validation
    accuracy, test accuracy or None) per evaluation."""
    folder.mkdir(parents=True)
    (folder / "hparams.json").write_text(json.dumps(hparams or {"learning_rate": 0.006}))
    clocks = ["preemption_count", "total_duration", "accumulated_submission_time",
              "accumulated_eval_time", "accumulated_logging_time", "accumulated_checkpoint_time",
              "accumulated_setup_time", "accumulated_other_time"]
    header = ",".join(["global_step", "score", *clocks, "validation/accuracy", "test/accuracy"])
    (folder / "eval_measurements.csv").write_text(header + "\n" + "".join(
        ",".join([str(s), str(t), *["0"] * len(clocks), str(v), "" if te is None else str(te)]) + "\n"
        for s, t, v, te in evals))
    (folder / "meta.json").write_text(json.dumps({
        "submission": "nadamw", "workload": "cnn", "framework": "pytorch", "study": study,
        "status": "completed", "stop_reason": stop_reason, "hardware": {"cores_used": 2},
        "final": {"global_step": evals[-1][0]}}))


def test_targets_from_runs_made_elsewhere_count_what_every_run_reached(tmp_path, capsys):
    from algobench.cli import main

    runs = tmp_path / "noise" / "nadamw" / "external" / "pytorch" / "cnn"
    # study 0 met the target in force (0.895) at step 1200 and stopped there: a lower bound
    _fake_run(runs / "study_0" / "trial_0", 0, [(600, 20.0, 0.85, None), (1200, 40.0, 0.8962, 0.8904)],
              "targets_reached")
    # study 1 missed: its best validation before 1.2 step hints (1800) is 0.8936; the 0.8990 of
    # step 6000 (lr 0 for 4000 steps, batch norm's averages wobbling) does not count; its only
    # test measurement is its final one
    _fake_run(runs / "study_1" / "trial_0", 1,
              [(600, 20.0, 0.86, None), (1500, 45.0, 0.8936, None), (6000, 300.0, 0.8990, 0.8899)],
              "budget")
    out = tmp_path / "targets"
    assert main(["set-targets", "cnn", "--from-runs", str(tmp_path / "noise"), "--out", str(out)]) == 0
    printed = capsys.readouterr()
    assert "validation_target=0.89," in printed.out and "test_target=0.885," in printed.out
    assert "before its schedule's end" not in printed.err  # study 0 stopped at its target, by design
    summary = json.loads((out / "targets.json").read_text())
    assert [run["best_validation"] for run in summary["confirmation"]] == [0.8962, 0.8936]
    # the budget: twice the slowest time to the new target (study 1's 45 s), rounded up to 10 s
    assert summary["targets"]["max_runtime_sec"] == 90.0

    _fake_run(runs / "study_2" / "trial_0", 2, [(1500, 45.0, 0.90, 0.9)], "targets_reached",
              hparams={"learning_rate": 0.003})
    assert main(["set-targets", "cnn", "--from-runs", str(tmp_path / "noise"), "--out", str(out)]) == 2
    assert "2 search-space points" in capsys.readouterr().err
    assert main(["set-targets", "cnn", "--from-runs", str(tmp_path / "none"), "--out", str(out)]) == 2
    assert "no completed run of nadamw on cnn" in capsys.readouterr().err
