"""Adversarial: rewinds the trial's clock. Each step does costly extra work (the sleep stands in
for it: a lower bound on its time that holds on any host), then walks up the stack frames to the
runner, finds its Ledger and moves the step's time from the `submission` account to `eval`, so
the work is free. The checker sees nothing: no clock is read, no module is patched."""

import sys
import time

import torch

from harness.spec import ForwardPassMode

EXTRA_WORK_SEC = 0.02  # per step


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


def ledgers_on_the_stack():
    """Every object named `ledger` (or holding one) in the frames above this one."""
    found, frame = {}, sys._getframe(1)
    while frame is not None:
        for value in list(frame.f_locals.values()):
            for candidate in (value, getattr(value, "ledger", None)):
                if hasattr(candidate, "totals") and hasattr(candidate, "_since"):
                    found[id(candidate)] = candidate
        frame = frame.f_back
    return list(found.values())


def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
    return {"optimizer": torch.optim.SGD(model_params.parameters(), lr=0.1, momentum=0.9)}


def update_params(workload, current_param_container, current_params_types, model_state,
                  hyperparameters, batch, loss_type, optimizer_state, eval_results, global_step,
                  rng, train_state):
    model_state = sgd_step(workload, current_param_container, model_state, batch,
                           optimizer_state["optimizer"], rng)
    time.sleep(EXTRA_WORK_SEC)
    for ledger in ledgers_on_the_stack():
        if ledger.account == "submission":
            now = ledger._time()
            ledger.totals["eval"] += now - ledger._since
            ledger._since = now
    return optimizer_state, current_param_container, model_state
