"""Framework backends, imported lazily so that a JAX run never imports torch and vice versa.

`FRAMEWORKS` is the one list of the frameworks algobench runs. A backend is a module,
`harness/<framework>_backend.py`, that provides the functions of `Backend` below.
"""

from __future__ import annotations

import importlib
import os
import re
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol

FRAMEWORKS = ("pytorch", "jax")


class Backend(Protocol):
    """What the harness needs of a framework; harness/pytorch_backend.py and jax_backend.py
    provide it as module functions."""

    def import_submission_libraries(self) -> None:
        """Import what the framework imports lazily on a submission's first calls, so that it is
        not charged to the submission; called where a submission runs, before its code."""

    def configure_threads(self, num_threads: int) -> None:
        """Size the framework's CPU thread pools to the `num_threads` cores this process runs on."""

    def make_workload(self, spec) -> Any:
        """The framework's workload object for a spec (workloads/workload_base.py's contract)."""

    def make_rng(self, seed: int) -> Any:
        """The framework's random key for `seed`: the same uint32 pair in both frameworks."""

    def sync(self, tree: Any = None) -> None:
        """Wait until the device has computed everything queued for `tree`, so that the clock
        charges queued work to whoever queued it."""

    def step_marker(self, params: Any) -> Any:
        """Something cheap queued behind the step that made `params` (no reduction over them),
        which `wait` waits for: the runner keeps at most two steps in flight without a full sync."""

    def wait(self, marker: Any) -> None:
        """Wait until the work queued before `marker` (a `step_marker`, or None: nothing) is done."""

    def all_finite(self, params: Any) -> bool:
        """Whether every parameter is finite (a NaN or inf ends the trial as diverged); read at
        every sync, not after every step (docs/performance.md#where-the-runner-waits-for-the-device)."""

    def rng_state(self) -> dict:
        """The framework's global random state, to save with a checkpoint."""

    def set_rng_state(self, state: dict) -> None:
        """Restore what `rng_state` returned."""

    def save_optimizer_state(self, state: Any, folder: Path) -> None:
        """Write a submission's optimizer state into a checkpoint folder."""

    def load_optimizer_state(self, template: Any, folder: Path) -> Any:
        """The saved optimizer state, restored into `template` (a fresh `init_optimizer_state`
        result, which supplies what cannot be saved, such as functions)."""

    def device_info(self) -> dict:
        """`num_devices` and `accelerator` of this process, for meta.json."""

    def init_distributed(self) -> tuple[int, int]:
        """(rank, world size) of a data-parallel trial, joining its process group; (0, 1) alone."""

    def shutdown_distributed(self) -> None:
        """Leave the process group `init_distributed` joined, if any."""

    def time_fn(self) -> Callable[[], float]:
        """The clock of a trial, the one every process of a data-parallel trial agrees on."""
_XLA_HOST_DEVICES = re.compile(r"--xla_force_host_platform_device_count=\S+")


def load_backend(framework: str) -> Backend:
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
    program over a second core poorly (the step times side by side: docs/workloads.md,
    benchmarks/step_time.py). Without a GPU, PyTorch gets the same cores as intra-op threads. On
    a GPU the flag changes nothing: the mesh holds the GPUs.
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
