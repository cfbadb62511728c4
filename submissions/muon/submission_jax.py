"""Muon on the hidden weight matrices, AdamW on the rest, with linear warmup and cosine decay keyed
to the workload's step hint, in JAX (optax).

The same algorithm as submission_pytorch.py (see its docstring for the hyperparameters), built from
optax pieces so that it is `torch.optim.Muon` step for step:
- momentum: Jordan's (and torch's) Nesterov form, b = mu b + (1 - mu) g, u = (1 - mu) g + mu b,
  which is `optax.trace(mu, nesterov=True)` scaled by (1 - mu). (`scale_by_muon`'s own momentum,
  which `optax.contrib.muon` uses, is bias-corrected, a different rule; it is switched off here,
  beta=0, at the cost of an unused buffer.)
- orthogonalization: `optax.contrib.scale_by_muon` with its default coefficients and 5 steps
  (torch's too), the same epsilon as torch, each kernel (*window, in, out) flattened to the
  (window * in, out) matrix by `MuonDimensionNumbers` (`as_matrix`): torch's (out, in * window)
  transposed, up to an ordering of the rows; the iteration commutes with both.
- width scaling sqrt(max(1, out / in)), torch's "original": `scale_by_width` (optax 0.2.8 has it
  only inside `optax.contrib.muon`, not exported).
- AdamW for the other parameters: `optax.adamw`; `optax.partition` routes each parameter by
  `parameter_groups.is_hidden_matrix`, the rule submission_pytorch.py uses.
"""

import math

import jax
import optax
from optax.contrib import MuonDimensionNumbers, scale_by_muon

from harness.spec import Hyperparameters
from submissions.common.jax import (data_selection, get_batch_size, init_optimizer_state as init_state,  # noqa: F401
                                    lr_schedule, update_params, with_grad_clip)
from submissions.common.parameter_groups import is_hidden_matrix

ADAM_EPSILON = 1e-8
NS_EPSILON = 1e-7  # torch.optim.Muon's default


def learning_rate(hp, step_hint: int) -> optax.Schedule:
    """Muon's learning rate at each update (from 0): linear warmup, then cosine decay to 0."""
    return lr_schedule(hp, step_hint)


def adam_learning_rate(hp, step_hint: int) -> optax.Schedule:
    """AdamW's: the same shape, peaking at `adam_learning_rate`."""
    return lr_schedule(Hyperparameters({**hp, "learning_rate": hp.adam_learning_rate}), step_hint)


def labels(workload, params):
    """'muon' or 'adamw' for each parameter."""
    def label(path, param_type, param):
        name = "/".join(str(k.key) for k in path)
        return "muon" if is_hidden_matrix(name, param_type, param.ndim) else "adamw"
    return jax.tree_util.tree_map_with_path(label, workload.model_params_types, params)


def as_matrix(updates):
    """How each of Muon's parameters is flattened to one matrix. A flax kernel (*window, in, out):
    every axis but the last is a row, the last the columns. Other matrices (the LSTM's
    `weight_ih_l0`) keep PyTorch's layout (out, in), as in the canonical format: columns first."""
    def dimension_numbers(path, u):
        if path[-1].key == "kernel":
            return MuonDimensionNumbers(reduction_axis=tuple(range(u.ndim - 1)), output_axis=u.ndim - 1)
        return MuonDimensionNumbers(reduction_axis=tuple(range(1, u.ndim)), output_axis=0)
    return jax.tree_util.tree_map_with_path(dimension_numbers, updates)


def scale_by_width() -> optax.GradientTransformation:
    """Each matrix's update times sqrt(max(1, columns / rows)) of its `as_matrix` flattening."""
    def scale(u, dims):
        fan_in = math.prod(u.shape[i] for i in dims.reduction_axis)
        return u * math.sqrt(max(1.0, u.shape[dims.output_axis] / fan_in))

    def update_fn(updates, state, params=None):
        return jax.tree.map(scale, updates, as_matrix(updates)), state
    return optax.GradientTransformation(optax.init_empty_state, update_fn)


def muon(learning_rate, momentum, weight_decay) -> optax.GradientTransformation:
    return optax.chain(
        optax.trace(decay=momentum, nesterov=True),
        optax.scale(1.0 - momentum),
        scale_by_muon(beta=0.0, nesterov=False, eps=NS_EPSILON, weight_dimension_numbers=as_matrix),
        scale_by_width(),
        optax.add_decayed_weights(weight_decay),
        optax.scale_by_learning_rate(learning_rate),
    )


def make_optimizer(hp, step_hint: int, param_labels) -> optax.GradientTransformation:
    return with_grad_clip(optax.partition({
        "muon": muon(learning_rate(hp, step_hint), hp.momentum, hp.weight_decay),
        "adamw": optax.adamw(adam_learning_rate(hp, step_hint), b1=1.0 - hp.one_minus_beta1, b2=hp.beta2,
                             eps=ADAM_EPSILON, weight_decay=hp.adam_weight_decay),
    }, param_labels), hp)


def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
    return init_state(workload, model_params, hyperparameters,
                      make_optimizer(hyperparameters, workload.step_hint, labels(workload, model_params)),
                      schedule_end=workload.step_hint)
