"""AdEMAMix with linear warmup and cosine decay keyed to the workload's step hint, in JAX (optax).

AdEMAMix (Pagliardini et al. 2024): `optax.contrib.ademamix`, with alpha and b3 warmed up over the
first `step_hint` updates by the paper's schedules (`alpha_schedule`, `beta3_schedule`). The
equations and hyperparameters are those of submission_pytorch.py (see its docstring).
"""

import jax.numpy as jnp
import optax

from submissions.common.jax import (data_selection, get_batch_size, init_optimizer_state as init_state,  # noqa: F401
                                    lr_schedule, update_params, with_grad_clip)

EPSILON = 1e-8


def learning_rate(hp, step_hint: int) -> optax.Schedule:
    """The learning rate at each update (from 0): linear warmup, then cosine decay to 0 at step_hint."""
    return lr_schedule(hp, step_hint)


def alpha_schedule(alpha: float, warmup: int) -> optax.Schedule:
    """alpha_t = min(t alpha / warmup, alpha) at update t = count + 1 (optax passes the count of
    earlier updates)."""
    return lambda count: jnp.minimum((count + 1) * alpha / warmup, alpha)


def beta3_schedule(beta1: float, beta3: float, warmup: int) -> optax.Schedule:
    """b3_t = min(exp(ln b1 ln b3 / ((1 - t/warmup) ln b3 + (t/warmup) ln b1)), b3) at update
    t = count + 1: from b1 at t = 0 to b3 at t = warmup, with a half-life growing linearly."""
    log_b1, log_b3 = jnp.log(beta1), jnp.log(beta3)

    def schedule(count):
        s = (count + 1) / warmup
        return jnp.minimum(jnp.exp(log_b1 * log_b3 / ((1 - s) * log_b3 + s * log_b1)), beta3)
    return schedule


def make_optimizer(hp, step_hint: int) -> optax.GradientTransformation:
    b1 = 1.0 - hp.one_minus_beta1
    return with_grad_clip(optax.contrib.ademamix(
        learning_rate(hp, step_hint), b1=b1, b2=hp.beta2, b3=beta3_schedule(b1, hp.beta3, step_hint),
        alpha=alpha_schedule(hp.alpha, step_hint), eps=EPSILON, weight_decay=hp.weight_decay), hp)


def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
    return init_state(workload, model_params, hyperparameters,
                      make_optimizer(hyperparameters, workload.step_hint),
                      schedule_end=workload.step_hint)
