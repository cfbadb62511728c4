"""Schedule-Free AdamW with linear warmup and no decay, in PyTorch.

Schedule-Free AdamW (Defazio et al. 2024, "The Road Less Scheduled"): gradients are taken at
y = (1 - b1) z + b1 x, the base AdamW step (without momentum) moves z, and x is a running average
of the z's weighted by max_lr^weight_lr_power; x is the point to evaluate. The `schedulefree`
package's `AdamWScheduleFree` (schedulefree==1.4.1, in requirements.txt), the same algorithm as
`optax.contrib.schedule_free_adamw` in submission_jax.py (the tests prove it step for step). The
parameters hold y while training and x from `prepare_for_eval` until the next `update_params`.
Batch norm: training leaves the running statistics of y, so `prepare_for_eval` re-estimates them
at x from the last `BN_BATCHES` training batches, as the authors advise (on `cnn` this is worth
3 points of accuracy: 0.859 with y's statistics, 0.893 re-estimated, after 1,500 steps).
Hyperparameters, the same in both modules:
  learning_rate     peak learning rate of the base AdamW (constant after warmup: no decay)
  one_minus_beta1   1 - b1, the interpolation weight of x in y
  beta2             the second-moment decay (bias-corrected)
  weight_decay      weight decay at y, multiplied by the learning rate (decoupled)
  warmup_factor     linear warmup over warmup_factor * `workload.step_hint` updates
  weight_lr_power   x averages z with weights lr_max^weight_lr_power (the polynomial power r = 0)
  label_smoothing   (optional, default 0)
  grad_clip         (optional) global gradient-norm clip, none when absent
"""

import collections

from submissions.common import schedules
from submissions.common.pytorch import data_selection, get_batch_size, update_params as train_step  # noqa: F401
from submissions.common.pytorch import has_batch_norm, reestimate_batch_norm

try:
    from schedulefree import AdamWScheduleFree
except ImportError as err:  # fail with the fix, not a bare traceback
    raise ImportError("schedule_free_adamw needs the `schedulefree` package: "
                      "pip install -r submissions/schedule_free_adamw/requirements.txt") from err

EPSILON = 1e-8
BN_BATCHES = 20  # training batches re-run at x to re-estimate batch-norm statistics for eval


def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
    hp = hyperparameters
    optimizer = AdamWScheduleFree(
        model_params.parameters(), lr=hp.learning_rate, betas=(1.0 - hp.one_minus_beta1, hp.beta2),
        eps=EPSILON, weight_decay=hp.weight_decay,
        warmup_steps=schedules.warmup_steps(hp.warmup_factor, workload.step_hint), r=0.0,
        weight_lr_power=hp.weight_lr_power)
    optimizer.train()  # the parameters hold y
    recent = collections.deque(maxlen=BN_BATCHES if has_batch_norm(model_params) else 0)
    return {"optimizer": optimizer, "recent_batches": recent}


def update_params(workload, current_param_container, current_params_types, model_state,
                  hyperparameters, batch, loss_type, optimizer_state, eval_results, global_step,
                  rng, train_state):
    optimizer_state["optimizer"].train()  # x -> y if an eval came before (no-op otherwise)
    optimizer_state["recent_batches"].append(batch)
    return train_step(workload, current_param_container, current_params_types, model_state,
                      hyperparameters, batch, loss_type, optimizer_state, eval_results, global_step,
                      rng, train_state)


def prepare_for_eval(workload, current_param_container, current_params_types, model_state,
                     hyperparameters, loss_type, optimizer_state, eval_results, global_step, rng):
    optimizer_state["optimizer"].eval()  # y -> x
    model_state = reestimate_batch_norm(workload, current_param_container, model_state,
                                        optimizer_state["recent_batches"])
    return optimizer_state, current_param_container, model_state
