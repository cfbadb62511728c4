"""SOAP with linear warmup and cosine decay keyed to the workload's step hint, in PyTorch.

SOAP (Vyas et al. 2025, "SOAP: Improving and Stabilizing Shampoo using Adam"): Adam run in the
eigenbasis of Shampoo's preconditioners (Gupta et al. 2018), one per axis of each parameter tensor
(per layer), refreshed every `precondition_frequency` updates by one power iteration and a QR
step. Neither torch.optim nor optax has it: `torch_optimizers.SOAP` and `optax_soap.soap` (JAX)
are hand-written from the paper and the authors' reference code, and tested against each other and
against a NumPy transcription of the equations. Hyperparameters, the same in both modules:
  learning_rate           peak learning rate, reached at the end of warmup
  one_minus_beta1         1 - the first-moment decay
  beta2                   the decay of the second moment and of the Shampoo preconditioners
  weight_decay            decoupled weight decay (multiplied by the scheduled learning rate)
  precondition_frequency  refresh the eigenbases every this many updates
  max_precond_dim         axes longer than this get no preconditioner (plain Adam along them)
  warmup_factor           warmup length as a fraction of `workload.step_hint`; cosine decay to 0
  label_smoothing         (optional, default 0)
  grad_clip               (optional) global gradient-norm clip, none when absent
"""

from submissions.common.pytorch import data_selection, get_batch_size, lr_scheduler, update_params  # noqa: F401
from submissions.common.torch_optimizers import SOAP

EPSILON = 1e-8


def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
    hp = hyperparameters
    optimizer = SOAP(model_params.parameters(), lr=hp.learning_rate,
                     betas=(1.0 - hp.one_minus_beta1, hp.beta2), eps=EPSILON,
                     weight_decay=hp.weight_decay, precondition_frequency=hp.precondition_frequency,
                     max_precond_dim=hp.max_precond_dim)
    return {"optimizer": optimizer, "scheduler": lr_scheduler(optimizer, hp, workload.step_hint),
            "schedule_end": workload.step_hint}
