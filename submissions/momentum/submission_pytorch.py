"""SGD with heavy-ball momentum, linear warmup and linear decay to 0 at the step hint, in PyTorch.

Heavy-ball momentum (Polyak 1964, "Some methods of speeding up the convergence of iteration
methods") with L2 weight decay added to the gradient before the momentum, as AlgoPerf's momentum
baseline: `torch.optim.SGD(nesterov=False)`, the same rule as
`optax.chain(add_decayed_weights, sgd(nesterov=False))` in submission_jax.py:
    buf <- mu buf + (g + wd p);   p <- p - lr buf
Hyperparameters, the same in both modules:
  learning_rate     peak learning rate, reached at the end of warmup
  one_minus_beta1   1 - the momentum mu
  weight_decay      L2 weight decay, added to the gradient (coupled: it goes through the momentum)
  warmup_factor     warmup length as a fraction of `workload.step_hint`; linear decay to 0 at it
  label_smoothing   (optional, default 0)
  grad_clip         (optional) global gradient-norm clip (before the weight decay), none when absent
"""

import torch

from submissions.common.pytorch import data_selection, get_batch_size, lr_scheduler, update_params  # noqa: F401

NESTEROV = False


def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
    hp = hyperparameters
    optimizer = torch.optim.SGD(model_params.parameters(), lr=hp.learning_rate,
                                momentum=1.0 - hp.one_minus_beta1, weight_decay=hp.weight_decay,
                                nesterov=NESTEROV)
    return {"optimizer": optimizer,
            "scheduler": lr_scheduler(optimizer, hp, workload.step_hint, decay="linear"),
            "schedule_end": workload.step_hint}
