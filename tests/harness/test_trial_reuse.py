"""A trial folder is reused (finished) or resumed (interrupted) only by the same trial: the same
hyperparameters, the same submission code and the same workload spec; `run`, `tune` and
`set-targets` refuse anything else with one line naming the folder, and write nothing."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness import study
from algobench.cli import main
from harness.task import TrialTask, make_task, trial_spec
from harness.trial import TrialMismatchError, check_reusable, code_hash, spec_hash
from tests.harness.tuning_submissions import make_submission

REPO = Path(__file__).resolve().parents[2]
NADAMW_POINT = {"learning_rate": 0.003, "one_minus_beta1": 0.1, "beta2": 0.999,
                "weight_decay": 0.05, "warmup_factor": 0.05}


def finished_trial(folder: Path, hparams: dict, code: str, spec: str, **meta) -> dict:
    """A trial folder as the runner leaves a finished trial (the files reuse reads)."""
    folder.mkdir(parents=True)
    (folder / "hparams.json").write_text(json.dumps(hparams))
    meta = {"submission": "nadamw", "workload": "smoke", "framework": "pytorch",
            "status": "completed", "stop_reason": "targets_reached",
            "final": {"global_step": 10, "time_to_target": 1.0},
            "submission_code_sha256": code, "workload_spec_sha256": spec, **meta}
    (folder / "meta.json").write_text(json.dumps(meta))
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_the_same_trial_is_reusable_and_any_difference_is_named(tmp_path):
    folder = tmp_path / "trial_0"
    finished_trial(folder, {"lr": 0.1}, "code-a", "spec-a")
    check_reusable(folder, {"lr": 0.1}, "code-a", "spec-a")
    with pytest.raises(TrialMismatchError, match=r"trial_0: holds a finished trial run with other "
                       r"hyperparameters \(lr 0.1 there, 0.2 here\)"):
        check_reusable(folder, {"lr": 0.2}, "code-a", "spec-a")
    with pytest.raises(TrialMismatchError, match="other submission code"):
        check_reusable(folder, {"lr": 0.1}, "code-b", "spec-a")
    with pytest.raises(TrialMismatchError, match="another version of the workload's spec"):
        check_reusable(folder, {"lr": 0.1}, "code-a", "spec-b")
    check_reusable(tmp_path / "not_there", {"lr": 0.3}, "code-c", "spec-c")  # nothing to reuse


def test_an_interrupted_trial_is_resumed_only_by_the_same_trial(tmp_path):
    folder = tmp_path / "trial_0"
    finished_trial(folder, {"lr": 0.1}, "code-a", "spec-a", status="running")
    check_reusable(folder, {"lr": 0.1}, "code-a", "spec-a")
    with pytest.raises(TrialMismatchError, match="holds an interrupted trial run with other submission code"):
        check_reusable(folder, {"lr": 0.1}, "code-b", "spec-a")


def test_a_trial_recorded_before_the_hashes_is_checked_on_its_hyperparameters(tmp_path):
    folder = tmp_path / "trial_0"
    finished_trial(folder, {"lr": 0.1}, None, None)
    check_reusable(folder, {"lr": 0.1}, "code-a", "spec-a")
    with pytest.raises(TrialMismatchError):
        check_reusable(folder, {"lr": 0.2}, "code-a", "spec-a")


def test_the_code_hash_follows_the_code_and_not_the_docs(tmp_path):
    package = tmp_path / "pkg"
    shutil.copytree(REPO / "submissions" / "nadamw", package,
                    ignore=shutil.ignore_patterns("__pycache__"))
    before = code_hash(package)
    (package / "README.md").write_text("edited")
    (package / "__pycache__").mkdir(exist_ok=True)
    (package / "__pycache__" / "x.pyc").write_bytes(b"\0")
    assert code_hash(package) == before
    (package / "submission_pytorch.py").write_text(
        (package / "submission_pytorch.py").read_text() + "\n# changed\n")
    assert code_hash(package) != before
    # a package built on submissions.common changes with it too
    uses_common = "submissions.common" in (package / "submission_jax.py").read_text()
    assert uses_common


def test_the_spec_hash_follows_every_field_and_the_overrides():
    smoke = trial_spec("smoke")
    assert spec_hash(smoke) == spec_hash(trial_spec("smoke"))
    assert spec_hash(trial_spec("smoke", {"max_runtime_sec": 5.0})) != spec_hash(smoke)
    assert spec_hash(trial_spec("smoke", {"model_config": {"hidden": 3}})) != spec_hash(smoke)


def smoke_folder(out: Path, framework: str = "pytorch") -> Path:
    return TrialTask(str(REPO / "submissions" / "nadamw"), "smoke", framework, "external", 0, 0, 0,
                     {}, str(out)).folder


def test_run_with_other_hyperparameters_refuses_a_finished_trial(tmp_path, capsys):
    """The wrong result of issue 22: `run --hparams other.json` into a folder holding the finished
    trial printed the old result and ignored the new point."""
    out = tmp_path / "out"
    nadamw = REPO / "submissions" / "nadamw"
    files = finished_trial(smoke_folder(out), NADAMW_POINT, code_hash(nadamw),
                           spec_hash(trial_spec("smoke")))
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**NADAMW_POINT, "learning_rate": 0.01}))
    code = main(["run", str(nadamw), "--workload", "smoke", "--framework", "pytorch",
                 "--out", str(out), "--hparams", str(other)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and str(smoke_folder(out)) in err
    assert "learning_rate 0.003 there, 0.01 here" in err and "use another --out" in err
    assert {p.name: p.read_bytes() for p in smoke_folder(out).iterdir()} == files


def test_tune_refuses_a_trial_whose_code_changed(tmp_path, capsys):
    submission = make_submission(tmp_path, [{"mode": "ok"}], frameworks=("jax",))
    out = tmp_path / "out"
    point = study.build_plan(submission, ["smoke"], ["jax"], out=out, studies=1, trials=1).tasks[0]
    folder = point.folder
    finished_trial(folder, point.hyperparameters, code_hash(submission), spec_hash(trial_spec("smoke")))
    args = ["tune", str(submission), "--workloads", "smoke", "--framework", "jax", "--studies", "1",
            "--trials", "1", "--out", str(out), "--dry-run"]
    assert main(args) == 0  # the same code: the finished trial is reused
    assert "1 trial already finished" in capsys.readouterr().out
    module = submission / "submission_jax.py"
    module.write_text(module.read_text() + "\n# changed\n")
    assert main(args[:-1]) == 2
    err = capsys.readouterr().err
    assert f"{folder}: holds a finished trial run with other submission code" in err
    assert not (out / "plan.json").exists()


def test_set_targets_refuses_runs_made_with_another_budget(tmp_path):
    """Target setting reuses its finished runs; one made with another --budget (another spec
    override) is refused, not reused."""
    submission = make_submission(tmp_path, [{"mode": "ok"}], frameworks=("jax",))
    out = tmp_path / "targets" / "tuning"
    overrides = {"max_runtime_sec": 5.0}
    plan = study.build_plan(submission, ["smoke"], ["jax"], out=out, studies=1, trials=1,
                            spec_overrides=overrides)
    finished_trial(plan.tasks[0].folder, plan.tasks[0].hyperparameters, code_hash(submission),
                   spec_hash(trial_spec("smoke", overrides)))
    study.write_plan(plan)
    other = study.build_plan(submission, ["smoke"], ["jax"], out=out, studies=1, trials=1,
                             spec_overrides={"max_runtime_sec": 9.0})
    with pytest.raises(TrialMismatchError, match="another version of the workload's spec"):
        study.write_plan(other)


@pytest.mark.parametrize("framework", ["pytorch", "jax"])
def test_a_finished_trial_is_returned_before_the_framework_starts(tmp_path, framework):
    """A re-run of a finished plan skips each finished trial fast: `run_trial` returns its
    meta.json before it loads the backend, so the framework (seconds to import) never starts."""
    nadamw = REPO / "submissions" / "nadamw"
    task = make_task(nadamw, "smoke", framework, tmp_path / "out")
    finished_trial(task.folder, task.hyperparameters, code_hash(nadamw), spec_hash(task.spec()))
    probe = ("import sys\n"
             "from harness import backends\n"
             "from harness.task import TrialTask\n"
             "from harness.trial import run_trial\n"
             "def no_backend(framework):\n"
             "    raise AssertionError(f'the {framework} backend was loaded for a finished trial')\n"
             "backends.load_backend = no_backend\n"
             "meta = run_trial(TrialTask.from_json(sys.argv[1]))\n"
             "print(meta['status'], sorted(m for m in ('torch', 'jax') if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", probe, task.to_json()], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[0] == "completed []"


def test_a_finished_plan_is_built_without_importing_its_submission(tmp_path):
    """Building the plan imports the submission's module (a broken one fails before anything
    runs), which starts its framework: seconds per framework. A framework whose trials all ended
    has nothing left to run, so a re-run of a finished plan imports nothing."""
    submission = make_submission(tmp_path, [{"mode": "ok"}, {"mode": "ok"}], frameworks=("pytorch",))
    module = submission / "submission_pytorch.py"
    module.write_text("raise ImportError('imported')\n" + module.read_text())
    args = dict(out=tmp_path / "out", studies=1)
    one, two = study.build_plan(submission, ["smoke"], ["pytorch"], trials=2, load_modules=False,
                                **args).tasks
    finished_trial(one.folder, one.hyperparameters, code_hash(submission), spec_hash(one.spec()))
    assert study.build_plan(submission, ["smoke"], ["pytorch"], trials=1, **args).tasks == [one]
    with pytest.raises(Exception, match="imported"):  # trial 1 has not run: the module is checked
        study.build_plan(submission, ["smoke"], ["pytorch"], trials=2, **args)
