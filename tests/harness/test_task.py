"""The trial task (harness/task.py): one value, built once, that travels unchanged."""

from __future__ import annotations

import pickle
from pathlib import Path

from harness.seeds import trial_seed
from harness.task import TrialTask, make_task

REPO = Path(__file__).resolve().parents[2]


def test_a_task_travels_as_a_pickle_and_as_json_unchanged():
    task = make_task(REPO / "submissions" / "nadamw", "smoke", "jax", "results", study=1, trial=2,
                     base_seed=7, devices=2, spec_overrides={"max_runtime_sec": 5.0},
                     protocol="quick")
    assert pickle.loads(pickle.dumps(task)) == task  # the submitit (Slurm) path
    assert TrialTask.from_json(task.to_json()) == task  # the local worker's command line


def test_make_task_resolves_the_ruleset_and_the_search_space_point_once():
    task = make_task("submissions/nadamw", "smoke", "pytorch", "out", study=1, trial=2, base_seed=7)
    assert Path(task.submission_dir).is_absolute() and task.ruleset == "external"
    assert task.hyperparameters and "learning_rate" in task.hyperparameters
    assert task.seed == trial_seed(7, 1, 2)
    assert task.folder == Path("out/nadamw/external/pytorch/smoke/study_1/trial_2")
    assert task.key == "nadamw/external/pytorch/smoke/study_1/trial_2"
    given = make_task("submissions/nadamw", "smoke", "pytorch", "out", hyperparameters={"a": 1})
    assert given.hyperparameters == {"a": 1}
