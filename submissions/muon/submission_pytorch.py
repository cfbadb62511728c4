"""Muon on the hidden weight matrices, AdamW on the rest, with linear warmup and cosine decay keyed
to the workload's step hint, in PyTorch.

Muon (Jordan et al. 2024, "Muon: An optimizer for hidden layers in neural networks"): Nesterov
momentum, orthogonalized by a quintic Newton-Schulz iteration, scaled by sqrt(max(1, out / in)):
`torch.optim.Muon` with its own coefficients (3.4445, -4.7750, 2.0315) and 5 steps. It takes
only 2-D parameters, so each convolution kernel (out, in, *window) is handed to it as the
(out, in * window) matrix that shares its storage (Jordan's reference flattens kernels so), and
the kernel's gradient is copied into that matrix before each step. Which parameters get Muon:
`parameter_groups.is_hidden_matrix` (the same rule as submission_jax.py); the others
(embeddings, the output layer, biases, norms) get `torch.optim.AdamW`. Hyperparameters, the same
in both modules:
  learning_rate           Muon's peak learning rate, reached at the end of warmup
  momentum                Muon's momentum (Nesterov)
  weight_decay            Muon's decoupled weight decay (multiplied by the scheduled learning rate)
  adam_learning_rate      AdamW's peak learning rate (the same schedule)
  one_minus_beta1, beta2  AdamW's moment decays
  adam_weight_decay       AdamW's decoupled weight decay
  warmup_factor           warmup length as a fraction of `workload.step_hint`; cosine decay to 0
  label_smoothing         (optional, default 0)
  grad_clip               (optional) global gradient-norm clip over all parameters, none when absent
"""

import torch

from submissions.common.parameter_groups import is_hidden_matrix
from submissions.common.pytorch import (clip_grads, data_selection, get_batch_size,  # noqa: F401
                                        loss_and_grad, lr_scheduler)

ADAM_EPSILON = 1e-8
NS_EPSILON = 1e-7  # torch.optim.Muon's default; the same in submission_jax.py


def as_matrix(param: torch.nn.Parameter) -> torch.nn.Parameter:
    """`param` itself if 2-D, else its (out, in * window) matrix, a parameter sharing its storage,
    so that torch.optim.Muon's in-place updates land in the kernel."""
    if param.dim() == 2:
        return param
    return torch.nn.Parameter(param.detach().view(param.shape[0], -1))


class KernelMatrices:
    """The (kernel, matrix) pairs of the kernels Muon sees as matrices; `copy_grads` hands each
    kernel's gradient to its matrix. No state of its own: `state_dict` is empty, so that a resumed
    trial keeps the matrices of its fresh `init_optimizer_state` (views of its own model)."""

    def __init__(self, pairs):
        self.pairs = [(param, matrix) for param, matrix in pairs if matrix is not param]

    def copy_grads(self) -> None:
        for param, matrix in self.pairs:
            matrix.grad = None if param.grad is None else param.grad.view(matrix.shape)

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


def split_parameters(workload, model: torch.nn.Module):
    """(Muon's (parameter, matrix) pairs, AdamW's parameters), in the model's order. A
    data-parallel wrapper's `module.` prefix is not part of the workload's parameter names."""
    types = workload.model_params_types
    muon, adam = [], []
    for name, param in model.named_parameters():
        name = name.removeprefix("module.")
        if is_hidden_matrix(name, types[name], param.dim()):
            muon.append((param, as_matrix(param)))
        else:
            adam.append(param)
    return muon, adam


def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
    hp = hyperparameters
    pairs, adam_params = split_parameters(workload, model_params)
    optimizers = []
    if pairs:
        optimizers.append(torch.optim.Muon(
            [matrix for _, matrix in pairs], lr=hp.learning_rate, weight_decay=hp.weight_decay,
            momentum=hp.momentum, nesterov=True, eps=NS_EPSILON))
    if adam_params:
        optimizers.append(torch.optim.AdamW(
            adam_params, lr=hp.adam_learning_rate, betas=(1.0 - hp.one_minus_beta1, hp.beta2),
            eps=ADAM_EPSILON, weight_decay=hp.adam_weight_decay))
    return {"kernels": KernelMatrices(pairs), "optimizers": optimizers,
            "schedulers": [lr_scheduler(opt, hp, workload.step_hint) for opt in optimizers],
            "schedule_end": workload.step_hint}


def update_params(workload, current_param_container, current_params_types, model_state,
                  hyperparameters, batch, loss_type, optimizer_state, eval_results, global_step,
                  rng, train_state):
    model = current_param_container
    _, new_model_state = loss_and_grad(workload, model, model_state, batch, rng, hyperparameters)
    clip_grads(model, hyperparameters)
    optimizer_state["kernels"].copy_grads()
    for optimizer, scheduler in zip(optimizer_state["optimizers"], optimizer_state["schedulers"]):
        optimizer.step()
        scheduler.step()
    return optimizer_state, model, new_model_state
