"""PyTorch backend: device sync, rngs, divergence check, optimizer-state checkpoints, and the
process group of a data-parallel trial launched by torchrun (DDP itself: workloads/pytorch_workload.py)."""

from __future__ import annotations

import collections
import math
import os
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.distributed as dist

from harness import clock
from workloads.pytorch_workload import PyTorchWorkload, unwrap
from workloads.spec import WorkloadSpec

OPTIMIZER_FILE = "optimizer_state.pt"


def import_submission_libraries() -> None:
    """torch.optim imports torch._dynamo on an optimizer's first use, which costs ~2 s here: a
    library import, the same for every submission, not the algorithm's work. Imported where a
    submission runs, before its code and off the clock (harness/submission_side.py); the
    harness's own process, which never builds an optimizer, does without it (stop 48: 2-3 s of
    every PyTorch trial's start)."""
    import torch._dynamo  # noqa: F401


def configure_threads(num_threads: int) -> None:
    torch.set_num_threads(num_threads)


def make_workload(spec: WorkloadSpec) -> PyTorchWorkload:
    return PyTorchWorkload(spec)


def make_rng(seed: int) -> np.ndarray:
    """The same uint32 pair that `jax.random.PRNGKey(seed)` holds."""
    return np.array([seed >> 32, seed & 0xFFFFFFFF], dtype=np.uint32)


def sync(tree: Any = None) -> None:
    """Wait until queued device work is done (a no-op on the CPU, where PyTorch is synchronous)."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def step_marker(params: torch.nn.Module) -> torch.cuda.Event | None:
    """A CUDA event recorded behind the step that made `params`; None on the CPU, where PyTorch
    runs a step before it returns."""
    if not torch.cuda.is_available():
        return None
    event = torch.cuda.Event()
    event.record()
    return event


def wait(marker: torch.cuda.Event | None) -> None:
    if marker is not None:
        marker.synchronize()


def all_finite(params: torch.nn.Module) -> bool:
    """Whether every parameter is finite: the largest absolute value over all parameters
    (`get_total_norm` with the infinity norm: one `_foreach_norm` call, a fused kernel on a GPU, a
    C++ loop on the CPU) is finite exactly when every element is (NaN propagates through max, and
    max never overflows). A check per parameter from Python cost two ops (and a full-size
    temporary) per parameter."""
    with torch.no_grad():
        largest = torch.nn.utils.get_total_norm(list(unwrap(params).parameters()), norm_type=math.inf,
                                                 foreach=True)
        return bool(torch.isfinite(largest))


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


FROM_INIT = "__from_init__"  # a leaf that is not saved: it comes from a fresh init_optimizer_state
_PLAIN = (int, float, bool, str, bytes, type(None), np.ndarray, np.generic, torch.Tensor)


def _pack(value: Any) -> Any:
    """Optimizer state to what is saved: tensors, plain data, and objects with `state_dict`
    (optimizers, schedulers) as their state dicts, in dicts and lists; every other leaf (a
    function, a module, an object of the submission's) as FROM_INIT, rebuilt from the template
    at load, as the JAX backend does. Tuples (namedtuples included) and deques are saved as
    lists and rebuilt with the template's type."""
    if hasattr(value, "state_dict") and callable(value.state_dict) and not isinstance(value, torch.nn.Module):
        return {"__state_dict__": value.state_dict()}
    if isinstance(value, dict):
        return {k: _pack(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, collections.deque)):
        return [_pack(v) for v in value]
    return value if isinstance(value, _PLAIN) else FROM_INIT


def _unpack(template: Any, saved: Any) -> Any:
    """Restore into a fresh `init_optimizer_state` result: load state dicts, take saved leaves,
    keep the template's leaves that were not saved, and rebuild its containers' types."""
    if isinstance(saved, str) and saved == FROM_INIT:
        return template
    if isinstance(saved, dict) and "__state_dict__" in saved:
        template.load_state_dict(saved["__state_dict__"])
        return template
    if isinstance(template, dict):
        return {k: _unpack(template[k], saved[k]) if k in template else saved[k] for k in saved}
    if isinstance(template, (list, tuple, collections.deque)):
        if len(template) == len(saved):
            items = [_unpack(t, s) for t, s in zip(template, saved)]
        elif isinstance(template, tuple):
            raise ValueError("optimizer state has a different structure than init_optimizer_state's")
        else:  # a list or deque that grew since init (recent batches): its saved items as they are
            items = saved
        if hasattr(template, "_fields"):  # a namedtuple takes its fields as arguments
            return type(template)(*items)
        if isinstance(template, collections.deque):
            return collections.deque(items, maxlen=template.maxlen)
        return type(template)(items)
    if isinstance(template, torch.nn.Module):
        return template
    return saved


def save_optimizer_state(state: Any, folder: Path) -> None:
    torch.save({"optimizer_state": _pack(state), "rng": rng_state()}, folder / OPTIMIZER_FILE)


def load_optimizer_state(template: Any, folder: Path) -> Any:
    saved = torch.load(folder / OPTIMIZER_FILE, weights_only=False)
    set_rng_state(saved["rng"])
    return _unpack(template, saved["optimizer_state"])


def device_info() -> dict:
    world = dist.get_world_size() if dist.is_initialized() else 1
    if torch.cuda.is_available():
        return {"accelerator": torch.cuda.get_device_name(), "num_devices": world}
    return {"accelerator": None, "num_devices": world}


# -- data parallelism (torchrun + DDP) ---------------------------------------------------------
_clock_group = None
# A harness rank waits in a collective for its peers while their submission processes run a
# timed call, which may take the trial's budget and a grace: each such wait is bounded by a
# submission process's deadline (harness/submission_process.py), not by the group's timeout.
GROUP_TIMEOUT = timedelta(hours=24)
END_BARRIER_TIMEOUT = timedelta(seconds=60)


def init_distributed(store: str | None = None, rank: int = 0, world: int = 1,
                     local_rank: int = 0) -> tuple[int, int]:
    """(rank, world size). Under torchrun (WORLD_SIZE > 1) join the process group from the
    environment torchrun sets: NCCL on GPUs (one per local rank), gloo on the CPU. With `store`
    (a data-parallel submission process, harness/data_parallel_process.py): join the submission
    processes' own group as `rank` of `world`, its rendezvous a FileStore at that path (no port)."""
    global _clock_group
    if store is None and int(os.environ.get("WORLD_SIZE", 1)) <= 1:
        return 0, 1
    if not dist.is_initialized():
        cuda = torch.cuda.is_available()
        if cuda:
            torch.cuda.set_device(local_rank if store else int(os.environ.get("LOCAL_RANK", 0)))
        backend = "nccl" if cuda else "gloo"
        if store is not None:
            dist.init_process_group(backend, init_method=f"file://{store}", rank=rank,
                                    world_size=world, timeout=GROUP_TIMEOUT)
        else:
            dist.init_process_group(backend, timeout=GROUP_TIMEOUT)
            # The clock is a CPU float: keep it off NCCL (which wants CUDA tensors) in a gloo group.
            _clock_group = dist.new_group(backend="gloo", timeout=GROUP_TIMEOUT) if cuda else None
    return dist.get_rank(), dist.get_world_size()


def shutdown_distributed() -> None:
    global _clock_group
    if dist.is_initialized():
        dist.destroy_process_group()
    _clock_group = None


def broadcast_object(value: Any) -> Any:
    """Rank 0's `value` on every harness rank (pickled between trusted harness processes only,
    over the gloo group)."""
    box = [value]
    dist.broadcast_object_list(box, src=0, group=_clock_group)
    return box[0]


def agree(failed: bool, finite: bool, complete: bool) -> tuple[bool, bool, bool]:
    """(whether any rank failed, whether every rank's parameters are finite, whether any rank's
    submission said training is complete): one all_reduce over the harness ranks' gloo group."""
    flags = torch.tensor([-float(failed), float(finite), -float(complete)], dtype=torch.float64)
    dist.all_reduce(flags, op=dist.ReduceOp.MIN, group=_clock_group)
    return bool(flags[0] < 0), bool(flags[1] > 0), bool(flags[2] < 0)


def end_barrier() -> None:
    """Wait (at most END_BARRIER_TIMEOUT) until every harness rank reaches the trial's end, so
    that a rank failing first cannot make torchrun stop rank 0 before it wrote meta.json. A rank
    that does not arrive has failed: its failure is in meta.json or its own exit status."""
    if dist.is_initialized() and dist.get_world_size() > 1:
        try:
            dist.monitored_barrier(group=_clock_group, timeout=END_BARRIER_TIMEOUT)
        except RuntimeError:
            pass


class Rank0Clock:
    """`time.perf_counter` of rank 0, broadcast to every rank at each reading.

    The runner decides from its clock when to evaluate and when the budget is spent; each rank
    reading its own clock could decide differently and deadlock the next collective. Every rank
    reads this clock at the same points of the (identical) control flow, so all ledgers, and every
    decision made from them, equal rank 0's. Hand-written: torch.distributed has no shared clock.
    """

    def __init__(self, group=None):
        self._group = group
        self._buffer = torch.zeros(1, dtype=torch.float64)

    def __call__(self) -> float:
        if dist.get_rank() == 0:
            self._buffer[0] = clock.perf_counter()
        dist.broadcast(self._buffer, src=0, group=self._group)
        return float(self._buffer[0])


def time_fn() -> Callable[[], float]:
    """The clock of a trial: rank 0's under DDP, the process's own otherwise."""
    if dist.is_initialized() and dist.get_world_size() > 1:
        return Rank0Clock(_clock_group)
    return clock.perf_counter
