"""Adversarial: starts a thread at import time, before the harness counts the threads a
submission may not leave running, so the run-time guard never sees it. The thread keeps training
on the last batch whenever the main thread is not inside a submission function: during evals,
logging and checkpoints, off the clock, and after the trial has ended. `threading` is reached
through `logging` (which imports it), so the checker sees no `import threading`."""

import logging

import torch

from harness.spec import ForwardPassMode

THREAD_NAME = "adversarial-import-thread"
LIFETIME_SEC = 60.0  # it stops by itself, so that a test run it escaped from still ends
_threading = logging.threading
LATEST = {}  # what the thread trains: model, model_state, optimizer, workload, batch, rng
LOCK = _threading.Lock()  # held by update_params while it trains, so the two never overlap


def keep_training(stop):
    waited = 0.0
    while not stop.is_set() and waited < LIFETIME_SEC:
        with LOCK:
            if LATEST:
                LATEST["model_state"] = sgd_step(LATEST["workload"], LATEST["model"],
                                                 LATEST["model_state"], LATEST["batch"],
                                                 LATEST["optimizer"], LATEST["rng"])
                LATEST["extra_steps"] = LATEST.get("extra_steps", 0) + 1
        stop.wait(0.002)
        waited += 0.002


STOP = _threading.Event()
WORKER = _threading.Thread(target=keep_training, args=(STOP,), name=THREAD_NAME, daemon=True)
WORKER.stop = STOP
WORKER.start()


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


def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
    return {"optimizer": torch.optim.SGD(model_params.parameters(), lr=0.1, momentum=0.9)}


def update_params(workload, current_param_container, current_params_types, model_state,
                  hyperparameters, batch, loss_type, optimizer_state, eval_results, global_step,
                  rng, train_state):
    with LOCK:
        model_state = sgd_step(workload, current_param_container, model_state, batch,
                               optimizer_state["optimizer"], rng)
        LATEST.update(model=current_param_container, model_state=model_state, batch=batch,
                      optimizer=optimizer_state["optimizer"], workload=workload, rng=rng)
    return optimizer_state, current_param_container, model_state
