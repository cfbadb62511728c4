"""Drive a baseline's own submission functions through the `smoke` workload objects, as the runner
does, in either framework, and return the parameters (canonical NumPy) at each evaluation."""

from __future__ import annotations

import dataclasses
from functools import lru_cache
from pathlib import Path

import numpy as np

from harness import search_space
from harness.loader import load_submission
from harness.spec import Hyperparameters
from workloads.registry import REGISTRY

SUBMISSIONS = Path(__file__).resolve().parents[2] / "submissions"
STEP_HINT = 20  # short, so that warmup, the whole decay and the steps after it are all run
NUM_STEPS = 24
EVAL_BEFORE = (6, 15)  # prepare_for_eval (where defined) runs before these steps and at the end
SEED = 3


def spec(name: str = "smoke"):
    return dataclasses.replace(REGISTRY[name], step_hint=STEP_HINT)


@lru_cache(maxsize=None)
def workload(framework: str, name: str = "smoke"):
    if framework == "pytorch":
        from workloads.pytorch_workload import PyTorchWorkload

        return PyTorchWorkload(spec(name))
    from workloads.jax_workload import JaxWorkload

    return JaxWorkload(spec(name))


def first_point(name: str, **overrides) -> Hyperparameters:
    space = search_space.load(SUBMISSIONS / name / "tuning_search_space.json")
    return Hyperparameters({**search_space.trial_point(space, 0, 0), **overrides})


def batches(n: int = NUM_STEPS, batch_size: int = 64, name: str = "smoke") -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    s = spec(name)
    return [{"inputs": rng.standard_normal((batch_size, *s.input_shape)).astype(np.float32),
             "targets": rng.integers(0, s.num_outputs, batch_size).astype(np.int32)}
            for _ in range(n)]


def make_rng(framework: str, seed: int):
    if framework == "pytorch":
        from harness.pytorch_backend import make_rng
    else:
        from harness.jax_backend import make_rng
    return make_rng(seed)


def run(name: str, framework: str, hp: Hyperparameters, data: list[dict] | None = None,
        workload_name: str = "smoke") -> list[dict]:
    """Parameters and model state (canonical names and layout) after `prepare_for_eval` before
    each step of EVAL_BEFORE and after the last step: what an evaluation would see."""
    module = load_submission(SUBMISSIONS / name, framework)
    w = workload(framework, workload_name)
    params, model_state = w.init_model_fn(make_rng(framework, SEED))
    opt = module.init_optimizer_state(workload=w, model_params=params, model_state=model_state,
                                      hyperparameters=hp, rng=make_rng(framework, 1))
    snapshots = []

    def evaluate(step):
        nonlocal opt, params, model_state
        if hasattr(module, "prepare_for_eval"):
            opt, params, model_state = module.prepare_for_eval(
                workload=w, current_param_container=params, current_params_types=w.model_params_types,
                model_state=model_state, hyperparameters=hp, loss_type=w.loss_type,
                optimizer_state=opt, eval_results=[], global_step=step, rng=make_rng(framework, 2))
        # copies: PyTorch's canonical arrays may share memory with the live parameters
        snapshots.append({k: np.array(v) for k, v in w.to_canonical(params, model_state).items()})

    for step, batch in enumerate(data if data is not None else batches(name=workload_name)):
        if step in EVAL_BEFORE:
            evaluate(step)
        opt, params, model_state = module.update_params(
            workload=w, current_param_container=params, current_params_types=w.model_params_types,
            model_state=model_state, hyperparameters=hp, batch=w.to_device(batch),
            loss_type=w.loss_type, optimizer_state=opt, eval_results=[], global_step=step,
            rng=make_rng(framework, 100 + step), train_state=None)
    evaluate(NUM_STEPS)
    return snapshots


def initial_params(framework: str = "pytorch") -> dict:
    w = workload(framework)
    return w.to_canonical(*w.init_model_fn(make_rng(framework, SEED)))
