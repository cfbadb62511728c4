"""Adversarial: replaces the harness's evaluation function (`harness.runner.evaluate`, reached
through `sys.modules`, so the checker sees no import of the harness) with one that reports every
accuracy as 1 and every loss as 0. It trains honestly otherwise."""

import sys

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


def flatter(evaluate):
    def flattering(*args, **kwargs):
        metrics = evaluate(*args, **kwargs)
        return {k: 1.0 if k.endswith("/accuracy") else 0.0 if k.endswith("/loss") else v
                for k, v in metrics.items()}
    return flattering


def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
    runner = sys.modules.get("harness." + "runner")
    if runner is not None and not getattr(runner.evaluate, "flattered", False):
        runner.evaluate = flatter(runner.evaluate)
        runner.evaluate.flattered = True
    return {"optimizer": torch.optim.SGD(model_params.parameters(), lr=0.1, momentum=0.9)}


def update_params(workload, current_param_container, current_params_types, model_state,
                  hyperparameters, batch, loss_type, optimizer_state, eval_results, global_step,
                  rng, train_state):
    model_state = sgd_step(workload, current_param_container, model_state, batch,
                           optimizer_state["optimizer"], rng)
    return optimizer_state, current_param_container, model_state
