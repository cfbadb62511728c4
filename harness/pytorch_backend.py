"""PyTorch backend: device sync, rngs, divergence check and optimizer-state checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from workloads.pytorch_workload import PyTorchWorkload, unwrap
from workloads.spec import WorkloadSpec

OPTIMIZER_FILE = "optimizer_state.pt"


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


def all_finite(params: torch.nn.Module) -> bool:
    with torch.no_grad():
        flags = [torch.isfinite(p).all() for p in unwrap(params).parameters()]
        return bool(torch.stack(flags).all())


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _pack(value: Any) -> Any:
    """Optimizer state to plain data: objects with `state_dict` (optimizers, schedulers) as theirs."""
    if hasattr(value, "state_dict") and callable(value.state_dict) and not isinstance(value, torch.nn.Module):
        return {"__state_dict__": value.state_dict()}
    if isinstance(value, dict):
        return {k: _pack(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_pack(v) for v in value)
    return value


def _unpack(template: Any, saved: Any) -> Any:
    """Restore into a fresh `init_optimizer_state` result: load state dicts, take saved leaves."""
    if isinstance(saved, dict) and "__state_dict__" in saved:
        template.load_state_dict(saved["__state_dict__"])
        return template
    if isinstance(template, dict):
        return {k: _unpack(template[k], saved[k]) if k in template else saved[k] for k in saved}
    if isinstance(template, (list, tuple)):
        return type(template)(_unpack(t, s) for t, s in zip(template, saved))
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
    if torch.cuda.is_available():
        return {"accelerator": torch.cuda.get_device_name(0), "num_devices": 1}
    return {"accelerator": None, "num_devices": 1}
