"""Adversarial: reaches into the runner."""

import torch
from harness.runner import TrialRunner  # noqa: F401

from harness.spec import ForwardPassMode


def get_batch_size(workload_name):
    return 64


def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
    return {"optimizer": torch.optim.SGD(model_params.parameters(), lr=0.1, momentum=0.9)}


def update_params(workload, current_param_container, current_params_types, model_state,
                  hyperparameters, batch, loss_type, optimizer_state, eval_results, global_step,
                  rng, train_state):
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
