"""Adversarial: finds the held-out validation split in memory (`gc.get_objects()`: the runner's
eval batches) and trains on it as well as on its training batches. The checker sees only `gc`,
a standard-library module."""

import gc

import torch

from harness.spec import ForwardPassMode


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


def validation_batches_in_memory():
    """The first list of eval batches kept under a `validation` key next to a `test` key."""
    for obj in gc.get_objects():
        if isinstance(obj, dict) and "validation" in obj and "test" in obj:
            batches = obj["validation"]
            if isinstance(batches, list) and batches and isinstance(batches[0], dict) \
                    and "targets" in batches[0]:
                return batches
    return []


def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
    return {"optimizer": torch.optim.SGD(model_params.parameters(), lr=0.1, momentum=0.9),
            "held_out": [workload.to_device(b) for b in validation_batches_in_memory()]}


def update_params(workload, current_param_container, current_params_types, model_state,
                  hyperparameters, batch, loss_type, optimizer_state, eval_results, global_step,
                  rng, train_state):
    optimizer = optimizer_state["optimizer"]
    model_state = sgd_step(workload, current_param_container, model_state, batch, optimizer, rng)
    held_out = optimizer_state["held_out"]
    if held_out:  # what the cheat is for: fit the split the target is measured on
        model_state = sgd_step(workload, current_param_container, model_state,
                               held_out[global_step % len(held_out)], optimizer, rng)
    return optimizer_state, current_param_container, model_state
