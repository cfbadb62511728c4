"""SAM with an AdamW base, linear warmup and cosine decay keyed to the step hint, in PyTorch.

Sharpness-Aware Minimization (Foret et al. 2021, "Sharpness-Aware Minimization for Efficiently
Improving Generalization"): each step takes the gradient at p + rho g / ||g|| (same batch) and
hands it to the base optimizer at p. Base: AdamW (`torch.optim.AdamW`). `torch_optimizers.SAM`
(torch.optim has no SAM) mirrors `optax.contrib.sam(adamw, chain(normalize(), sgd(rho)),
opaque_mode=True)` in submission_jax.py. Batch-norm statistics are updated by the first forward
pass only. Hyperparameters, the same in both modules:
  learning_rate     the base AdamW's peak learning rate, reached at the end of warmup
  one_minus_beta1   1 - AdamW's first-moment decay
  beta2             AdamW's second-moment decay
  weight_decay      AdamW's decoupled weight decay (multiplied by the scheduled learning rate)
  rho               radius of the adversarial step (global L2 norm)
  warmup_factor     warmup length as a fraction of `workload.step_hint`; cosine decay to 0 at it
  label_smoothing   (optional, default 0)
  grad_clip         (optional) global gradient-norm clip of the SAM gradient, none when absent
"""

import torch

from submissions.common.pytorch import clip_grads, data_selection, get_batch_size, loss_and_grad, lr_scheduler  # noqa: F401
from submissions.common.torch_optimizers import SAM

EPSILON = 1e-8


def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
    hp = hyperparameters
    base = torch.optim.AdamW(model_params.parameters(), lr=hp.learning_rate,
                             betas=(1.0 - hp.one_minus_beta1, hp.beta2), eps=EPSILON,
                             weight_decay=hp.weight_decay)
    return {"optimizer": SAM(model_params.parameters(), base, rho=hp.rho), "base": base,
            "scheduler": lr_scheduler(base, hp, workload.step_hint),
            "schedule_end": workload.step_hint}


def update_params(workload, current_param_container, current_params_types, model_state,
                  hyperparameters, batch, loss_type, optimizer_state, eval_results, global_step,
                  rng, train_state):
    model, hp = current_param_container, hyperparameters
    _, new_model_state = loss_and_grad(workload, model, model_state, batch, rng, hp)

    def sam_gradient():  # at the perturbed weights, batch-norm statistics left alone
        loss, _ = loss_and_grad(workload, model, model_state, batch, rng, hp, update_batch_norm=False)
        clip_grads(model, hp)
        return loss

    optimizer_state["optimizer"].step(sam_gradient)
    optimizer_state["scheduler"].step()
    return optimizer_state, model, new_model_state
