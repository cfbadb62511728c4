"""Framework backends, imported lazily so that a JAX run never imports torch and vice versa.

A backend module provides: `make_workload(spec)`, `make_rng(seed)`, `sync(tree)`,
`all_finite(params)`, `save_optimizer_state(state, folder)`, `load_optimizer_state(template,
folder)`, `rng_state()` / `set_rng_state(state)`, `configure_threads(n)`, `device_info()`, and for
data parallelism `init_distributed() -> (rank, world_size)`, `shutdown_distributed()` and
`time_fn()` (the clock every process of a trial agrees on).
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

FRAMEWORKS = ("pytorch", "jax")


def load_backend(framework: str) -> ModuleType:
    if framework not in FRAMEWORKS:
        raise ValueError(f"unknown framework {framework!r}; choose one of {', '.join(FRAMEWORKS)}")
    try:
        return importlib.import_module(f"harness.{framework}_backend")
    except ImportError as err:
        extra = "pytorch" if framework == "pytorch" else "jax"
        raise ImportError(
            f"{framework} is not installed ({err}); install it with `pip install -e .[{extra}]`"
        ) from err


def local_process_slot() -> tuple[int, int]:
    """(this process's index, number of processes) of a data-parallel trial on this machine, from
    the variables torchrun (and submitit's TorchDistributedEnvironment) set; (0, 1) otherwise."""
    return int(os.environ.get("LOCAL_RANK", 0)), int(os.environ.get("LOCAL_WORLD_SIZE", 1))


def pin_cores(num_threads: int | None) -> list[int]:
    """Restrict this process to `num_threads` of the cores it may use (all when None).

    Both frameworks size their thread pools from the process's CPU affinity, so pinning gives
    PyTorch and JAX the same cores. The processes of a data-parallel trial (torchrun's local ranks)
    first split the cores into equal disjoint shares, one each (sharing round-robin only when there
    are more processes than cores). Returns the cores kept.
    """
    cores = sorted(os.sched_getaffinity(0))
    slot, num_slots = local_process_slot()
    if num_slots > 1:
        share = max(1, len(cores) // num_slots)
        start = (slot * share) % len(cores)
        cores = cores[start:start + share]
        os.sched_setaffinity(0, cores)
    if num_threads is not None:
        if not 1 <= num_threads <= len(cores):
            raise ValueError(f"--threads must be between 1 and {len(cores)}, got {num_threads}")
        cores = cores[:num_threads]
        os.sched_setaffinity(0, cores)
    return cores
