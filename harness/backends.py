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
import re
from types import ModuleType
from typing import Mapping

FRAMEWORKS = ("pytorch", "jax")
_XLA_HOST_DEVICES = re.compile(r"--xla_force_host_platform_device_count=\S+")


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


def jax_host_devices(devices: int, cores: int) -> int:
    """The host (CPU) devices a JAX trial gets: one per core it runs on, or `devices` where its
    data parallelism asks for more. The workload's mesh splits every batch over them (the same
    arithmetic as one device: batch statistics and means are over the whole batch).

    One device per core, not one device on all cores, because XLA:CPU spreads a single device's
    program over a second core poorly: on the idle 2-core machine, JAX's step took 1.26x
    PyTorch's on `cnn`, 1.57x on `unet_wide` and 1.73x on `lm` with one device, and 0.92-1.29x with
    two (docs/workloads.md, benchmarks/step_time.py). Without a GPU, PyTorch gets the same cores as
    intra-op threads. On a GPU the flag changes nothing: the mesh holds the GPUs.
    """
    return max(devices, cores)


def with_jax_host_devices(environ: Mapping[str, str], count: int) -> dict[str, str]:
    """A copy of `environ` whose XLA_FLAGS give JAX `count` host devices (XLA reads the flag once,
    when JAX's CPU backend starts)."""
    env = dict(environ)
    flags = _XLA_HOST_DEVICES.sub("", env.get("XLA_FLAGS", "")).strip()
    env["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={count}".strip()
    return env


def use_jax_host_devices(cores: int) -> None:
    """Give this process's JAX one host device per core (`jax_host_devices`), before its CPU
    backend starts: for a trial run in this process (`algobench run`, the step-time benchmark)."""
    os.environ.update(with_jax_host_devices(os.environ, jax_host_devices(1, cores)))


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
