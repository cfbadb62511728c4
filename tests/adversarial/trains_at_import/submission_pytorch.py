"""Adversarial: trains at import time, before the harness starts its clock. It pretrains an MLP
of the `smoke` model's shape on scikit-learn's bundled digits (the very images `smoke` splits into
train, validation and test) and starts every trial from those weights. The sleep stands in for a
longer pretraining: a lower bound on the import's time that holds on any host. The checker sees a
declared dependency (scikit-learn) and no data path."""

import time

import numpy as np
import torch
from sklearn.datasets import load_digits

from harness.spec import ForwardPassMode

IMPORT_WORK_SEC = 1.5


def pretrain(steps=100):
    x, y = load_digits(return_X_y=True)
    x = (x - x.mean(axis=0)) / np.where(x.std(axis=0) == 0, 1.0, x.std(axis=0))
    inputs, targets = torch.tensor(x, dtype=torch.float32), torch.tensor(y)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(inputs), targets).backward()
        optimizer.step()
    time.sleep(IMPORT_WORK_SEC)
    return [p.detach().clone() for p in model.parameters()]


PRETRAINED = pretrain()


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
    params = list(model_params.parameters())
    if [p.shape for p in params] == [p.shape for p in PRETRAINED]:
        with torch.no_grad():
            for param, pretrained in zip(params, PRETRAINED):
                param.copy_(pretrained)
    return {"optimizer": torch.optim.SGD(model_params.parameters(), lr=0.1, momentum=0.9)}


def update_params(workload, current_param_container, current_params_types, model_state,
                  hyperparameters, batch, loss_type, optimizer_state, eval_results, global_step,
                  rng, train_state):
    model_state = sgd_step(workload, current_param_container, model_state, batch,
                           optimizer_state["optimizer"], rng)
    return optimizer_state, current_param_container, model_state
