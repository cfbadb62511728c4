"""{name}: <one line saying what the algorithm is> (JAX).

<Where it comes from. The hyperparameters mean the same as in submission_pytorch.py.>

The harness calls these functions with AlgoPerf's keyword arguments. Everything they do is on the
clock, including compilation: jit once, in init_optimizer_state. Import only `harness.spec` from
the harness; `algobench check` lists the other rules.
"""

import jax  # noqa: F401
import optax  # noqa: F401

from harness.spec import ForwardPassMode  # noqa: F401


def get_batch_size(workload_name):
    """The global batch size for a workload (its base name, for a variant); the only place a
    submission may look at which workload it runs."""
    return 128


def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
    """Build the optimizer state before the first step (on the clock).

    model_params: a nested dict of arrays, replicated on the workload's device mesh. model_state:
    the other model collections (`{"batch_stats": ...}` or `{}`). hyperparameters: this trial's
    point of tuning_search_space.json, with attribute access. rng: a `jax.random` key. Return
    anything; it comes back as `optimizer_state`. Place arrays you create on the parameters'
    sharding (`jax.tree.leaves(model_params)[0].sharding`) so the train step compiles once.
    """
    raise NotImplementedError("{name}: write init_optimizer_state (for example an optax optimizer)")


def update_params(workload, current_param_container, current_params_types, model_state,
                  hyperparameters, batch, loss_type, optimizer_state, eval_results, global_step,
                  rng, train_state):
    """One training step on `batch` (a dict of arrays sharded along the batch axis).

    Use `workload.model_fn(params, batch, model_state, ForwardPassMode.TRAIN, rng,
    update_batch_norm=True)` for the logits and `workload.loss_fn(batch["targets"], logits)` for the
    loss, inside a jitted function. Return `(optimizer_state, params, model_state)`. Raise
    `harness.spec.TrainingCompleteError` to end training early.
    """
    raise NotImplementedError("{name}: write update_params (a jitted gradient step)")


def prepare_for_eval(workload, current_param_container, current_params_types, model_state,
                     hyperparameters, loss_type, optimizer_state, eval_results, global_step, rng):
    """Optional, on the clock: called before every evaluation; return `(optimizer_state, params,
    model_state)`. Delete it if you do not need it."""
    return optimizer_state, current_param_container, model_state


def data_selection(workload, input_queue, optimizer_state, current_param_container, model_state,
                   hyperparameters, global_step, rng):
    """The next training batch (on the clock)."""
    return next(input_queue)
