"""NAdamW with linear warmup and cosine decay keyed to the workload's step hint, in JAX (optax).

NAdam (Dozat 2016) with decoupled weight decay (Loshchilov & Hutter 2019): `optax.nadamw`. The
hyperparameters mean the same as in submission_pytorch.py (see its docstring).
"""

import functools

import jax
import optax

from harness.spec import ForwardPassMode

EPSILON = 1e-8


def make_optimizer(hp, step_hint: int) -> optax.GradientTransformation:
    warmup = max(1, int(hp.warmup_factor * step_hint))
    schedule = optax.join_schedules(
        [optax.linear_schedule(0.0, hp.learning_rate, warmup),
         optax.cosine_decay_schedule(hp.learning_rate, max(1, step_hint - warmup))],
        boundaries=[warmup])
    nadamw = optax.nadamw(schedule, b1=1.0 - hp.one_minus_beta1, b2=hp.beta2, eps=EPSILON,
                          weight_decay=hp.weight_decay)
    if hp.get("grad_clip") is None:
        return nadamw
    return optax.chain(optax.clip_by_global_norm(hp.grad_clip), nadamw)


def _train_step(workload, tx, label_smoothing, params, model_state, opt_state, batch, rng):
    def loss_fn(p):
        logits, new_model_state = workload.model_fn(
            params=p, augmented_and_preprocessed_input_batch=batch, model_state=model_state,
            mode=ForwardPassMode.TRAIN, rng=rng, update_batch_norm=True)
        loss = workload.loss_fn(label_batch=batch["targets"], logits_batch=logits,
                                mask_batch=batch.get("weights"), label_smoothing=label_smoothing)
        return loss["summed"] / loss["n_valid_examples"], new_model_state

    (_, new_model_state), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), new_model_state, opt_state


def get_batch_size(workload_name):
    return {"smoke": 64}.get(workload_name, 128)


def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
    tx = make_optimizer(hyperparameters, workload.step_hint)
    step = jax.jit(functools.partial(
        _train_step, workload, tx, hyperparameters.get("label_smoothing", 0.0)))
    # Place the optimizer state like the parameters (replicated on the workload's device mesh), so
    # that the first call of the step sees the same input shardings as every later one: one compile.
    replicated = jax.tree.leaves(model_params)[0].sharding
    opt_state = jax.device_put(tx.init(model_params), replicated)
    return {"opt_state": opt_state, "train_step": step}


def update_params(workload, current_param_container, current_params_types, model_state,
                  hyperparameters, batch, loss_type, optimizer_state, eval_results, global_step,
                  rng, train_state):
    params, model_state, opt_state = optimizer_state["train_step"](
        current_param_container, model_state, optimizer_state["opt_state"], batch, rng)
    return {**optimizer_state, "opt_state": opt_state}, params, model_state


def data_selection(workload, input_queue, optimizer_state, current_param_container, model_state,
                   hyperparameters, global_step, rng):
    return next(input_queue)
