"""Bad input to `run`, `tune` and `check`: each ends with one line on stderr naming the file and the
fix (exit code 2), before anything is written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from algobench.cli import main
from harness import checker, search_space
from harness.search_space import SearchSpaceError
from tests.harness.tuning_submissions import REPO

NADAMW = REPO / "submissions" / "nadamw"
POINT = {"learning_rate": 0.003, "one_minus_beta1": 0.1, "beta2": 0.999, "weight_decay": 0.05,
         "warmup_factor": 0.05}
NOT_UTF8 = "# caf\xe9\n".encode("latin-1")


def refused(capsys, argv: list[str]) -> str:
    """The one line `argv` ends with (exit code 2)."""
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err.strip()


def copy_of_nadamw(tmp_path: Path) -> Path:
    folder = tmp_path / "nadamw"
    shutil.copytree(NADAMW, folder)
    return folder


def run_args(tmp_path: Path, *extra: str, submission: Path = NADAMW) -> list[str]:
    return ["run", str(submission), "--workload", "smoke", "--framework", "jax",
            "--out", str(tmp_path / "out"), *extra]


# -- --hparams ------------------------------------------------------------------------------------
@pytest.mark.parametrize("content, expected", [
    ([POINT], "takes one JSON object of hyperparameter values (name: value), not a list"),
    ({**POINT, "learning_rte": 0.01}, "unknown hyperparameter(s) learning_rte: "),
    ({**POINT, "learning_rate": float("nan")}, "'learning_rate': nan is not a finite number"),
    ({**POINT, "learning_rate": "0.003"}, "'learning_rate': '0.003' is a number written as a string"),
])
def test_bad_hparams_files_are_refused_naming_the_file(tmp_path, capsys, content, expected):
    hparams = tmp_path / "point.json"
    hparams.write_text(json.dumps(content))
    line = refused(capsys, run_args(tmp_path, "--hparams", str(hparams)))
    assert line.startswith(f"algobench: error: {hparams}: ") and expected in line
    assert not (tmp_path / "out").exists()


def test_an_hparams_file_that_is_not_json_or_utf8_is_named(tmp_path, capsys):
    hparams = tmp_path / "point.json"
    hparams.write_text("{learning_rate: 1}")
    assert refused(capsys, run_args(tmp_path, "--hparams", str(hparams))).startswith(
        f"algobench: error: {hparams}:1: not valid JSON")
    hparams.write_bytes(b'{"learning_rate": "caf\xe9"}')
    assert refused(capsys, run_args(tmp_path, "--hparams", str(hparams))).startswith(
        f"algobench: error: {hparams}: not UTF-8 text")
    assert not (tmp_path / "out").exists()


def test_an_unknown_hyperparameter_names_the_search_space(tmp_path, capsys):
    hparams = tmp_path / "point.json"
    hparams.write_text(json.dumps({"lr": 0.1}))
    line = refused(capsys, run_args(tmp_path, "--hparams", str(hparams)))
    assert f"{NADAMW / 'tuning_search_space.json'} defines beta2, label_smoothing, " in line


# -- --out ------------------------------------------------------------------------------------------
def test_out_naming_a_file_is_refused_by_run_and_tune(tmp_path, capsys):
    out = tmp_path / "results.txt"
    out.write_text("not a folder")
    for argv in (["run", str(NADAMW), "--workload", "smoke", "--framework", "jax", "--out", str(out)],
                 ["run", str(NADAMW), "--workload", "smoke", "--framework", "jax", "--out",
                  str(out / "below")],
                 ["tune", str(NADAMW), "--workloads", "smoke", "--framework", "jax", "--studies",
                  "1", "--trials", "1", "--out", str(out)]):
        line = refused(capsys, argv)
        assert f"{out} is a file, not a folder; give a folder for the results" in line
    assert out.read_text() == "not a folder"


# -- search spaces ------------------------------------------------------------------------------------
@pytest.mark.parametrize("space, expected", [
    ({"learning_rate": {"feasible_points": [float("nan")]}}, "nan is not a finite number"),
    ({"learning_rate": {"feasible_points": ["1e-3"]}}, "'1e-3' is a number written as a string"),
    ({"learning_rate": {"min": "0.001", "max": 0.1, "scaling": "log"}}, "min and max must be finite"),
    ([{"learning_rate": float("inf")}], "point 0, hyperparameter 'learning_rate': inf is not a finite"),
])
def test_a_search_space_with_a_nan_or_string_learning_rate_is_refused(tmp_path, space, expected):
    path = tmp_path / "tuning_search_space.json"
    path.write_text(json.dumps(space))
    with pytest.raises(SearchSpaceError) as raised:
        search_space.load(path)
    assert str(raised.value).startswith(f"{path}: ") and expected in str(raised.value)


def test_tune_refuses_a_nan_search_space_before_writing(tmp_path, capsys):
    submission = copy_of_nadamw(tmp_path)
    (submission / "tuning_search_space.json").write_text(
        json.dumps([{**POINT, "learning_rate": float("nan")}]))
    line = refused(capsys, ["tune", str(submission), "--workloads", "smoke", "--framework", "jax",
                            "--studies", "1", "--trials", "1", "--out", str(tmp_path / "out")])
    assert f"{submission / 'tuning_search_space.json'}: point 0" in line
    assert not (tmp_path / "out").exists()


# -- files that are not UTF-8 ---------------------------------------------------------------------------
def test_check_names_a_non_utf8_submission_file_requirements_or_search_space(tmp_path, capsys):
    submission = copy_of_nadamw(tmp_path)
    module = submission / "submission_jax.py"
    module.write_bytes(NOT_UTF8 + module.read_bytes())
    (submission / "requirements.txt").write_bytes(NOT_UTF8)
    (submission / "tuning_search_space.json").write_bytes(b'[{"learning_rate": "\xe9"}]')
    assert main(["check", str(submission), "--framework", "jax"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"{module}:1: [source] not UTF-8 text (byte 0xe9 at offset 5); make it UTF-8 text" in err
    assert f"{submission / 'requirements.txt'}:1: [source] not UTF-8 text" in err
    assert f"{submission / 'tuning_search_space.json'}: not UTF-8 text" in err


def test_run_names_a_non_utf8_submission_file_in_a_process_already_running_jax(tmp_path, capsys):
    """The one line holds where JAX already runs its threads: JAX warns at every fork, and the
    trial starts `uname` and `git` before the submission's file is read (it failed in the suite
    whenever an earlier test in the same worker had imported JAX)."""
    import jax.numpy as jnp

    jnp.ones(2).block_until_ready()
    submission = copy_of_nadamw(tmp_path)
    module = submission / "submission_jax.py"
    module.write_bytes(NOT_UTF8 + module.read_bytes())
    line = refused(capsys, run_args(tmp_path, submission=submission))
    assert line.startswith(f"algobench: error: {module}:1: [source] not UTF-8 text")


def test_run_names_a_non_utf8_submission_file(tmp_path, capsys):
    submission = copy_of_nadamw(tmp_path)
    module = submission / "submission_jax.py"
    module.write_bytes(NOT_UTF8 + module.read_bytes())
    line = refused(capsys, run_args(tmp_path, submission=submission))
    assert line.startswith(f"algobench: error: {module}:1: [source] not UTF-8 text")
    assert not (tmp_path / "out").exists()


# -- the static checker's reports ---------------------------------------------------------------------
def test_a_syntax_error_is_reported_as_a_source_problem_not_a_dependency(tmp_path):
    (tmp_path / "submission_jax.py").write_text("def update_params(:\n    pass\n")
    [violation] = checker.check_package(tmp_path)
    assert violation.rule == "source" and "syntax error" in str(violation)
    assert "requirements.txt" not in str(violation)


@pytest.mark.parametrize("listed, passes", [
    ("scikit-learn>=1.0", True), ("Scikit_Learn", True), ("sklearn", False), ("", False)])
def test_requirements_name_distributions_not_import_names(tmp_path, listed, passes):
    pytest.importorskip("sklearn")  # the mapping is read from the installed distribution
    (tmp_path / "submission_jax.py").write_text("import sklearn\n")
    (tmp_path / "requirements.txt").write_text(listed + "\n")
    violations = checker.check_package(tmp_path)
    assert (violations == []) is passes, violations
    if not passes:
        assert "imports sklearn, which is not declared (it comes from the distribution " \
               "scikit-learn" in str(violations[0])


def test_an_import_name_that_is_not_installed_is_declared_by_itself(tmp_path):
    (tmp_path / "submission_jax.py").write_text("import not_installed_anywhere\n")
    (tmp_path / "requirements.txt").write_text("not-installed-anywhere==1.0\n")
    assert checker.check_package(tmp_path) == []


# -- a hyperparameter the submission reads and its search space lacks -----------------------------------
def test_a_hyperparameter_read_but_not_in_the_search_space_is_refused(tmp_path, capsys):
    submission = copy_of_nadamw(tmp_path)
    module = submission / "submission_jax.py"
    lines = module.read_text().count("\n")
    with open(module, "a") as f:
        f.write("\n\ndef _momentum(hyperparameters):\n    alias = hyperparameters\n"
                "    return hyperparameters.momentum\n")
    line = refused(capsys, ["check", str(submission), "--framework", "jax"])
    assert line == (f"algobench check: {module}:{lines + 5}: reads hyperparameters.momentum, which "
                    f"{submission / 'tuning_search_space.json'} does not define; add it to the "
                    "search space, or read it with hyperparameters.get('momentum', default)")
    module.write_text(module.read_text().replace("hyperparameters.momentum",
                                                 "hyperparameters.get('momentum', 0.9)"))
    assert main(["check", str(submission), "--framework", "jax"]) == 0


def test_words_that_python_reads_as_numbers_stay_categories():
    search_space.check_value("space", "nan")  # e.g. a `mode` hyperparameter named "nan"
    search_space.check_value("space", "inf")
    search_space.check_value("space", "adam")
    with pytest.raises(SearchSpaceError):
        search_space.check_value("space", " 3e-4")
