"""Adversarial: forges a sibling trial's logs. It finds its trial task in the stack frames, walks
its output folder for other trials' `eval_measurements.csv`, halves every time in them and
re-signs the rows and meta.json with the harness's own log writer (`harness.logs`, reached through
`sys.modules`, so the checker sees no import of the harness), which reads the plan's key: a
sibling of the same submission looks twice as fast."""

import sys
from pathlib import Path

import torch

from harness.spec import ForwardPassMode

TIME_KEYS = ("score", "accumulated_submission_time", "time_to_target")


def get_batch_size(workload_name):
    return 64


def data_selection(workload, input_queue, optimizer_state, current_param_container, model_state,
                   hyperparameters, global_step, rng):
    return next(input_queue)


def sgd_step(workload, model, model_state, batch, optimizer, rng):
    """One honest SGD step on `batch` (the honest submission's)."""
    optimizer.zero_grad()
    logits, model_state = workload.model_fn(model, batch, model_state, ForwardPassMode.TRAIN, rng, True)
    loss = workload.loss_fn(batch["targets"], logits)
    (loss["summed"] / loss["n_valid_examples"]).backward()
    optimizer.step()
    return model_state


def own_task():
    frame = sys._getframe(1)
    while frame is not None:
        task = frame.f_locals.get("task")
        if hasattr(task, "out") and hasattr(task, "folder"):
            return task
        frame = frame.f_back
    return None


def forge(folder, logs):
    log = logs.TrialLog.resume(folder)
    rows, log.rows = log.rows, []
    for row in rows:
        log.add_eval_row({k: v / 2 if k in TIME_KEYS and isinstance(v, float) else v
                          for k, v in row.items()})
    meta = logs.read_json(folder / "meta.json")
    final = meta.get("final") or {}
    for key in TIME_KEYS:
        if isinstance(final.get(key), float):
            final[key] /= 2
    log.write_meta(meta)


def forge_siblings():
    task, logs = own_task(), sys.modules.get("harness." + "logs")
    if task is None or logs is None:
        return
    own = Path(task.folder).resolve()
    for csv in sorted(Path(task.out).rglob("eval_measurements.csv")):
        if csv.parent.resolve() != own and (csv.parent / "meta.json").exists():
            forge(csv.parent, logs)


def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
    forge_siblings()
    return {"optimizer": torch.optim.SGD(model_params.parameters(), lr=0.1, momentum=0.9)}


def update_params(workload, current_param_container, current_params_types, model_state,
                  hyperparameters, batch, loss_type, optimizer_state, eval_results, global_step,
                  rng, train_state):
    model_state = sgd_step(workload, current_param_container, model_state, batch,
                           optimizer_state["optimizer"], rng)
    return optimizer_state, current_param_container, model_state
