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
from harness.calibration import host_id
from workloads.data.cache import cache_dir
from workloads.jax_executable_cache import CachedJit
from workloads.jax_workload import JaxWorkload
from workloads.spec import WorkloadSpec

OPTIMIZER_FILE = "optimizer_state.npz"


def import_submission_libraries() -> None:
    """What a submission's first calls would import on the clock (harness/pytorch_backend.py's):
    nothing in JAX."""


def configure_threads(num_threads: int) -> None:
    """XLA sizes its CPU thread pool from the process's affinity (set by `backends.pin_cores`)."""


EXECUTABLE_CACHE = "jax_executables"  # under the data cache (workloads/data/cache.py), hidden from a sandbox


def make_workload(spec: WorkloadSpec) -> JaxWorkload:
    """The workload, its eval forward compiled once per host into the data cache and loaded from
    there by later trials (the harness's function only; a submission's compilations are its own)."""
    directory = cache_dir() / EXECUTABLE_CACHE
    return JaxWorkload(spec, wrap_eval=lambda jitted: CachedJit(jitted, directory, host_id()))


def make_rng(seed: int) -> jax.Array:
    """The uint32 pair `jax.random.PRNGKey(seed)` holds, built on the host: PRNGKey dispatches
    several device ops, and a trial makes two keys a step on the clock."""
    return jnp.asarray(np.array([seed >> 32, seed & 0xFFFFFFFF], dtype=np.uint32))


def sync(tree: Any = None) -> None:
    """Block until every array in `tree` is computed."""
    jax.block_until_ready(tree)


@jax.jit
def _first_element(leaf: jax.Array) -> jax.Array:
    return jnp.ravel(leaf)[:1]


def step_marker(params: Any) -> jax.Array | None:
    """One element of the first parameter, copied by a computation queued behind the step that
    made `params`: a step's own arrays will not do, since a submission may donate them to its next
    step (AlgoPerf's pmapped baselines do), and then they can no longer be waited for."""
    leaves = jax.tree.leaves(params)
    return _first_element(leaves[0]) if leaves else None


def wait(marker: jax.Array | None) -> None:
    if marker is not None:
        marker.block_until_ready()


@jax.jit
def _all_finite(params: Any) -> jax.Array:
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(params)]))


def all_finite(params: Any) -> bool:
    """Whether every parameter is finite: one jitted reduction, read back to the host."""
    return bool(_all_finite(params))


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
