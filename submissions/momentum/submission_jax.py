"""SGD with heavy-ball momentum, linear warmup and linear decay to 0 at the step hint, in JAX.

Heavy-ball momentum (Polyak 1964): `optax.sgd(nesterov=False)` after `optax.add_decayed_weights`
(L2 weight decay through the momentum). The hyperparameters mean the same as in
submission_pytorch.py (see its docstring).
"""

import optax

from submissions.common.jax import (data_selection, get_batch_size, init_optimizer_state as init_state,  # noqa: F401
                                    lr_schedule, update_params, with_grad_clip)

NESTEROV = False


def learning_rate(hp, step_hint: int) -> optax.Schedule:
    """The learning rate at each update (from 0): linear warmup, then linear decay to 0 at step_hint."""
    return lr_schedule(hp, step_hint, decay="linear")


def make_optimizer(hp, step_hint: int) -> optax.GradientTransformation:
    return with_grad_clip(optax.chain(
        optax.add_decayed_weights(hp.weight_decay),
        optax.sgd(learning_rate(hp, step_hint), momentum=1.0 - hp.one_minus_beta1,
                  nesterov=NESTEROV)), hp)


def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
    return init_state(workload, model_params, hyperparameters,
                      make_optimizer(hyperparameters, workload.step_hint),
                      schedule_end=workload.step_hint)
