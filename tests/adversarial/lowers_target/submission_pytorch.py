"""Adversarial: lowers the workload's targets, through the spec the workload object it receives
holds (`vars(workload)`, so the checker sees no `workload._spec`) and through the runner's own
spec, found in the stack frames: a frozen dataclass is changed with `object.__setattr__`. The
trial then stops as soon as it meets the lowered target."""

import sys

import torch

from harness.spec import ForwardPassMode

LOWERED = 0.5


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


def lower(spec):
    if hasattr(spec, "validation_target") and hasattr(spec, "test_target"):
        object.__setattr__(spec, "validation_target", LOWERED)
        object.__setattr__(spec, "test_target", LOWERED)


def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
    for value in vars(workload).values():
        lower(value)
    frame = sys._getframe(1)
    while frame is not None:
        lower(getattr(frame.f_locals.get("self"), "spec", None))
        frame = frame.f_back
    return {"optimizer": torch.optim.SGD(model_params.parameters(), lr=0.1, momentum=0.9)}


def update_params(workload, current_param_container, current_params_types, model_state,
                  hyperparameters, batch, loss_type, optimizer_state, eval_results, global_step,
                  rng, train_state):
    model_state = sgd_step(workload, current_param_container, model_state, batch,
                           optimizer_state["optimizer"], rng)
    return optimizer_state, current_param_container, model_state
