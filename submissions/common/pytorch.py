"""What the PyTorch baselines share: the step-hint schedule as a `LambdaLR`, and one
train step (forward, loss with label smoothing, backward, optional gradient clipping, optimizer
step, scheduler step). Imports torch, never JAX."""

from __future__ import annotations

from typing import Any

import torch
from torch.optim.lr_scheduler import LambdaLR

from harness.spec import ForwardPassMode
from submissions.common import data_selection, get_batch_size, schedules  # noqa: F401


def lr_scheduler(optimizer: torch.optim.Optimizer, hp, step_hint: int, decay: str = "cosine") -> LambdaLR:
    """Linear warmup over `hp.warmup_factor * step_hint` updates, then `decay` to 0 at `step_hint`
    (`schedules.lr_factor`); multiplies each param group's `lr`."""
    warmup = schedules.warmup_steps(hp.warmup_factor, step_hint)
    decay_steps = schedules.decay_steps(warmup, step_hint)
    return LambdaLR(optimizer, lambda step: schedules.lr_factor(step, warmup, decay_steps, decay))


def loss_and_grad(workload, model: torch.nn.Module, model_state: Any, batch: dict, rng: Any,
                  hp, update_batch_norm: bool = True) -> tuple[torch.Tensor, Any]:
    """Mean training loss of `batch` (with the search space's label smoothing), back-propagated
    into `.grad` (zeroed first); returns the loss and the new model state."""
    for p in model.parameters():
        p.grad = None
    logits, new_model_state = workload.model_fn(
        params=model, augmented_and_preprocessed_input_batch=batch, model_state=model_state,
        mode=ForwardPassMode.TRAIN, rng=rng, update_batch_norm=update_batch_norm)
    loss = workload.loss_fn(
        label_batch=batch["targets"], logits_batch=logits, mask_batch=batch.get("weights"),
        label_smoothing=hp.get("label_smoothing", 0.0))
    mean = loss["summed"] / loss["n_valid_examples"]
    mean.backward()
    return mean.detach(), new_model_state


def clip_grads(model: torch.nn.Module, hp) -> None:
    """Clip the global gradient norm to `hp.grad_clip` when the search space sets it
    (`optax.clip_by_global_norm`)."""
    if hp.get("grad_clip") is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=hp.grad_clip)


def update_params(workload, current_param_container, current_params_types, model_state,
                  hyperparameters, batch, loss_type, optimizer_state, eval_results, global_step,
                  rng, train_state):
    """One step of `optimizer_state["optimizer"]`, then of `optimizer_state["scheduler"]` if any."""
    model = current_param_container
    _, new_model_state = loss_and_grad(workload, model, model_state, batch, rng, hyperparameters)
    clip_grads(model, hyperparameters)
    optimizer_state["optimizer"].step()
    if optimizer_state.get("scheduler") is not None:
        optimizer_state["scheduler"].step()
    return optimizer_state, model, new_model_state


def has_batch_norm(model: torch.nn.Module) -> bool:
    return any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())


def reestimate_batch_norm(workload, model: torch.nn.Module, model_state: Any, batches) -> Any:
    """Batch-norm running statistics of the current parameters: one forward pass in training mode
    (no gradients) per batch of `batches`, each moving the running averages as training does.
    For optimizers that evaluate other parameters than they train (Schedule-Free's x), whose
    running statistics are those of the training point."""
    with torch.no_grad():
        for batch in batches:
            _, model_state = workload.model_fn(
                params=model, augmented_and_preprocessed_input_batch=batch, model_state=model_state,
                mode=ForwardPassMode.TRAIN, rng=None, update_batch_norm=True)
    return model_state

