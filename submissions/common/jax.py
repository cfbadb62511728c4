"""What the JAX baselines share: the step-hint schedule as an optax schedule, gradient clipping,
and one jitted train step whose optimizer state sits on the parameters' sharding. Imports JAX and
optax, never torch."""

from __future__ import annotations

import functools

import jax
import optax

from harness.spec import ForwardPassMode
from submissions.common import data_selection, get_batch_size, schedules  # noqa: F401


def lr_schedule(hp, step_hint: int, decay: str = "cosine") -> optax.Schedule:
    """`hp.learning_rate` times `schedules.lr_factor`: linear warmup over
    `hp.warmup_factor * step_hint` updates, then cosine (or linear) decay to 0 at `step_hint`."""
    if decay not in schedules.DECAYS:
        raise ValueError(f"decay {decay!r} is not one of {schedules.DECAYS}")
    peak = hp.learning_rate
    warmup = schedules.warmup_steps(hp.warmup_factor, step_hint)
    steps = schedules.decay_steps(warmup, step_hint)
    tail = (optax.cosine_decay_schedule(peak, steps) if decay == "cosine"
            else optax.linear_schedule(peak, 0.0, steps))
    return optax.join_schedules([optax.linear_schedule(0.0, peak, warmup), tail], boundaries=[warmup])


def with_grad_clip(tx: optax.GradientTransformation, hp) -> optax.GradientTransformation:
    """Clip the global gradient norm to `hp.grad_clip` first, when the search space sets it."""
    if hp.get("grad_clip") is None:
        return tx
    return optax.chain(optax.clip_by_global_norm(hp.grad_clip), tx)


def _train_step(workload, tx, label_smoothing, pass_grad_fn, params, model_state, opt_state, batch, rng):
    def loss_fn(p, update_batch_norm=True):
        logits, new_model_state = workload.model_fn(
            params=p, augmented_and_preprocessed_input_batch=batch, model_state=model_state,
            mode=ForwardPassMode.TRAIN, rng=rng, update_batch_norm=update_batch_norm)
        loss = workload.loss_fn(label_batch=batch["targets"], logits_batch=logits,
                                mask_batch=batch.get("weights"), label_smoothing=label_smoothing)
        return loss["summed"] / loss["n_valid_examples"], new_model_state

    (_, new_model_state), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    extra = {}
    if pass_grad_fn:  # optimizers that take more gradients of the same batch (SAM's opaque mode)
        extra["grad_fn"] = lambda p, _: jax.grad(lambda q: loss_fn(q, False)[0])(p)
    updates, opt_state = tx.update(grads, opt_state, params, **extra)
    return optax.apply_updates(params, updates), new_model_state, opt_state


def init_optimizer_state(workload, model_params, hyperparameters, tx: optax.GradientTransformation,
                         *, schedule_end: int | None, pass_grad_fn: bool = False) -> dict:
    """The optimizer state of `tx`, its jitted train step, and `schedule_end`: the step from which
    `tx`'s learning rate is 0 (the step hint for `lr_schedule`; None for none), where
    `data_selection` ends training.

    The state is placed like the parameters (replicated on the workload's device mesh), so that
    the first call of the step sees the same input shardings as every later one: one compile.
    """
    step = jax.jit(functools.partial(
        _train_step, workload, tx, hyperparameters.get("label_smoothing", 0.0), pass_grad_fn))
    replicated = jax.tree.leaves(model_params)[0].sharding
    opt_state = jax.device_put(tx.init(model_params), replicated)
    return {"opt_state": opt_state, "train_step": step, "schedule_end": schedule_end}


def update_params(workload, current_param_container, current_params_types, model_state,
                  hyperparameters, batch, loss_type, optimizer_state, eval_results, global_step,
                  rng, train_state):
    params, model_state, opt_state = optimizer_state["train_step"](
        current_param_container, model_state, optimizer_state["opt_state"], batch, rng)
    return {**optimizer_state, "opt_state": opt_state}, params, model_state


def reestimate_batch_norm(workload, params, model_state, batches):
    """Batch-norm running statistics of `params`: one forward pass in training mode per batch of
    `batches`, each moving the running averages as training does (a no-op without batch norm).
    For optimizers that evaluate other parameters than they train (Schedule-Free's x), whose
    running statistics are those of the training point."""
    if not model_state:
        return model_state
    for batch in batches:
        model_state = _batch_norm_pass(workload, params, model_state, batch)
    return model_state


@functools.partial(jax.jit, static_argnums=0)
def _batch_norm_pass(workload, params, model_state, batch):
    return workload.model_fn(params=params, augmented_and_preprocessed_input_batch=batch,
                             model_state=model_state, mode=ForwardPassMode.TRAIN, rng=None,
                             update_batch_norm=True)[1]

