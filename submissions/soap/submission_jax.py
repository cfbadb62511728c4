"""SOAP with linear warmup and cosine decay keyed to the workload's step hint, in JAX.

SOAP (Vyas et al. 2025): `optax_soap.soap`, i.e. `scale_by_soap`, `add_decayed_weights`,
`scale_by_learning_rate` (optax has no SOAP; see submission_pytorch.py). The hyperparameters mean
the same as in submission_pytorch.py (see its docstring).
"""

import optax

from submissions.common.jax import (data_selection, get_batch_size, init_optimizer_state as init_state,  # noqa: F401
                                    lr_schedule, update_params, with_grad_clip)
from submissions.common.optax_soap import soap

EPSILON = 1e-8


def learning_rate(hp, step_hint: int) -> optax.Schedule:
    """The learning rate at each update (from 0): linear warmup, then cosine decay to 0 at step_hint."""
    return lr_schedule(hp, step_hint)


def make_optimizer(hp, step_hint: int) -> optax.GradientTransformation:
    return with_grad_clip(soap(learning_rate(hp, step_hint), b1=1.0 - hp.one_minus_beta1, b2=hp.beta2,
                               eps=EPSILON, weight_decay=hp.weight_decay,
                               precondition_frequency=hp.precondition_frequency,
                               max_precond_dim=hp.max_precond_dim), hp)


def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
    return init_state(workload, model_params, hyperparameters,
                      make_optimizer(hyperparameters, workload.step_hint),
                      schedule_end=workload.step_hint)
