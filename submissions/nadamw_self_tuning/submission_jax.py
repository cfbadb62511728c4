"""Self-tuning NAdamW: one fixed configuration, linear warmup and cosine decay to 0 at the step hint.

`optax.nadamw` with the configuration below, the same as in submission_pytorch.py (see its
docstring and the README).
"""

import optax

from harness.spec import Hyperparameters
from submissions.common.jax import data_selection, get_batch_size, init_optimizer_state as init_state, lr_schedule, update_params  # noqa: F401

EPSILON = 1e-8
HPARAMS = Hyperparameters({
    "learning_rate": 0.006,
    "one_minus_beta1": 0.1,
    "beta2": 0.999,
    "weight_decay": 0.05,
    "warmup_factor": 0.05,
    "label_smoothing": 0.0,
})


def learning_rate(hp, step_hint: int) -> optax.Schedule:
    """The learning rate at each update (from 0): linear warmup, then cosine decay to 0 at step_hint."""
    return lr_schedule(hp, step_hint)


def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
    hp = HPARAMS
    tx = optax.nadamw(learning_rate(hp, workload.step_hint), b1=1.0 - hp.one_minus_beta1, b2=hp.beta2,
                      eps=EPSILON, weight_decay=hp.weight_decay)
    return init_state(workload, model_params, hp, tx, schedule_end=workload.step_hint)
