"""Adversarial: carries its weights over from one trial to the next. Every step it saves the
model to the temporary folder and to its own package folder (a hidden file, which the code hash
leaves out); a trial that finds such a file starts from those weights instead of the workload's
initialization, so every trial after the first starts trained."""

import tempfile
from pathlib import Path

import torch

from harness.spec import ForwardPassMode

CARRY_NAME = "adversarial_carried_weights.pt"


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


def carry_paths():
    return [Path(tempfile.gettempdir()) / CARRY_NAME, Path(__file__).resolve().parent / f".{CARRY_NAME}"]


def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
    for path in carry_paths():
        if path.exists():
            model_params.load_state_dict(torch.load(path))
            break
    return {"optimizer": torch.optim.SGD(model_params.parameters(), lr=0.1, momentum=0.9)}


def update_params(workload, current_param_container, current_params_types, model_state,
                  hyperparameters, batch, loss_type, optimizer_state, eval_results, global_step,
                  rng, train_state):
    model_state = sgd_step(workload, current_param_container, model_state, batch,
                           optimizer_state["optimizer"], rng)
    for path in carry_paths():
        try:
            torch.save(current_param_container.state_dict(), path)
        except OSError:  # a read-only place: the other one may do
            pass
    return optimizer_state, current_param_container, model_state
