"""Adversarial: forks a child with `pty.fork` (the checker knows `os.fork`, not this) that keeps
working after the trial has ended: here it precomputes, in plain Python, for as long as it lives,
work that a later trial could pick up. It names itself (`prctl(PR_SET_NAME)`) so that a test can
find it, and stops by itself after about a minute."""

import ctypes
import os
import pty
import select

import torch

from harness.spec import ForwardPassMode

CHILD_NAME = b"adv-forks-child"  # at most 15 bytes: the kernel's limit for a process name
LIFETIME_STEPS = 300  # 0.2 s each: a minute


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


def keep_working():
    ctypes.CDLL(None).prctl(15, CHILD_NAME, 0, 0, 0)  # 15: PR_SET_NAME
    for _ in range(LIFETIME_STEPS):
        sum(i * i for i in range(2000))  # stands in for work a later trial picks up
        select.select([], [], [], 0.2)  # a wait that reads no clock
    os._exit(0)


def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
    pid, _ = pty.fork()
    if pid == 0:
        keep_working()
    return {"optimizer": torch.optim.SGD(model_params.parameters(), lr=0.1, momentum=0.9)}


def update_params(workload, current_param_container, current_params_types, model_state,
                  hyperparameters, batch, loss_type, optimizer_state, eval_results, global_step,
                  rng, train_state):
    model_state = sgd_step(workload, current_param_container, model_state, batch,
                           optimizer_state["optimizer"], rng)
    return optimizer_state, current_param_container, model_state
