"""AlgoPerf-style submissions (tests/algoperf/*: written here from AlgoPerf's documented API, in
its folder layout, both API versions, a `jax.pmap` file) run unchanged and reach the `smoke`
target in both frameworks; a `jax.pmap` file on two devices trains as on one; an AlgoPerf-style
NAdamW follows our native NAdamW's trajectory."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import pytest

from harness import study
from harness.algoperf_compat import accepts
from harness.executors import LocalExecutor
from harness.logs import read_trial
from harness.loader import load_submission
from harness.spec import Hyperparameters, TrainState
from harness.task import make_task
from harness.trial import run_trial

HERE = Path(__file__).parent
REPO = HERE.parents[1]
LOSSES = ("train/loss", "validation/loss", "test/loss")


@pytest.mark.parametrize("framework", ["pytorch", "jax"])
@pytest.mark.parametrize("name", ["nadamw_v06", "momentum_v05"])
def test_algoperf_style_submissions_reach_the_smoke_target(tmp_path, name, framework):
    pytest.importorskip("torch" if framework == "pytorch" else "jax")
    meta = run_trial(make_task(HERE / name, "smoke", framework, tmp_path))
    assert (meta["status"], meta["stop_reason"]) == ("completed", "targets_reached"), meta["error"]
    rule = meta["batch_size_rule"]
    assert (rule["algoperf_workload"], rule["file_batch_size"]) == ("mnist", 16)
    assert meta["global_batch_size"] == rule["global_batch_size"] == 64
    written = json.loads(next(tmp_path.rglob("meta.json")).read_text())
    assert written["batch_size_rule"] == rule


def one_and_two_devices(tmp_path, name: str, framework: str) -> tuple[dict, dict]:
    """The trial on 1 and on 2 devices (JAX host devices; PyTorch DDP processes under torchrun),
    20 steps each (unreachable targets: no early stop), through the local executor."""
    cores = sorted(os.sched_getaffinity(0))[:2]
    overrides = {"max_steps": 20, "validation_target": 2.0, "test_target": 2.0}
    plans = [study.build_plan(HERE / name, ["smoke"], [framework], out=tmp_path / f"devices_{n}",
                              studies=1, trials=1, devices=n, load_modules=False,
                              spec_overrides=overrides) for n in (1, 2)]
    tasks = [p.tasks[0] for p in plans]
    parallel = len(cores) if framework == "jax" else 1  # torchrun's two ranks take both cores
    LocalExecutor(parallel=parallel, cores=cores, gpus=[]).run(tasks, study.Progress(plans[0], io.StringIO()))
    return tuple(read_trial(t.folder) for t in tasks)


@pytest.mark.parametrize("name, framework", [("momentum_v05", "jax"), ("nadamw_v06", "pytorch")])
def test_two_devices_train_as_one(tmp_path, name, framework):
    """JAX: the pmap adapter replicates, splits the batch over the devices and takes the first
    copy back. PyTorch: `pytorch_setup()` says DDP exactly when the harness runs it, so the file's
    all-reduce of its loss gives the global mean. Either way the losses after 20 steps on 2
    devices equal those on 1."""
    pytest.importorskip("torch" if framework == "pytorch" else "jax")
    if len(os.sched_getaffinity(0)) < 2 and framework == "pytorch":
        pytest.skip("needs 2 cores")
    one, two = one_and_two_devices(tmp_path, name, framework)
    for trial, devices in ((one, 1), (two, 2)):
        meta = trial["meta"]
        assert (meta["status"], meta["stop_reason"]) == ("completed", "step_budget"), meta["error"]
        assert meta["hardware"]["num_devices"] == devices
    losses = [{k: t["evals"][-1][k] for k in LOSSES} for t in (one, two)]
    assert losses[0] != pytest.approx({k: 2.3 for k in LOSSES}, abs=0.2)  # it trained
    assert losses[1] == pytest.approx(losses[0], rel=1e-5)


def train_state_for(submission, step: int) -> dict:
    """`train_state=...` where update_params names it, as the runner passes it."""
    if accepts(submission.update_params, "train_state"):
        return {"train_state": TrainState({"global_step": step})}
    return {}


def trajectory(submission, framework: str, hp: Hyperparameters, steps: int) -> list[dict]:
    """The canonical parameters after each of `steps` updates on `smoke`, seed 0, called as the
    runner calls the submission functions."""
    from harness import backends
    from workloads.data import TrainStream
    from workloads.registry import get_spec
    from workloads.sources import load_source

    spec = get_spec("smoke")
    backend = backends.load_backend(framework)
    workload = backend.make_workload(spec)
    batch_size = submission.get_batch_size(workload_name="smoke")
    stream = TrainStream(load_source(spec.data_source, None)["train"], batch_size, 0)
    params, model_state = workload.init_model_fn(backend.make_rng(0))
    opt = submission.init_optimizer_state(workload=workload, model_params=params,
                                          model_state=model_state, hyperparameters=hp,
                                          rng=backend.make_rng(1))
    out = []
    for step in range(steps):
        batch = workload.to_device(next(stream))
        opt, params, model_state = submission.update_params(
            workload=workload, current_param_container=params,
            current_params_types=workload.model_params_types, model_state=model_state,
            hyperparameters=hp, batch=batch, loss_type=spec.loss_type, optimizer_state=opt,
            eval_results=[], global_step=step, rng=backend.make_rng(100 + step),
            **train_state_for(submission, step))
        # copies: PyTorch's canonical arrays share memory with the live parameters
        out.append({k: np.array(v, copy=True) for k, v in workload.to_canonical(params, model_state).items()})
    return out


@pytest.mark.parametrize("framework", ["pytorch", "jax"])
def test_algoperf_style_nadamw_follows_the_native_nadamw(framework):
    """Same point, same seed, the batch size the rule gives (ours): the parameters of both stay
    within float tolerance over the 70 steps the smoke runs above take to reach the target."""
    pytest.importorskip("torch" if framework == "pytorch" else "jax")
    space = json.loads((HERE / "nadamw_v06" / "tuning_search_space.json").read_text())
    hp = Hyperparameters({name: axis["feasible_points"][0] for name, axis in space.items()})
    theirs = trajectory(load_submission(HERE / "nadamw_v06", framework), framework, hp, 70)
    ours = trajectory(load_submission(REPO / "submissions" / "nadamw", framework), framework, hp, 70)
    moved = max(np.abs(theirs[-1][k] - ours[0][k]).max() for k in ours[0])
    assert moved > 1e-2  # the parameters changed
    for step, (a, b) in enumerate(zip(theirs, ours)):
        for key in b:
            np.testing.assert_allclose(a[key], b[key], rtol=1e-4, atol=1e-5, err_msg=f"step {step}: {key}")


def train(submission, framework: str, hp: Hyperparameters, steps: int, folder: Path | None = None,
          save_at: int | None = None) -> dict:
    """Train `steps` updates on `smoke` (seed 0), as `trajectory`; with `save_at`, checkpoint the
    parameters and optimizer state there and continue from a fresh restore, as a resumed trial
    does (`Trial._restore`). Returns the final canonical parameters."""
    from harness import backends
    from workloads.data import TrainStream
    from workloads.registry import get_spec
    from workloads.sources import load_source

    spec = get_spec("smoke")
    backend = backends.load_backend(framework)
    workload = backend.make_workload(spec)
    stream = TrainStream(load_source(spec.data_source, None)["train"],
                         submission.get_batch_size(workload_name="smoke"), 0)
    params, model_state = workload.init_model_fn(backend.make_rng(0))

    def init(params, model_state):
        return submission.init_optimizer_state(workload=workload, model_params=params,
                                               model_state=model_state, hyperparameters=hp,
                                               rng=backend.make_rng(1))

    opt = init(params, model_state)
    for step in range(steps):
        if step == save_at:
            canonical = workload.to_canonical(params, model_state)
            backend.save_optimizer_state(opt, folder)
            params, model_state = workload.from_canonical(canonical)
            opt = backend.load_optimizer_state(init(params, model_state), folder)
        opt, params, model_state = submission.update_params(
            workload=workload, current_param_container=params,
            current_params_types=workload.model_params_types, model_state=model_state,
            hyperparameters=hp, batch=workload.to_device(next(stream)), loss_type=spec.loss_type,
            optimizer_state=opt, eval_results=[], global_step=step,
            rng=backend.make_rng(100 + step), **train_state_for(submission, step))
    return workload.to_canonical(params, model_state)


@pytest.mark.parametrize("name, framework", [("nadamw_v06", "pytorch"), ("nadamw_v06", "jax"),
                                             ("momentum_v05", "pytorch"), ("momentum_v05", "jax")])
def test_algoperf_optimizer_state_survives_a_checkpoint(tmp_path, name, framework):
    """Optimizer states as AlgoPerf files make them (a LambdaLR over a closure, an optax state
    with its update function, a pmap-replicated state) restore exactly from a checkpoint."""
    pytest.importorskip("torch" if framework == "pytorch" else "jax")
    space = json.loads((HERE / name / "tuning_search_space.json").read_text())
    hp = Hyperparameters({key: axis["feasible_points"][0] for key, axis in space.items()})
    submission = load_submission(HERE / name, framework)
    straight = train(submission, framework, hp, 12)
    resumed = train(submission, framework, hp, 12, folder=tmp_path, save_at=6)
    for key in straight:
        np.testing.assert_allclose(resumed[key], straight[key], rtol=1e-6, atol=1e-7, err_msg=key)
