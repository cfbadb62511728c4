"""Pieces the baseline submissions share: schedules, train steps, and the hand-written optimizers
that the frameworks' libraries lack (`torch_optimizers.py` mirrors optax; `optax_soap.py` adds
SOAP to optax). Framework-specific modules never import the other framework."""

# Global batch sizes: the framework-free submission functions live here, for both frameworks.
from harness.spec import BASELINE_BATCH_SIZES as BATCH_SIZES
from harness.spec import DEFAULT_BASELINE_BATCH_SIZE as DEFAULT_BATCH_SIZE  # noqa: F401
from harness.spec import baseline_batch_size as get_batch_size  # noqa: F401
from harness.spec import BASELINE_STEP_BUDGET, baseline_step_budget
from harness.spec import TrainingCompleteError


def data_selection(workload, input_queue, optimizer_state, current_param_container, model_state,
                   hyperparameters, global_step, rng):
    """The next batch of the training stream; or the end of training (`TrainingCompleteError`)
    from `training_end(optimizer_state)` on, when the baseline has a schedule that ends."""
    end = training_end(optimizer_state)
    if end is not None and global_step >= end:
        raise TrainingCompleteError(f"training ends at step {end}: {BASELINE_STEP_BUDGET:g} step hints, the "
                                    f"learning rate is 0 from step {int(optimizer_state['schedule_end'])} on")
    return next(input_queue)


def training_end(optimizer_state) -> int | None:
    """The step where a baseline ends training: `harness.spec.baseline_step_budget` of its
    schedule's end (`optimizer_state["schedule_end"]`, the step hint, from which the learning rate
    is 0), the step budget its targets were set with; None without a schedule end (Schedule-Free).
    Past it no update moves the parameters, so a trial that has not met its targets by then never
    will, and training on to the budget would only spend it (the score is the same)."""
    end = optimizer_state.get("schedule_end")
    return None if end is None else baseline_step_budget(int(end))
