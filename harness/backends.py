"""Framework backends, imported lazily so that a JAX run never imports torch and vice versa.

A backend module provides: `make_workload(spec)`, `make_rng(seed)`, `sync(tree)`,
`all_finite(params)`, `save_optimizer_state(state, folder)`, `load_optimizer_state(template,
folder)`, `rng_state()` / `set_rng_state(state)` and `configure_threads(n)`.
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


def pin_cores(num_threads: int | None) -> list[int]:
    """Restrict this process to `num_threads` of the cores it may use (all when None).

    Both frameworks size their thread pools from the process's CPU affinity, so pinning gives
    PyTorch and JAX the same cores. Returns the cores kept.
    """
    cores = sorted(os.sched_getaffinity(0))
    if num_threads is not None:
        if not 1 <= num_threads <= len(cores):
            raise ValueError(f"--threads must be between 1 and {len(cores)}, got {num_threads}")
        cores = cores[:num_threads]
        os.sched_setaffinity(0, cores)
    return cores
