"""Pieces the baseline submissions share: schedules, train steps, and the hand-written optimizers
that the frameworks' libraries lack (`torch_optimizers.py` mirrors optax; `optax_soap.py` adds
SOAP to optax). Framework-specific modules never import the other framework."""

# Global batch sizes: the framework-free submission functions live here, for both frameworks.
from harness.spec import BASELINE_BATCH_SIZES as BATCH_SIZES
from harness.spec import DEFAULT_BASELINE_BATCH_SIZE as DEFAULT_BATCH_SIZE  # noqa: F401
from harness.spec import baseline_batch_size as get_batch_size  # noqa: F401
from harness.spec import TrainingCompleteError


def data_selection(workload, input_queue, optimizer_state, current_param_container, model_state,
                   hyperparameters, global_step, rng):
    """The next batch of the training stream; or, from `optimizer_state["schedule_end"]` on (the
    step from which the schedule's learning rate is 0, when the baseline has one), the end of
    training: no later update can move the parameters, so a trial that has not met its targets by
    then never will, and training on to the budget would only spend it (the score is the same)."""
    end = optimizer_state.get("schedule_end")
    if end is not None and global_step >= int(end):
        raise TrainingCompleteError(f"the learning rate is 0 from step {int(end)} on")
    return next(input_queue)
