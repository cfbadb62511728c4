"""Two processes per trial (harness/submission_process.py): the real path runs the submission in a
process of its own, with the same curve as the in-process runner; a submission process that ends
fails its trial with a reason; it is frozen while the harness evaluates; it never holds the
validation split."""

from __future__ import annotations

import glob
import os
import hashlib
import json
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from algobench.cli import main
from harness.task import TrialTask
from harness.trial import run_trial

STEPS = 24
EVAL_STEPS = (8, 16, 24)
# evals at fixed steps (not by the clock), so that two runs compare step by step
OVERRIDES = {"max_steps": STEPS, "validation_target": 1.01, "test_target": 1.01}

# A plain SGD submission; HOOK runs in update_params at step 3, INIT in init_optimizer_state.
TEMPLATE = '''
import gc
import hashlib
import os
import sys

import torch

from harness.spec import ForwardPassMode


def get_batch_size(workload_name):
    return 32


def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
{init}
    return {{"optimizer": torch.optim.SGD(model_params.parameters(), lr=0.05, momentum=0.9)}}


def update_params(workload, current_param_container, current_params_types, model_state,
                  hyperparameters, batch, loss_type, optimizer_state, eval_results, global_step,
                  rng, train_state):
    if global_step == 3:
{hook}
    model = current_param_container
    optimizer_state["optimizer"].zero_grad()
    logits, model_state = workload.model_fn(model, batch, model_state, ForwardPassMode.TRAIN, rng, True)
    loss = workload.loss_fn(batch["targets"], logits)
    (loss["summed"] / loss["n_valid_examples"]).backward()
    optimizer_state["optimizer"].step()
    return optimizer_state, model, model_state


def data_selection(workload, input_queue, optimizer_state, current_param_container, model_state,
                   hyperparameters, global_step, rng):
    return next(input_queue)
'''


def _submission(tmp_path: Path, name: str, hook: str = "pass", init: str = "pass") -> Path:
    folder = tmp_path / name
    folder.mkdir()
    code = TEMPLATE.format(hook=textwrap.indent(textwrap.dedent(hook).strip(), " " * 8),
                           init=textwrap.indent(textwrap.dedent(init).strip(), " " * 4))
    (folder / "submission_pytorch.py").write_text(code)
    return folder


def _task(submission: Path, out: Path, framework: str = "pytorch") -> TrialTask:
    return TrialTask(str(submission.resolve()), "smoke", framework, "self", 0, 0, 0, {}, str(out),
                     spec_overrides=dict(OVERRIDES))


def _meta(out: Path) -> dict:
    (path,) = Path(out).rglob("meta.json")
    return json.loads(path.read_text())


def _scratch_files(name: str) -> list[str]:
    """A file the submission process wrote in its scratch folder (its working directory)."""
    return glob.glob(str(Path(tempfile.gettempdir()) / f"algobench-scratch-{os.getpid()}-*" / name))


@pytest.mark.parametrize("framework", ["pytorch", "jax"])
def test_algobench_run_uses_a_separate_process(framework, tmp_path, capsys):
    if framework == "jax":
        pytest.importorskip("jax")
    code = main(["run", "submissions/adamw", "--workload", "smoke", "--framework", framework,
                 "--out", str(tmp_path), "--threads", "1"])
    assert code == 0, capsys.readouterr()
    meta = _meta(tmp_path)
    assert meta["status"] == "completed", meta["error"]
    assert meta["isolation"] == "separate-process"
    assert meta["sandbox"]  # the bubblewrap version, or "unsandboxed: <why>"


@pytest.mark.parametrize("framework", ["pytorch", "jax"])
def test_the_separate_process_gives_the_in_process_curve(framework, tmp_path):
    if framework == "jax":
        pytest.importorskip("jax")
    curves = {}
    for isolation in ("in-process", "separate-process"):
        out = tmp_path / isolation
        task = TrialTask(str(Path("submissions/adamw").resolve()), "smoke", framework, "external",
                         0, 0, 0, {"learning_rate": 0.003, "one_minus_beta1": 0.1, "beta2": 0.999,
                                   "weight_decay": 0.01, "warmup_factor": 0.05,
                                   "label_smoothing": 0.0},
                         str(out), spec_overrides=dict(OVERRIDES))
        meta = run_trial(task, isolation=isolation, eval_steps=EVAL_STEPS)
        assert meta["status"] == "completed" and meta["isolation"] == isolation, meta["error"]
        (rows_file,) = out.rglob("eval_measurements.csv")
        import pandas as pd

        rows = pd.read_csv(rows_file)
        rows = rows[rows["snapshot"] == 0]
        curves[isolation] = rows[["global_step", "validation/loss", "validation/accuracy",
                                  "test/loss"]].to_numpy(dtype=float)
    assert list(curves["in-process"][:, 0]) == list(EVAL_STEPS)
    np.testing.assert_allclose(curves["separate-process"], curves["in-process"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("hook, reason", [
    ("os._exit(3)", "exited with code 3"),
    ("raise SystemExit(0)", "SystemExit"),
    ("raise KeyboardInterrupt", "KeyboardInterrupt"),
    ("os.kill(os.getpid(), 9)", "killed by SIGKILL"),
])
def test_a_submission_that_ends_its_process_fails_its_trial(hook, reason, tmp_path, capsys):
    submission = _submission(tmp_path, "ends", hook)
    out = tmp_path / "out"
    meta = run_trial(_task(submission, out))
    assert meta["status"] == "failed"
    assert reason in meta["error"]
    assert meta["stop_reason"] in ("submission_exited", "error")
    # and `algobench run` reports it and returns (no traceback, no exit from the submission)
    code = main(["run", str(submission), "--workload", "smoke", "--framework", "pytorch",
                 "--out", str(tmp_path / "cli")])
    assert code == 1 and _meta(tmp_path / "cli")["status"] == "failed"
    assert "failed" in capsys.readouterr().out


def test_a_submission_that_ends_its_process_at_import_fails_its_trial(tmp_path):
    submission = _submission(tmp_path, "ends_at_import")
    path = submission / "submission_pytorch.py"
    path.write_text(path.read_text() + "\nos._exit(0)\n")
    meta = run_trial(_task(submission, tmp_path / "out"))
    assert meta["status"] == "failed" and "exited with code 0 during load" in meta["error"]


COUNTER_THREAD = '''
def count():
    n = 0
    while True:
        n += 1
        if n % 1000 == 0:
            with open("counter.tmp", "w") as f:
                f.write(str(n))
            os.replace("counter.tmp", "counter")

sys.modules["threading"].Thread(target=count, daemon=True).start()
'''


def test_a_submission_thread_is_frozen_while_the_harness_evaluates(tmp_path):
    submission = _submission(tmp_path, "counts", init=COUNTER_THREAD)
    during_evals = []

    def read_counter_twice(row):  # called by the harness while it logs an eval
        (path,) = _scratch_files("counter")
        first = int(Path(path).read_text())
        time.sleep(0.5)
        during_evals.append((first, int(Path(path).read_text())))

    meta = run_trial(_task(submission, tmp_path / "out"), on_eval=read_counter_twice,
                     eval_steps=EVAL_STEPS)
    assert meta["status"] == "completed", meta["error"]
    assert len(during_evals) == len(EVAL_STEPS)
    assert all(first == second for first, second in during_evals), during_evals
    # the thread did count between evals (while the submission process ran)
    assert during_evals[-1][0] > during_evals[0][0], during_evals


ARRAY_DIGESTS = '''
digests, seen, objects = set(), set(), gc.get_objects()
for depth in range(3):  # what the collector tracks, and what that refers to (arrays are untracked)
    referred = []
    for obj in objects:
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if type(obj).__name__ == "ndarray":
            if obj.ndim >= 2:
                digests.add(hashlib.sha256(obj.tobytes()).hexdigest())
        else:
            referred += gc.get_referents(obj)
    objects = referred
with open("digests", "w") as f:
    f.write("\\n".join(sorted(digests)))
'''


def test_the_submission_process_holds_no_validation_split(tmp_path):
    from workloads.registry import get_spec
    from workloads.sources import load_source

    splits = load_source(get_spec("smoke").data_source)
    digest = {split: hashlib.sha256(np.ascontiguousarray(splits[split]["inputs"]).tobytes()).hexdigest()
              for split in ("train", "validation", "test")}
    submission = _submission(tmp_path, "searches_memory", hook=ARRAY_DIGESTS)
    found = []

    def read_digests(row):
        (path,) = _scratch_files("digests")
        found.append(set(Path(path).read_text().split()))

    meta = run_trial(_task(submission, tmp_path / "out"), on_eval=read_digests,
                     eval_steps=EVAL_STEPS)
    assert meta["status"] == "completed", meta["error"]
    assert digest["train"] in found[0]  # the search finds the training split it holds
    assert digest["validation"] not in found[0] and digest["test"] not in found[0]


def test_an_interrupted_separate_process_trial_resumes_from_its_checkpoint(tmp_path):
    """The checkpoint holds what the submission process handed over (canonical parameters, the
    optimizer state's files); a resumed trial restores them in a new submission process and
    follows the uninterrupted curve."""
    import pandas as pd

    hparams = {"learning_rate": 0.003, "one_minus_beta1": 0.1, "beta2": 0.999,
               "weight_decay": 0.01, "warmup_factor": 0.05, "label_smoothing": 0.0}

    def task(out):
        return TrialTask(str(Path("submissions/adamw").resolve()), "smoke", "pytorch", "external",
                         0, 0, 0, hparams, str(out), spec_overrides=dict(OVERRIDES))

    def curve(out):
        (rows_file,) = out.rglob("eval_measurements.csv")
        rows = pd.read_csv(rows_file)
        return rows[rows["snapshot"] == 0][["global_step", "validation/loss"]].to_numpy(dtype=float)

    run_trial(task(tmp_path / "whole"), eval_steps=EVAL_STEPS)

    def interrupt_at_the_second_eval(row):
        if row["global_step"] == EVAL_STEPS[1]:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_trial(task(tmp_path / "resumed"), eval_steps=EVAL_STEPS, on_eval=interrupt_at_the_second_eval)
    assert _meta(tmp_path / "resumed")["status"] == "running"
    meta = run_trial(task(tmp_path / "resumed"), eval_steps=EVAL_STEPS)
    assert meta["status"] == "completed" and meta["isolation"] == "separate-process", meta["error"]
    (events,) = (tmp_path / "resumed").rglob("events.jsonl")
    resumed = [json.loads(line) for line in events.read_text().splitlines() if '"resume"' in line]
    assert resumed and resumed[0]["checkpoint"] == f"step_{EVAL_STEPS[0]:08d}"
    np.testing.assert_allclose(curve(tmp_path / "resumed"), curve(tmp_path / "whole"), rtol=1e-5, atol=1e-6)


RUNTIME = '''
import resource

faults, weight = [], torch.ones(16, 16, 3, 3, requires_grad=True)
for repeat in range(10):  # a convolutional training step's allocations, freed at its end
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    inputs = torch.ones(8, 16, 64, 64)
    hidden = torch.nn.functional.conv2d(inputs, weight, padding=1).relu()
    torch.nn.functional.conv2d(hidden, weight, padding=1).square().sum().backward()
    del inputs, hidden
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
seen = {"threads": torch.get_num_threads(), "interop_threads": torch.get_num_interop_threads(),
        "affinity": sorted(os.sched_getaffinity(0)),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(), "page_faults": faults}
with open("runtime", "w") as f:
    f.write(repr(seen))
'''


def test_the_submission_process_runs_as_the_harness_process_would(tmp_path):
    """What makes a step cost the same in both processes: the threads, cores and CPU kernels, and
    memory that a step frees kept for the next (harness/submission_process.py's
    `_keep_freed_memory`): without it each step faulted its activations in again."""
    import ast

    import torch

    from harness import backends

    submission = _submission(tmp_path, "reports_runtime", hook=RUNTIME)
    seen = []

    def read_runtime(row):
        (path,) = _scratch_files("runtime")
        seen.append(ast.literal_eval(Path(path).read_text()))

    cores = backends.pin_cores(None)
    meta = run_trial(_task(submission, tmp_path / "out"), on_eval=read_runtime, cores=cores,
                     eval_steps=EVAL_STEPS)
    assert meta["status"] == "completed", meta["error"]
    runtime = seen[0]
    assert runtime["threads"] == torch.get_num_threads() == len(cores)
    assert runtime["interop_threads"] == torch.get_num_interop_threads()
    assert runtime["affinity"] == sorted(os.sched_getaffinity(0)) == cores
    assert runtime["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    # the first step faults its memory in; the next ones reuse it (without: over a thousand
    # faults a step, the eight after the second far more than the first)
    faults = runtime["page_faults"]
    assert sum(faults[2:]) < faults[0], faults


def test_a_trial_with_a_budget_beyond_what_poll_takes_runs(tmp_path):
    """The harness waits for a timed call at most the budget left (docs/integrity.md#timeouts);
    a budget of 1e9 s (the benchmarks' "no budget") is more than one poll(2) can wait."""
    submission = _submission(tmp_path, "plain")
    task = TrialTask(str(submission.resolve()), "smoke", "pytorch", "self", 0, 0, 0, {},
                     str(tmp_path / "out"), spec_overrides={**OVERRIDES, "max_runtime_sec": 1e9})
    meta = run_trial(task, eval_steps=EVAL_STEPS)
    assert meta["status"] == "completed" and meta["stop_reason"] == "step_budget", meta["error"]


def test_only_a_side_that_trains_imports_what_training_imports_lazily():
    """torch._dynamo (what torch.optim imports on first use) is imported where a submission
    trains, off the clock: not by the harness's own process, nor by the batch-size process."""
    code = """if True:
        import sys
        from harness import backends
        import harness.trial, harness.runner, harness.submission_process
        from harness.submission_side import SubmissionSide
        from workloads.registry import get_spec
        backend = backends.load_backend("pytorch")
        seen = ["torch._dynamo" in sys.modules]
        SubmissionSide(backend, get_spec("smoke"), {}, trains=False)
        seen.append("torch._dynamo" in sys.modules)
        SubmissionSide(backend, get_spec("smoke"), {})
        seen.append("torch._dynamo" in sys.modules)
        print(seen)
    """
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True)
    assert done.stdout.strip() == "[False, False, True]", done.stderr[-2000:]
