"""Schedule-Free AdamW with linear warmup and no decay, in JAX.

Schedule-Free AdamW (Defazio et al. 2024, "The Road Less Scheduled"): `optax.contrib.schedule_free`
around AdamW without momentum, as `optax.contrib.schedule_free_adamw` builds it but with the
warmup read one step ahead in the base optimizer (see `make_optimizer`), evaluated at
`optax.contrib.schedule_free_eval_params`. The
parameters hold y while training and x from `prepare_for_eval` until the next `update_params`,
which goes back to y = b1 x + (1 - b1) z (as the PyTorch package's `train()` does). Batch-norm
statistics are re-estimated at x from the last `BN_BATCHES` training batches, as in
submission_pytorch.py. The hyperparameters mean the same as there (see its docstring).
"""

import collections

import jax
import jax.numpy as jnp
import optax

from submissions.common import schedules
from submissions.common.jax import (data_selection, get_batch_size, init_optimizer_state as init_state,  # noqa: F401
                                    reestimate_batch_norm, update_params as train_step, with_grad_clip)

EPSILON = 1e-8
BN_BATCHES = 20  # training batches re-run at x to re-estimate batch-norm statistics for eval


def _warmup(hp, step_hint: int) -> optax.Schedule:
    return optax.warmup_constant_schedule(0.0, hp.learning_rate,
                                          schedules.warmup_steps(hp.warmup_factor, step_hint))


def learning_rate(hp, step_hint: int) -> optax.Schedule:
    """The learning rate of update k (from 0): lr min(1, (k+1) / warmup), then constant."""
    warmup = _warmup(hp, step_hint)
    return lambda count: warmup(count + 1)


def make_optimizer(hp, step_hint: int) -> optax.GradientTransformation:
    """`optax.contrib.schedule_free_adamw`'s composition, with one fix so that it is the authors'
    algorithm (their `schedulefree` package, submission_pytorch.py): there, update k (from 0)
    uses the warmed-up rate lr min(1, (k+1)/warmup) both for the z step and for the averaging
    weight. optax 0.2.8's `schedule_free` reads the schedule at k+1 (its step count starts at 1)
    for the weight, but its base optimizer's `scale_by_learning_rate` reads it at k, so the z step
    lags one update behind; here the base optimizer gets `learning_rate`, one step ahead."""
    adamw_without_momentum = optax.chain(
        optax.scale_by_rms(decay=hp.beta2, eps=EPSILON, eps_in_sqrt=False, bias_correction=True),
        optax.add_decayed_weights(hp.weight_decay),
        optax.scale_by_learning_rate(learning_rate(hp, step_hint)),
    )
    return with_grad_clip(optax.contrib.schedule_free(
        adamw_without_momentum, _warmup(hp, step_hint), b1=1.0 - hp.one_minus_beta1,
        weight_lr_power=hp.weight_lr_power), hp)


def _schedule_free_state(opt_state) -> optax.contrib.ScheduleFreeState:
    """The schedule-free state, also when `with_grad_clip` chained a clip before it."""
    return opt_state if isinstance(opt_state, optax.contrib.ScheduleFreeState) else opt_state[-1]


@jax.jit
def _eval_point(params, opt_state):  # x = (y - (1 - b1) z) / b1
    return optax.contrib.schedule_free_eval_params(_schedule_free_state(opt_state), params)


@jax.jit
def _train_point(params, opt_state):  # y = b1 x + (1 - b1) z
    state = _schedule_free_state(opt_state)
    return jax.tree.map(lambda x, z: state.b1 * x + (1.0 - state.b1) * z, params, state.z)


def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
    state = init_state(workload, model_params, hyperparameters,
                       make_optimizer(hyperparameters, workload.step_hint), schedule_end=None)
    replicated = jax.tree.leaves(model_params)[0].sharding
    # a deque is one opaque leaf for jax.tree: not checkpointed (empty again after a resume)
    recent = collections.deque(maxlen=BN_BATCHES if model_state else 0)
    return {**state, "at_eval_point": jax.device_put(jnp.array(False), replicated),
            "recent_batches": recent}


def update_params(workload, current_param_container, current_params_types, model_state,
                  hyperparameters, batch, loss_type, optimizer_state, eval_results, global_step,
                  rng, train_state):
    params = current_param_container
    optimizer_state["recent_batches"].append(batch)
    if bool(optimizer_state["at_eval_point"]):
        params = _train_point(params, optimizer_state["opt_state"])
        optimizer_state = {**optimizer_state, "at_eval_point": jnp.zeros_like(optimizer_state["at_eval_point"])}
    return train_step(workload, params, current_params_types, model_state, hyperparameters, batch,
                      loss_type, optimizer_state, eval_results, global_step, rng, train_state)


def prepare_for_eval(workload, current_param_container, current_params_types, model_state,
                     hyperparameters, loss_type, optimizer_state, eval_results, global_step, rng):
    if bool(optimizer_state["at_eval_point"]):
        return optimizer_state, current_param_container, model_state
    params = _eval_point(current_param_container, optimizer_state["opt_state"])
    model_state = reestimate_batch_norm(workload, params, model_state, optimizer_state["recent_batches"])
    return ({**optimizer_state, "at_eval_point": jnp.ones_like(optimizer_state["at_eval_point"])},
            params, model_state)
