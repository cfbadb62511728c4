"""LAMB with linear warmup and cosine decay keyed to the workload's step hint, in PyTorch.

LAMB (You et al. 2020, "Large Batch Optimization for Deep Learning: Training BERT in 76 minutes"):
Adam's direction plus decoupled weight decay, rescaled per tensor by the trust ratio ||p|| / ||u||.
`torch_optimizers.LAMB` (torch.optim has no LAMB) mirrors `optax.lamb` in submission_jax.py.
Hyperparameters, the same in both modules:
  learning_rate     peak learning rate, reached at the end of warmup (a step of lr ||p|| per tensor)
  one_minus_beta1   1 - the first-moment decay
  beta2             the second-moment decay
  weight_decay      decoupled weight decay, added to the Adam direction before the trust ratio
  warmup_factor     warmup length as a fraction of `workload.step_hint`; cosine decay to 0 at it
  label_smoothing   (optional, default 0)
  grad_clip         (optional) global gradient-norm clip, none when absent
"""

from submissions.common.pytorch import data_selection, get_batch_size, lr_scheduler, update_params  # noqa: F401
from submissions.common.torch_optimizers import LAMB

EPSILON = 1e-6  # optax.lamb's default


def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
    hp = hyperparameters
    optimizer = LAMB(model_params.parameters(), lr=hp.learning_rate,
                     betas=(1.0 - hp.one_minus_beta1, hp.beta2), eps=EPSILON,
                     weight_decay=hp.weight_decay)
    return {"optimizer": optimizer, "scheduler": lr_scheduler(optimizer, hp, workload.step_hint),
            "schedule_end": workload.step_hint}
