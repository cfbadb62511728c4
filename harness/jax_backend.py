"""JAX backend: device sync, rngs, divergence check and optimizer-state checkpoints.

Data parallelism needs nothing here: one process drives every local device through the one-axis
`batch` mesh of workloads/jax_workload.py (parameters replicated, batches split along that axis).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from harness import clock
from workloads.jax_workload import JaxWorkload
from workloads.spec import WorkloadSpec

OPTIMIZER_FILE = "optimizer_state.npz"


def configure_threads(num_threads: int) -> None:
    """XLA sizes its CPU thread pool from the process's affinity (set by `backends.pin_cores`)."""


def make_workload(spec: WorkloadSpec) -> JaxWorkload:
    return JaxWorkload(spec)


def make_rng(seed: int) -> jax.Array:
    return jax.random.PRNGKey(seed)


def sync(tree: Any = None) -> None:
    """Block until every array in `tree` is computed."""
    jax.block_until_ready(tree)


@jax.jit
def finite_flag(params: Any) -> jax.Array:
    """Whether every parameter is finite, as one jitted reduction whose flag stays on the device
    (dispatched behind the step that made `params`; `bool()` reads it back)."""
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(params)]))


def all_finite(params: Any) -> bool:
    """`finite_flag`, read back to the host."""
    return bool(finite_flag(params))


def rng_state() -> dict:
    return {}


def set_rng_state(state: dict) -> None:
    pass


def _is_array(leaf: Any) -> bool:
    return isinstance(leaf, (jax.Array, np.ndarray, np.generic))


def save_optimizer_state(state: Any, folder: Path) -> None:
    """Every array leaf of the state by its position; other leaves (functions) come from re-init."""
    leaves = jax.tree.leaves(state)
    arrays = {f"leaf_{i}": np.asarray(x) for i, x in enumerate(leaves) if _is_array(x)}
    np.savez(folder / OPTIMIZER_FILE, num_leaves=len(leaves), **arrays)


def load_optimizer_state(template: Any, folder: Path) -> Any:
    leaves, treedef = jax.tree.flatten(template)
    with np.load(folder / OPTIMIZER_FILE) as saved:
        if int(saved["num_leaves"]) != len(leaves):
            raise ValueError(f"{folder / OPTIMIZER_FILE}: optimizer state has a different structure")
        restored = []
        for i, leaf in enumerate(leaves):
            key = f"leaf_{i}"
            if key in saved.files:
                sharding = getattr(leaf, "sharding", None)
                value = jnp.asarray(saved[key])
                restored.append(jax.device_put(value, sharding) if sharding is not None else value)
            else:
                restored.append(leaf)
    return jax.tree.unflatten(treedef, restored)


def device_info() -> dict:
    devices = jax.devices()
    kind = devices[0].platform
    return {"accelerator": None if kind == "cpu" else devices[0].device_kind, "num_devices": len(devices)}


def init_distributed() -> tuple[int, int]:
    """(rank, number of processes): always one process, which drives all local devices."""
    return 0, 1


def shutdown_distributed() -> None:
    pass


def time_fn() -> Callable[[], float]:
    return clock.perf_counter
