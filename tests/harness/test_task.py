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


COUNTED_RUN = """
import sys
from algobench import cli
from harness import backends, task

calls = {"spec": 0, "pin_cores": 0}
real_spec, real_pin = task.TrialTask.spec, backends.pin_cores

def counted_spec(self):
    calls["spec"] += 1
    return real_spec(self)

def counted_pin(threads=None):
    calls["pin_cores"] += 1
    return real_pin(threads)

task.TrialTask.spec, backends.pin_cores = counted_spec, counted_pin
code = cli.main(["run", sys.argv[1], "--workload", "smoke", "--framework", "pytorch",
                 "--out", sys.argv[2], "--threads", "1"])
print(code, calls["spec"], calls["pin_cores"])
"""


def test_algobench_run_makes_the_spec_and_pins_the_cores_once(tmp_path):
    """`algobench run` hands the spec and the cores it made to run_trial, which makes neither
    again (in a process of its own: pinning is for the whole process)."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", COUNTED_RUN, str(REPO / "submissions" / "nadamw"),
                           str(tmp_path)], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "0 1 1"
