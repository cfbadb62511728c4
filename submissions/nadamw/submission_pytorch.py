"""NAdamW with linear warmup and cosine decay keyed to the workload's step hint, in PyTorch.

NAdam (Dozat 2016, "Incorporating Nesterov Momentum into Adam") with decoupled weight decay
(Loshchilov & Hutter 2019), as AlgoPerf's NAdamW baseline and `optax.nadamw` define it. The same
hyperparameters mean the same in submission_jax.py:
  learning_rate     peak learning rate, reached at the end of warmup
  one_minus_beta1   1 - the first-moment decay
  beta2             the second-moment decay
  weight_decay      decoupled weight decay (multiplied by the scheduled learning rate)
  warmup_factor     warmup length as a fraction of `workload.step_hint`
  label_smoothing   (optional, default 0)
  grad_clip         (optional) global gradient-norm clip, none when absent
"""

import math

import torch
from torch.optim.lr_scheduler import LambdaLR

from harness.spec import ForwardPassMode

EPSILON = 1e-8


class NAdamW(torch.optim.Optimizer):
    """`optax.nadamw`'s update rule. Hand-written because `torch.optim.NAdam` applies Dozat's
    momentum-decay schedule (mu_t), a different algorithm from the one AlgoPerf baselines use:

        m_t = b1 m + (1 - b1) g             v_t = b2 v + (1 - b2) g^2
        m^  = b1 m_t / (1 - b1^(t+1)) + (1 - b1) g / (1 - b1^t)
        p  <- p (1 - lr wd) - lr m^ / (sqrt(v_t / (1 - b2^t)) + eps)
    """

    def __init__(self, params, lr, betas, eps=EPSILON, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = torch.tensor(0.0)
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
                t = state["step"].item()
                m, v, g = state["exp_avg"], state["exp_avg_sq"], p.grad
                p.mul_(1 - lr * wd)
                m.lerp_(g, 1 - b1)
                v.mul_(b2).addcmul_(g, g, value=1 - b2)
                m_hat = m * (b1 / (1 - b1 ** (t + 1))) + g * ((1 - b1) / (1 - b1**t))
                denom = (v / (1 - b2**t)).sqrt_().add_(eps)
                p.addcdiv_(m_hat, denom, value=-lr)


def warmup_cosine(step: int, warmup_steps: int, decay_steps: int) -> float:
    """The learning-rate factor at `step` (0-based update count), equal to
    `optax.join_schedules([linear 0 -> 1 over warmup_steps, cosine 1 -> 0 over decay_steps])`."""
    if step < warmup_steps:
        return step / warmup_steps
    progress = min(step - warmup_steps, decay_steps) / decay_steps
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def get_batch_size(workload_name):
    return {"smoke": 64}.get(workload_name, 128)


def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
    hp = hyperparameters
    optimizer = NAdamW(
        model_params.parameters(),
        lr=hp.learning_rate,
        betas=(1.0 - hp.one_minus_beta1, hp.beta2),
        weight_decay=hp.weight_decay,
    )
    warmup = max(1, int(hp.warmup_factor * workload.step_hint))
    decay = max(1, workload.step_hint - warmup)
    scheduler = LambdaLR(optimizer, lambda step: warmup_cosine(step, warmup, decay))
    return {"optimizer": optimizer, "scheduler": scheduler}


def update_params(workload, current_param_container, current_params_types, model_state,
                  hyperparameters, batch, loss_type, optimizer_state, eval_results, global_step,
                  rng, train_state):
    model = current_param_container
    optimizer_state["optimizer"].zero_grad(set_to_none=True)
    logits, new_model_state = workload.model_fn(
        params=model, augmented_and_preprocessed_input_batch=batch, model_state=model_state,
        mode=ForwardPassMode.TRAIN, rng=rng, update_batch_norm=True)
    loss = workload.loss_fn(
        label_batch=batch["targets"], logits_batch=logits, mask_batch=batch.get("weights"),
        label_smoothing=hyperparameters.get("label_smoothing", 0.0))
    (loss["summed"] / loss["n_valid_examples"]).backward()
    if hyperparameters.get("grad_clip") is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=hyperparameters.grad_clip)
    optimizer_state["optimizer"].step()
    optimizer_state["scheduler"].step()
    return optimizer_state, model, new_model_state


def data_selection(workload, input_queue, optimizer_state, current_param_container, model_state,
                   hyperparameters, global_step, rng):
    return next(input_queue)
