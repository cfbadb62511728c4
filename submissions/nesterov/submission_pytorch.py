"""SGD with Nesterov momentum, linear warmup and linear decay to 0 at the step hint, in PyTorch.

Nesterov's accelerated gradient in the momentum form of Sutskever et al. 2013 ("On the importance
of initialization and momentum in deep learning"), with L2 weight decay added to the gradient
before the momentum, as AlgoPerf's Nesterov baseline: `torch.optim.SGD(nesterov=True)`, the same
rule as `optax.chain(add_decayed_weights, sgd(nesterov=True))` in submission_jax.py:
    d = g + wd p;   buf <- mu buf + d;   p <- p - lr (d + mu buf)
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

NESTEROV = True


def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
    hp = hyperparameters
    optimizer = torch.optim.SGD(model_params.parameters(), lr=hp.learning_rate,
                                momentum=1.0 - hp.one_minus_beta1, weight_decay=hp.weight_decay,
                                nesterov=NESTEROV)
    return {"optimizer": optimizer,
            "scheduler": lr_scheduler(optimizer, hp, workload.step_hint, decay="linear"),
            "schedule_end": workload.step_hint}
