"""Small submission packages for the tuning, executor and data-parallel tests, written into a test's
tmp_path: the NAdamW baseline with an `update_params` that behaves as its hyperparameter `mode`
says, so that one plan can hold trials that succeed, raise, go NaN or die hard.

Modes: `ok` (NAdamW, ending the trial by `TrainingCompleteError` after `stop_at` steps), `slow`
(the same, sleeping `sleep` seconds per step; with `fast_after`, a path, only until that file
exists, so that a test can let a resumed trial finish at once), `raise` (RuntimeError), `nan` (NaN parameters),
`kill` (SIGKILL to its own process), `exit` (`os._exit(3)`).
"""

from __future__ import annotations

import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NADAMW = {"learning_rate": 0.003, "one_minus_beta1": 0.1, "beta2": 0.999, "weight_decay": 0.05,
          "warmup_factor": 0.05}

WRAPPER = '''"""NAdamW (submissions/nadamw) with an update_params that behaves as the hyperparameter `mode` says."""

import importlib.util as _util
import os as _os
import time as _time

from harness.spec import TrainingCompleteError as _Done

_spec = _util.spec_from_file_location("_nadamw_{framework}", {path!r})
_nadamw = _util.module_from_spec(_spec)
_spec.loader.exec_module(_nadamw)
get_batch_size = _nadamw.get_batch_size
init_optimizer_state = _nadamw.init_optimizer_state
if hasattr(_nadamw, "prepare_for_eval"):
    prepare_for_eval = _nadamw.prepare_for_eval


def data_selection(workload, input_queue, optimizer_state, current_param_container, model_state,
                   hyperparameters, global_step, rng):  # on to `stop_at` or the budget: not
    return next(input_queue)  # NAdamW's own end of training at 1.2 step hints


def update_params(workload, current_param_container, current_params_types, model_state,
                  hyperparameters, batch, loss_type, optimizer_state, eval_results, global_step,
                  rng, train_state):
    mode = hyperparameters.get("mode", "ok")
    if mode == "raise":
        raise RuntimeError("broken on purpose")
    if mode == "kill":
        _os.kill(_os.getpid(), 9)  # SIGKILL (the checker forbids `import signal`)
    if mode == "exit":
        _os._exit(3)
    if global_step >= hyperparameters.get("stop_at", 10**9):
        raise _Done()
    if mode == "slow" and not _os.path.exists(hyperparameters.get("fast_after") or "/nonexistent"):
        _time.sleep(hyperparameters.get("sleep", 0.0))
    optimizer_state, params, model_state = _nadamw.update_params(
        workload=workload, current_param_container=current_param_container,
        current_params_types=current_params_types, model_state=model_state,
        hyperparameters=hyperparameters, batch=batch, loss_type=loss_type,
        optimizer_state=optimizer_state, eval_results=eval_results, global_step=global_step,
        rng=rng, train_state=train_state)
    if mode == "nan":
        params = _poison(params)
    return optimizer_state, params, model_state
'''

POISON = {
    "pytorch": '''

def _poison(model):
    import torch
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(float("nan"))
    return model
''',
    "jax": '''

def _poison(params):
    import jax
    return jax.tree.map(lambda x: x * float("nan"), params)
''',
}


def make_submission(root: Path, points: list[dict] | dict | None, name: str = "modal",
                    frameworks: tuple[str, ...] = ("pytorch", "jax")) -> Path:
    """A package in `root/name`. `points`: a list of hyperparameter points (each merged over
    NAdamW's), a Halton search space (a dict), or None (no search space: self-tuning)."""
    folder = Path(root) / name
    folder.mkdir(parents=True)
    for framework in frameworks:
        base = REPO / "submissions" / "nadamw" / f"submission_{framework}.py"
        source = WRAPPER.replace("{framework}", framework).replace("{path!r}", repr(str(base)))
        (folder / f"submission_{framework}.py").write_text(source + POISON[framework])
    if isinstance(points, list):
        # every point of a list space has the same keys
        space = [{**NADAMW, "mode": "ok", "stop_at": 10**9, "sleep": 0.0, **p} for p in points]
        (folder / "tuning_search_space.json").write_text(json.dumps(space))
    elif isinstance(points, dict):
        (folder / "tuning_search_space.json").write_text(json.dumps(points))
    return folder
