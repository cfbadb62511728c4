"""The loader rejects broken submissions before training, with one line naming the file and fix."""

from __future__ import annotations

import textwrap

import pytest

from algobench.cli import main
from harness.loader import SubmissionError, load_submission

GOOD = """
def get_batch_size(workload_name):
    return 8

def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
    return {}

def update_params(workload, current_param_container, current_params_types, model_state,
                  hyperparameters, batch, loss_type, optimizer_state, eval_results, global_step,
                  rng, train_state):
    return optimizer_state, current_param_container, model_state

def data_selection(workload, input_queue, optimizer_state, current_param_container, model_state,
                   hyperparameters, global_step, rng):
    return next(input_queue)
"""


def write(tmp_path, source, framework="pytorch", name="sub"):
    folder = tmp_path / name
    folder.mkdir(exist_ok=True)
    (folder / f"submission_{framework}.py").write_text(textwrap.dedent(source))
    return folder


def test_a_valid_submission_loads(tmp_path):
    module = load_submission(write(tmp_path, GOOD), "pytorch")
    assert module.get_batch_size("cnn") == 8


def test_missing_function_is_named(tmp_path):
    folder = write(tmp_path, GOOD.replace("def data_selection", "def other_name"))
    with pytest.raises(SubmissionError, match=r"submission_pytorch.py: missing function `data_selection\("):
        load_submission(folder, "pytorch")


def test_wrong_signature_is_named_with_its_line(tmp_path):
    folder = write(tmp_path, GOOD.replace(
        "def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng)",
        "def init_optimizer_state(workload, params, state, hyperparameters, rng)"))
    with pytest.raises(SubmissionError, match=r"submission_pytorch.py:5: `init_optimizer_state` has the wrong signature"):
        load_submission(folder, "pytorch")


def test_kwargs_signature_is_accepted(tmp_path):
    folder = write(tmp_path, GOOD.replace(
        "def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng)",
        "def init_optimizer_state(**kwargs)"))
    load_submission(folder, "pytorch")


def test_import_error_is_reported_with_file_and_line(tmp_path):
    folder = write(tmp_path, "SCALE = 1 / 0\n" + GOOD)
    with pytest.raises(SubmissionError, match=r"submission_pytorch.py:1: importing the submission failed: ZeroDivisionError"):
        load_submission(folder, "pytorch")


def test_missing_framework_module_says_which_exist(tmp_path):
    folder = write(tmp_path, GOOD, framework="pytorch")
    with pytest.raises(SubmissionError, match="submission_jax.py: missing; this submission supports pytorch"):
        load_submission(folder, "jax")


def test_not_a_function(tmp_path):
    folder = write(tmp_path, GOOD + "\nupdate_params = 3\n")
    with pytest.raises(SubmissionError, match="`update_params` is not a function"):
        load_submission(folder, "pytorch")


def test_check_command_exit_status(tmp_path, capsys):
    good = write(tmp_path, GOOD, name="good")
    bad = write(tmp_path, GOOD.replace("def get_batch_size", "def get_bs"), name="bad")
    assert main(["check", str(good)]) == 0
    assert "self-tuning" in capsys.readouterr().out
    assert main(["check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "get_batch_size" in err
    (good / "tuning_search_space.json").write_text('{"learning_rate": {"min": 1, "max": 0.1, "scaling": "log"}}')
    assert main(["check", str(good)]) == 2
    assert "learning_rate" in capsys.readouterr().err


def test_check_passes_on_the_nadamw_baseline(capsys):
    assert main(["check", "submissions/nadamw"]) == 0
    assert "pytorch, jax" in capsys.readouterr().out


def test_undeclared_dependency_is_rejected_before_import(tmp_path):
    folder = write(tmp_path, "import not_a_module_anywhere\n" + GOOD)
    with pytest.raises(SubmissionError, match=r"submission_pytorch.py:1: \[dependencies\] imports not_a_module_anywhere"):
        load_submission(folder, "pytorch")
    (folder / "requirements.txt").write_text("not-a-module-anywhere==1.0\n")
    with pytest.raises(SubmissionError, match="ModuleNotFoundError"):  # declared, so it is imported
        load_submission(folder, "pytorch")


def test_a_function_left_as_the_templates_stub_is_rejected(tmp_path, capsys):
    stub = GOOD.replace(
        "def update_params(workload, current_param_container, current_params_types, model_state,\n"
        "                  hyperparameters, batch, loss_type, optimizer_state, eval_results, global_step,\n"
        "                  rng, train_state):\n"
        "    return optimizer_state, current_param_container, model_state",
        "def update_params(workload, current_param_container, current_params_types, model_state,\n"
        "                  hyperparameters, batch, loss_type, optimizer_state, eval_results, global_step,\n"
        "                  rng, train_state):\n"
        '    """One step."""\n'
        '    raise NotImplementedError("write update_params")')
    assert stub != GOOD
    folder = write(tmp_path, stub)
    with pytest.raises(SubmissionError, match=r"submission_pytorch.py:8: `update_params` is still the "
                                              r"template's stub"):
        load_submission(folder, "pytorch")
    assert main(["check", str(folder)]) == 2
    assert "`update_params` is still the template's stub" in capsys.readouterr().err
    # raising NotImplementedError for one case among others is an implementation, not a stub
    written = stub.replace('    raise NotImplementedError("write update_params")',
                           "    if batch is None:\n        raise NotImplementedError\n"
                           "    return optimizer_state, current_param_container, model_state")
    load_submission(write(tmp_path, written, name="written"), "pytorch")


def test_check_framework_checks_that_framework_only(tmp_path, capsys):
    folder = write(tmp_path, GOOD, framework="jax")
    (folder / "submission_pytorch.py").write_text("import time\nSTART = time.time()\n" + GOOD)
    assert main(["check", str(folder)]) == 2
    assert "submission_pytorch.py:2: [clock]" in capsys.readouterr().err
    assert main(["check", str(folder), "--framework", "jax"]) == 0
    captured = capsys.readouterr()
    assert "submission_pytorch.py" not in captured.err and "ok (jax;" in captured.out
    load_submission(folder, "jax")  # a JAX run is not blocked by the PyTorch module either
    with pytest.raises(SubmissionError, match=r"\[clock\]"):
        load_submission(folder, "pytorch")


def test_a_mistyped_submission_folder_gets_a_suggestion(tmp_path, capsys):
    write(tmp_path, GOOD, name="my_sgd")
    assert main(["check", str(tmp_path / "my_sdg")]) == 2
    assert f"did you mean {tmp_path / 'my_sgd'}?" in capsys.readouterr().err
    with pytest.raises(SubmissionError, match="did you mean"):
        load_submission(tmp_path / "my_sg", "pytorch")
