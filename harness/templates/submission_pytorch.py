"""{name}: <one line saying what the algorithm is> (PyTorch).

<Where it comes from: paper, authors, year. What each hyperparameter means; they must mean the same
in submission_jax.py.>

The harness calls these functions with AlgoPerf's keyword arguments. Everything they do is on the
clock. Import only `harness.spec` from the harness; `algobench check` lists the other rules.
"""

import torch  # noqa: F401

from harness.spec import ForwardPassMode  # noqa: F401


def get_batch_size(workload_name):
    """The global batch size for a workload (its base name, for a variant); the only place a
    submission may look at which workload it runs."""
    return 128


def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
    """Build the optimizer state before the first step (on the clock).

    model_params: the `torch.nn.Module` to train. model_state: None (batch-norm statistics live in
    the module). hyperparameters: this trial's point of tuning_search_space.json, with attribute
    access (`hyperparameters.learning_rate`). rng: a uint32 pair. Return anything; it comes back as
    `optimizer_state` in every call, and objects in it with `state_dict()` are checkpointed.
    """
    raise NotImplementedError("{name}: write init_optimizer_state (for example a torch.optim optimizer)")


def update_params(workload, current_param_container, current_params_types, model_state,
                  hyperparameters, batch, loss_type, optimizer_state, eval_results, global_step,
                  rng, train_state):
    """One training step on `batch` (a dict of tensors: `inputs`, `targets`).

    Use `workload.model_fn(params, batch, model_state, ForwardPassMode.TRAIN, rng,
    update_batch_norm=True)` for the logits and `workload.loss_fn(batch["targets"], logits)` for the
    loss (a dict: `summed`, `n_valid_examples`, `per_example`). `train_state` is a read-only view of
    the clock (`remaining_time`, ...). Return `(optimizer_state, params, model_state)`. Raise
    `harness.spec.TrainingCompleteError` to end training early.
    """
    raise NotImplementedError("{name}: write update_params (forward, loss, backward, optimizer step)")


def prepare_for_eval(workload, current_param_container, current_params_types, model_state,
                     hyperparameters, loss_type, optimizer_state, eval_results, global_step, rng):
    """Optional, on the clock: called before every evaluation; return `(optimizer_state, params,
    model_state)` (for example averaged weights). Delete it if you do not need it."""
    return optimizer_state, current_param_container, model_state


def data_selection(workload, input_queue, optimizer_state, current_param_container, model_state,
                   hyperparameters, global_step, rng):
    """The next training batch (on the clock). `input_queue` yields shuffled batches of the
    training split at the global batch size."""
    return next(input_queue)
