"""Study plans without training: the points of a plan, plan.json, self-tuning, bad input rejected
before anything is written, the progress display and the record of a dead trial."""

from __future__ import annotations

import io
import json
import math

import pytest

from harness import search_space, study
from algobench.cli import main
from harness.executors import record_failure
from harness.logs import read_trial
from harness.seeds import derive_seed
from harness.study import PlanError
from scoring.progress import best_so_far, study_medians
from tests.harness.tuning_submissions import make_submission

SPACE = {
    "learning_rate": {"min": 1e-4, "max": 1e-2, "scaling": "log"},
    "one_minus_beta1": {"feasible_points": [0.1]},
    "beta2": {"feasible_points": [0.999]},
    "weight_decay": {"min": 0.0, "max": 0.1, "scaling": "linear"},
    "warmup_factor": {"feasible_points": [0.02, 0.05]},
}


@pytest.fixture
def halton_submission(tmp_path):
    return make_submission(tmp_path, SPACE, frameworks=("jax",))


def build(submission, out, **kwargs):
    kwargs.setdefault("studies", 2)
    kwargs.setdefault("trials", 3)
    return study.build_plan(submission, ["smoke"], ["jax"], out=out, base_seed=7, **kwargs)


def test_plan_points_come_from_the_study_seed_and_studies_differ(halton_submission, tmp_path):
    plan = build(halton_submission, tmp_path / "out")
    assert len(plan.tasks) == 6 and plan.ruleset == "external" and plan.development
    for task in plan.tasks:
        seed = derive_seed(7, "study", task.study)
        assert task.hyperparameters == search_space.trial_point(SPACE, seed, task.trial)
    by_study = {s: [t.hyperparameters for t in plan.tasks if t.study == s] for s in (0, 1)}
    assert by_study[0] != by_study[1]
    again = build(halton_submission, tmp_path / "out")  # the same plan, point for point
    assert [t.hyperparameters for t in again.tasks] == [t.hyperparameters for t in plan.tasks]
    other_seed = study.build_plan(halton_submission, ["smoke"], ["jax"], out=tmp_path / "o",
                                  base_seed=8, studies=2, trials=3)
    assert [t.hyperparameters for t in other_seed.tasks] != [t.hyperparameters for t in plan.tasks]


def test_plan_json_lists_every_trial_before_training(halton_submission, tmp_path):
    plan = build(halton_submission, tmp_path / "out")
    path = study.write_plan(plan)
    recorded = json.loads(path.read_text())
    assert path == tmp_path / "out" / "plan.json" and recorded["base_seed"] == 7
    entries = {e["folder"]: e for e in recorded["trials"]}
    assert set(entries) == {t.key for t in plan.tasks}
    for task in plan.tasks:
        entry = entries[task.key]
        assert entry["hyperparameters"] == task.hyperparameters
        assert entry["study_seed"] == derive_seed(7, "study", task.study)
        assert entry["seed"] == task.seed and not task.folder.exists()  # nothing ran yet
    # the same plan again extends the record; it never contradicts it
    study.write_plan(build(halton_submission, tmp_path / "out", studies=3))
    again = json.loads(path.read_text())
    assert len(again["trials"]) == 9 and len(again["invocations"]) == 2
    assert {e["folder"]: e for e in again["trials"]}.items() >= entries.items()


def test_a_plan_with_another_seed_or_other_points_is_refused(halton_submission, tmp_path):
    path = study.write_plan(build(halton_submission, tmp_path / "out"))
    before = path.read_text()
    with pytest.raises(PlanError, match="planned with --seed 7"):
        study.write_plan(study.build_plan(halton_submission, ["smoke"], ["jax"],
                                          out=tmp_path / "out", base_seed=9, studies=1, trials=1))
    space = dict(SPACE, learning_rate={"min": 0.5, "max": 0.9, "scaling": "linear"})
    (halton_submission / "tuning_search_space.json").write_text(json.dumps(space))
    with pytest.raises(PlanError, match="other hyperparameters"):
        study.write_plan(build(halton_submission, tmp_path / "out"))
    assert path.read_text() == before


def test_self_tuning_runs_one_trial_per_study_without_hyperparameters(tmp_path):
    submission = make_submission(tmp_path, None, frameworks=("jax",))
    plan = study.build_plan(submission, ["smoke"], ["jax"], out=tmp_path / "out", studies=3)
    assert plan.ruleset == "self" and not plan.development
    assert [(t.study, t.trial, t.hyperparameters) for t in plan.tasks] == [
        (0, 0, {}), (1, 0, {}), (2, 0, {})]
    assert all("/self/jax/smoke/" in t.key for t in plan.tasks)
    with pytest.raises(PlanError, match="one trial per study"):
        study.build_plan(submission, ["smoke"], ["jax"], out=tmp_path / "out", trials=3)
    with pytest.raises(PlanError, match="use --ruleset self"):
        study.build_plan(submission, ["smoke"], ["jax"], out=tmp_path / "out", ruleset="external")


def test_defaults_are_the_rules_counts(halton_submission, tmp_path):
    plan = study.build_plan(halton_submission, ["smoke"], ["jax"], out=tmp_path)
    assert (plan.studies, plan.trials, len(plan.tasks)) == (3, 5, 15) and not plan.development


def tune(capsys, *args):
    code = main(["tune", *map(str, args)])
    return code, capsys.readouterr()


@pytest.mark.parametrize("bad, message", [
    (["--workloads", "nope"], "unknown workload 'nope'"),
    (["--parallel", "0"], "--parallel must be at least 1"),
    (["--parallel", "999"], "--parallel 999 is more than the"),
    (["--trials", "9"], "lists 2 points; use --trials 2 or fewer"),
    (["--framework", "tensorflow"], "unknown framework 'tensorflow'"),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, bad, message):
    submission = make_submission(tmp_path, [{"mode": "ok"}, {"mode": "ok"}], frameworks=("jax",))
    args = {"--workloads": "smoke", "--framework": "jax", "--out": tmp_path / "out",
            "--studies": "1", "--trials": "2"}
    for flag, value in zip(bad[::2], bad[1::2]):
        args[flag] = value
    code, captured = tune(capsys, submission, *[x for kv in args.items() for x in kv])
    assert code == 2
    assert captured.err.strip().count("\n") == 0 and message in captured.err, captured.err
    assert not (tmp_path / "out").exists()


def test_a_malformed_search_space_is_refused_naming_the_key(tmp_path, capsys):
    submission = make_submission(tmp_path, {"learning_rate": {"min": 0.0, "max": 1.0,
                                                              "scaling": "log"}},
                                 frameworks=("jax",))
    code, captured = tune(capsys, submission, "--workloads", "smoke", "--framework", "jax",
                          "--out", tmp_path / "out")
    assert code == 2 and "hyperparameter 'learning_rate': log scaling needs min > 0" in captured.err
    assert not (tmp_path / "out").exists()


def test_an_existing_trial_with_other_hyperparameters_is_not_overwritten(tmp_path, capsys):
    submission = make_submission(tmp_path, [{"mode": "ok"}], frameworks=("jax",))
    folder = tmp_path / "out" / "modal" / "external" / "jax" / "smoke" / "study_0" / "trial_0"
    folder.mkdir(parents=True)
    (folder / "hparams.json").write_text('{"learning_rate": 1.0}')
    code, captured = tune(capsys, submission, "--workloads", "smoke", "--framework", "jax",
                          "--studies", 1, "--trials", 1, "--out", tmp_path / "out")
    assert code == 2 and "trial run with other hyperparameters" in captured.err
    assert (folder / "hparams.json").read_text() == '{"learning_rate": 1.0}'
    assert not (tmp_path / "out" / "plan.json").exists()


def test_progress_counts_trials_and_keeps_the_best_time_per_workload(halton_submission, tmp_path):
    plan = build(halton_submission, tmp_path / "out")
    stream = io.StringIO()
    progress = study.Progress(plan, stream, results=best_so_far)
    t0, t1, t2 = plan.tasks[:3]
    progress.started(t0)
    progress.started(t1)
    assert progress.status_line() == "0/6 done, 2 running, 0 failed"
    base = {"framework": "jax", "workload": "smoke", "study": 0}
    progress.ended(t0, {**base, "trial": 0, "status": "completed", "stop_reason": "targets_reached",
                        "final": {"time_to_target": 3.5}})
    progress.ended(t1, {**base, "trial": 1, "status": "failed", "stop_reason": "error",
                        "error": "Traceback\nRuntimeError: boom"})
    progress.ended(t2, {**base, "trial": 2, "status": "completed", "stop_reason": "targets_reached",
                        "final": {"time_to_target": 2.25}}, skipped=True)
    progress.start -= 20  # two trials ran (one was skipped) in 20 s: 3 left take about 30 s
    assert progress.status_line() == ("3/6 done, 0 running, 1 failed, about 30 s left | "
                                      "jax/smoke best 2.25 s (study 0 trial 2)")
    text = stream.getvalue()
    assert "failed: RuntimeError: boom" in text and "already completed" in text
    assert study_medians(progress.metas.values()) == [
        "  jax/smoke: best per study [2.25] s, median 2.25 s"]
    assert progress.counts_line() == "  3/6 trials ended, 1 failed"



def test_a_trial_timed_on_a_contended_host_is_flagged_in_the_progress_lines(halton_submission, tmp_path):
    plan = build(halton_submission, tmp_path / "out")
    stream = io.StringIO()
    progress = study.Progress(plan, stream)
    base = {"framework": "jax", "workload": "smoke", "study": 0, "status": "completed",
            "stop_reason": "targets_reached"}
    progress.ended(plan.tasks[0], {**base, "trial": 0, "final": {"time_to_target": 3.5,
                                                                  "host_steal_fraction": 0.02}})
    progress.ended(plan.tasks[1], {**base, "trial": 1, "final": {"time_to_target": 3.0,
                                                                  "host_steal_fraction": 0.25}})
    lines = [line for line in stream.getvalue().splitlines() if "time to target" in line]
    assert "steal" not in lines[0]
    assert lines[1].endswith("time to target 3.00 s; host steal 25% (contended host: repeat to time it)")

def test_a_dead_trial_is_recorded_as_failed_and_scorable(halton_submission, tmp_path):
    plan = build(halton_submission, tmp_path / "out")
    task = plan.tasks[0]
    meta = record_failure(task, "trial process killed by SIGKILL (exit code -9)", -9, "last words")
    trial = read_trial(task.folder)
    assert trial["meta"] == meta
    assert meta["status"] == "failed" and meta["stop_reason"] == "error" and meta["exit_code"] == -9
    assert meta["error"].splitlines()[-1] == "trial process killed by SIGKILL (exit code -9)"
    for key in ("submission", "ruleset", "framework", "workload", "study", "trial", "target_metric",
                "lower_is_better", "validation_target", "budget_sec", "seed"):
        assert meta[key] is not None, key
    assert meta["seed"] == task.seed and math.isclose(meta["budget_sec"], 30.0)
    # a trial that ended on its own keeps its record
    ended = {**meta, "status": "completed", "stop_reason": "targets_reached", "error": None}
    (task.folder / "meta.json").write_text(json.dumps(ended))
    assert record_failure(task, "exited with code 1", 1)["status"] == "completed"


def test_progress_prints_the_hyperparameters_and_each_running_trials_evaluations(halton_submission,
                                                                                 tmp_path):
    from harness.logs import TrialLog

    plan = build(halton_submission, tmp_path / "out")
    stream = io.StringIO()
    progress = study.Progress(plan, stream, heartbeat_s=0.0)
    task = plan.tasks[0]
    progress.started(task)
    assert f"hyperparameters {json.dumps(task.hyperparameters, sort_keys=True)}" in stream.getvalue()
    progress.tick([task])  # nothing logged yet: nothing printed
    assert "eval" not in stream.getvalue()
    log = TrialLog(task.folder)
    row = {"global_step": 40, "preemption_count": 0, "score": 5.0, "total_duration": 7.5,
           "validation/accuracy": 0.8125, "validation/loss": 0.5}
    log.add_eval_row(row)
    progress.tick([task])
    progress.tick([task])  # no new evaluation: no new line
    lines = [line for line in stream.getvalue().splitlines() if "eval  " in line]
    # smoke: budget 30 s; 25 s of submission time left at 1.5 s of wall time per second
    assert len(lines) == 1 and lines[0].endswith(
        f"{task.key}: step 40, submission time 5.0/30 s, validation accuracy 0.8125 (target 0.93), "
        "up to ~38 s left")
    slow = study.Progress(plan, io.StringIO(), heartbeat_s=3600.0)  # at most a line per heartbeat
    slow.started(task)
    slow.tick([task])
    log.add_eval_row({**row, "global_step": 50, "score": 6.0})
    slow.tick([task])
    assert slow.stream.getvalue().count("eval  ") == 1


def test_an_eval_line_after_the_validation_target_says_the_split_was_not_measured():
    """The last eval of a trial that met its target leaves the validation cells empty
    (docs/log_format.md); the progress line must print, not fail on the empty value."""
    from workloads.registry import get_spec

    row = {"global_step": 90, "score": 12.0, "total_duration": 12.0, "validation/accuracy": None}
    assert study.eval_line(row, get_spec("smoke"), "external") == (
        "step 90, submission time 12.0/30 s, validation accuracy met earlier, not measured again "
        "(target 0.93), up to ~18 s left")
