"""Lion with linear warmup and cosine decay keyed to the workload's step hint, in PyTorch.

Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms"): the sign of an
interpolation of momentum and gradient, plus decoupled weight decay. `torch_optimizers.Lion`
(torch.optim has no Lion) mirrors `optax.lion` in submission_jax.py. Hyperparameters, the same in
both modules:
  learning_rate     peak learning rate (every coordinate moves by it; ~3-10x below AdamW's)
  one_minus_beta1   1 - the interpolation weight b1 of the momentum in the update's sign
  beta2             the momentum decay
  weight_decay      decoupled weight decay, multiplied by the scheduled learning rate
  warmup_factor     warmup length as a fraction of `workload.step_hint`; cosine decay to 0 at it
  label_smoothing   (optional, default 0)
  grad_clip         (optional) global gradient-norm clip, none when absent
"""

from submissions.common.pytorch import data_selection, get_batch_size, lr_scheduler, update_params  # noqa: F401
from submissions.common.torch_optimizers import Lion


def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
    hp = hyperparameters
    optimizer = Lion(model_params.parameters(), lr=hp.learning_rate,
                     betas=(1.0 - hp.one_minus_beta1, hp.beta2), weight_decay=hp.weight_decay)
    return {"optimizer": optimizer, "scheduler": lr_scheduler(optimizer, hp, workload.step_hint),
            "schedule_end": workload.step_hint}
