"""Adafactor with linear warmup and cosine decay keyed to the workload's step hint, in PyTorch.

Adafactor (Shazeer & Stern 2018, "Adafactor: Adaptive Learning Rates with Sublinear Memory
Cost"): a second moment factored into row and column averages, update clipping by block RMS, and
steps relative to the parameters' RMS; no momentum (the paper's b1 = 0). `torch_optimizers.
Adafactor` mirrors `optax.adafactor`'s composition in submission_jax.py (torch.optim.Adafactor is
another variant), with weight decay multiplied by the scheduled learning rate as in the other
baselines (optax.adafactor's `weight_decay_rate` is not). Hyperparameters, the same in both:
  learning_rate           peak relative step size (the update is lr * max(rms(p), 1e-3) * direction)
  decay_rate              second-moment decay b_t = 1 - t^(-decay_rate)
  clipping_threshold      clip each tensor's update to this RMS
  min_dim_size_to_factor  factor a tensor's second moment when its two largest axes have at
                          least this many entries
  weight_decay            decoupled weight decay, multiplied by the scheduled learning rate
  warmup_factor           warmup length as a fraction of `workload.step_hint`; cosine decay to 0
  label_smoothing         (optional, default 0)
  grad_clip               (optional) global gradient-norm clip, none when absent
"""

from submissions.common.pytorch import data_selection, get_batch_size, lr_scheduler, update_params  # noqa: F401
from submissions.common.torch_optimizers import Adafactor

EPSILON = 1e-30  # added to g^2 (optax's default)
MIN_SCALE = 1e-3  # the floor of rms(p) in the relative step (optax's default)


def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
    hp = hyperparameters
    optimizer = Adafactor(model_params.parameters(), lr=hp.learning_rate, decay_rate=hp.decay_rate,
                          min_dim_size_to_factor=hp.min_dim_size_to_factor,
                          clipping_threshold=hp.clipping_threshold, multiply_by_parameter_scale=True,
                          eps=EPSILON, min_scale=MIN_SCALE, weight_decay=hp.weight_decay)
    return {"optimizer": optimizer, "scheduler": lr_scheduler(optimizer, hp, workload.step_hint),
            "schedule_end": workload.step_hint}
