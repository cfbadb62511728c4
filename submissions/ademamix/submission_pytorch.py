"""AdEMAMix with linear warmup and cosine decay keyed to the workload's step hint, in PyTorch.

AdEMAMix (Pagliardini et al. 2024, "The AdEMAMix Optimizer: Better, Faster, Older"): AdamW whose
numerator mixes a fast EMA of the gradients (b1, bias-corrected) with a slow one (b3, not
corrected), weighted by alpha; alpha and b3 warm up over the first `step_hint` updates (the
paper's T_alpha = T_b3 = T). At update t (from 1), with s = min(t / T, 1):

    m1 = b1 m1 + (1 - b1) g      m2 = b3_t m2 + (1 - b3_t) g      v = b2 v + (1 - b2) g^2
    alpha_t = s alpha            b3_t = min(exp(ln b1 ln b3 / ((1 - t/T) ln b3 + (t/T) ln b1)), b3)
    p <- p - lr_t ((m1 / (1 - b1^t) + alpha_t m2) / (sqrt(v / (1 - b2^t)) + eps) + wd p)

`pytorch_optimizer.AdEMAMix` (with `weight_decouple=True`) computes exactly this, as
`optax.contrib.ademamix` does (submission_jax.py); the tests check both against these equations.
Hyperparameters, the same in both modules:
  learning_rate     peak learning rate, reached at the end of warmup
  one_minus_beta1   1 - b1 (the fast EMA's decay)
  beta2             the second moment's decay
  beta3             the slow EMA's final decay
  alpha             the slow EMA's final weight
  weight_decay      decoupled weight decay (multiplied by the scheduled learning rate)
  warmup_factor     the learning rate's warmup as a fraction of `workload.step_hint`; cosine decay
  label_smoothing   (optional, default 0)
  grad_clip         (optional) global gradient-norm clip, none when absent
"""

from pytorch_optimizer import AdEMAMix

from submissions.common.pytorch import data_selection, get_batch_size, lr_scheduler, update_params  # noqa: F401

EPSILON = 1e-8


def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
    hp = hyperparameters
    optimizer = AdEMAMix(model_params.parameters(), lr=hp.learning_rate,
                         betas=(1.0 - hp.one_minus_beta1, hp.beta2, hp.beta3), alpha=hp.alpha,
                         t_alpha_beta3=workload.step_hint, weight_decay=hp.weight_decay,
                         weight_decouple=True, eps=EPSILON)
    return {"optimizer": optimizer, "scheduler": lr_scheduler(optimizer, hp, workload.step_hint),
            "schedule_end": workload.step_hint}
