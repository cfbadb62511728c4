"""Adversarial: keeps the workload name that `get_batch_size` receives (in a module global and in
a file of its temporary folder), or reads it from the workload's spec, and chooses its learning
rate by it in `update_params`: a hyperparameter tuned per workload, which the rules forbid.
Otherwise the honest submission. Each step it writes the name it knows (or None) to
`seen_workload_name` in its temporary folder."""

import os
import tempfile

import torch

from harness.spec import ForwardPassMode

KNOWN = {}
NAME_FILE = "kept_workload_name"
TUNED = {"smoke": 0.3}  # looked up by name; 0.1 (the honest value) elsewhere


def get_batch_size(workload_name):
    KNOWN["name"] = workload_name
    with open(os.path.join(tempfile.gettempdir(), NAME_FILE), "w") as f:
        f.write(workload_name)
    return 64


def known_name(workload):
    if "name" in KNOWN:
        return KNOWN["name"]
    try:
        with open(os.path.join(tempfile.gettempdir(), NAME_FILE)) as f:
            return f.read()
    except OSError:
        pass
    spec = vars(workload).get("_spec")  # the workload's spec, where it names the workload
    return (spec.base or spec.name) if spec is not None and spec.name else None


def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
    return {"optimizer": torch.optim.SGD(model_params.parameters(), lr=0.1, momentum=0.9)}


def update_params(workload, current_param_container, current_params_types, model_state,
                  hyperparameters, batch, loss_type, optimizer_state, eval_results, global_step,
                  rng, train_state):
    name = known_name(workload)
    with open(os.path.join(tempfile.gettempdir(), "seen_workload_name"), "w") as f:
        f.write(repr(name))
    for group in optimizer_state["optimizer"].param_groups:
        group["lr"] = TUNED.get(name, 0.1)
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
