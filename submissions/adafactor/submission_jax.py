"""Adafactor with linear warmup and cosine decay keyed to the workload's step hint, in JAX.

Adafactor (Shazeer & Stern 2018) as `optax.adafactor` composes it (momentum None,
multiply_by_parameter_scale True): `scale_by_factored_rms`, `clip_by_block_rms`,
`scale_by_param_block_rms`, then `add_decayed_weights` and `scale_by_learning_rate`, so that the
weight decay is multiplied by the scheduled learning rate as in the other baselines (the one step
that differs from `optax.adafactor`, whose `weight_decay_rate` is not). The hyperparameters mean
the same as in submission_pytorch.py (see its docstring).
"""

import optax

from submissions.common.jax import (data_selection, get_batch_size, init_optimizer_state as init_state,  # noqa: F401
                                    lr_schedule, update_params, with_grad_clip)

EPSILON = 1e-30  # added to g^2 (optax's default)
MIN_SCALE = 1e-3  # the floor of rms(p) in the relative step (optax's default)


def learning_rate(hp, step_hint: int) -> optax.Schedule:
    """The learning rate at each update (from 0): linear warmup, then cosine decay to 0 at step_hint."""
    return lr_schedule(hp, step_hint)


def make_optimizer(hp, step_hint: int) -> optax.GradientTransformation:
    return with_grad_clip(optax.chain(
        optax.scale_by_factored_rms(decay_rate=hp.decay_rate, epsilon=EPSILON,
                                    min_dim_size_to_factor=hp.min_dim_size_to_factor),
        optax.clip_by_block_rms(hp.clipping_threshold),
        optax.scale_by_param_block_rms(MIN_SCALE),
        optax.add_decayed_weights(hp.weight_decay),
        optax.scale_by_learning_rate(learning_rate(hp, step_hint)),
    ), hp)


def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
    return init_state(workload, model_params, hyperparameters,
                      make_optimizer(hyperparameters, workload.step_hint),
                      schedule_end=workload.step_hint)
