"""NAdamW with linear warmup and cosine decay keyed to the workload's step hint, in PyTorch.

NAdam (Dozat 2016, "Incorporating Nesterov Momentum into Adam") with decoupled weight decay
(Loshchilov & Hutter 2019), as AlgoPerf's NAdamW baseline and `optax.nadamw` define it
(`torch_optimizers.nadamw`: torch.optim.NAdam with its momentum decay off). The same hyperparameters mean
the same in submission_jax.py:
  learning_rate     peak learning rate, reached at the end of warmup
  one_minus_beta1   1 - the first-moment decay
  beta2             the second-moment decay
  weight_decay      decoupled weight decay (multiplied by the scheduled learning rate)
  warmup_factor     warmup length as a fraction of `workload.step_hint`; cosine decay to 0 at it
  label_smoothing   (optional, default 0)
  grad_clip         (optional) global gradient-norm clip, none when absent
"""

from submissions.common.pytorch import data_selection, get_batch_size, lr_scheduler, update_params  # noqa: F401
from submissions.common.torch_optimizers import nadamw

EPSILON = 1e-8


def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
    hp = hyperparameters
    optimizer = nadamw(model_params.parameters(), lr=hp.learning_rate,
                       betas=(1.0 - hp.one_minus_beta1, hp.beta2), eps=EPSILON,
                       weight_decay=hp.weight_decay)
    return {"optimizer": optimizer, "scheduler": lr_scheduler(optimizer, hp, workload.step_hint),
            "schedule_end": workload.step_hint}
