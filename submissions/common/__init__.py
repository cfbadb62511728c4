"""Pieces the baseline submissions share: schedules, train steps, and the hand-written optimizers
that the frameworks' libraries lack (`torch_optimizers.py` mirrors optax; `optax_soap.py` adds
SOAP to optax). Framework-specific modules never import the other framework."""

# Global batch sizes: the framework-free submission functions live here, for both frameworks.
BATCH_SIZES = {"smoke": 64, "gnn": 64, "dlrm": 1024, "lm": 16, "unet": 32, "vit": 64, "deepspeech": 32, "conformer": 32}
DEFAULT_BATCH_SIZE = 128


def get_batch_size(workload_name):
    return BATCH_SIZES.get(workload_name, DEFAULT_BATCH_SIZE)


def data_selection(workload, input_queue, optimizer_state, current_param_container, model_state,
                   hyperparameters, global_step, rng):
    return next(input_queue)
