"""Pieces the baseline submissions share: schedules, train steps, and the hand-written optimizers
that the frameworks' libraries lack (`torch_optimizers.py` mirrors optax; `optax_soap.py` adds
SOAP to optax). Framework-specific modules never import the other framework."""

# Global batch sizes: the framework-free submission functions live here, for both frameworks.
from harness.spec import BASELINE_BATCH_SIZES as BATCH_SIZES
from harness.spec import DEFAULT_BASELINE_BATCH_SIZE as DEFAULT_BATCH_SIZE  # noqa: F401
from harness.spec import baseline_batch_size as get_batch_size  # noqa: F401


def data_selection(workload, input_queue, optimizer_state, current_param_container, model_state,
                   hyperparameters, global_step, rng):
    return next(input_queue)
