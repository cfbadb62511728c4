"""SAM with an AdamW base, linear warmup and cosine decay keyed to the step hint, in JAX.

Sharpness-Aware Minimization (Foret et al. 2021): `optax.contrib.sam` in opaque mode, whose
adversarial optimizer `chain(optax.contrib.normalize(), optax.sgd(rho))` moves to p + rho g / ||g||
and whose outer optimizer `optax.adamw` takes the gradient there. Batch-norm statistics are updated
by the first forward pass only. The hyperparameters mean the same as in submission_pytorch.py (see
its docstring).
"""

import optax

from submissions.common.jax import (data_selection, get_batch_size, init_optimizer_state as init_state,  # noqa: F401
                                    lr_schedule, update_params, with_grad_clip)

EPSILON = 1e-8


def learning_rate(hp, step_hint: int) -> optax.Schedule:
    """The learning rate at each update (from 0): linear warmup, then cosine decay to 0 at step_hint."""
    return lr_schedule(hp, step_hint)


def make_optimizer(hp, step_hint: int) -> optax.GradientTransformation:
    base = with_grad_clip(optax.adamw(learning_rate(hp, step_hint), b1=1.0 - hp.one_minus_beta1,
                                      b2=hp.beta2, eps=EPSILON, weight_decay=hp.weight_decay), hp)
    adversary = optax.chain(optax.contrib.normalize(), optax.sgd(hp.rho))
    return optax.contrib.sam(base, adversary, sync_period=2, opaque_mode=True)


def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
    return init_state(workload, model_params, hyperparameters,
                      make_optimizer(hyperparameters, workload.step_hint),
                      schedule_end=workload.step_hint, pass_grad_fn=True)
