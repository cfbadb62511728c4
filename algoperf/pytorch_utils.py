"""AlgoPerf's `pytorch_utils.pytorch_setup()`, consistent with algobench's data parallelism.

AlgoPerf decides "DDP or not" from torchrun's `LOCAL_RANK`; algobench wraps the model in
DistributedDataParallel only when a trial has more than one process (`WORLD_SIZE > 1`, the process
group joined by harness/pytorch_backend.py). `pytorch_setup()` answers from the same variable, so
a submission that all-reduces its loss under DDP does so exactly when the harness runs DDP.
"""

from __future__ import annotations

import os


def pytorch_setup():
    """(use_pytorch_ddp, local rank, this process's torch.device, number of visible GPUs)."""
    import torch

    use_ddp = int(os.environ.get("WORLD_SIZE", 1)) > 1
    rank = int(os.environ.get("LOCAL_RANK", 0)) if use_ddp else 0
    device = torch.device(f"cuda:{rank}" if torch.cuda.is_available() else "cpu")
    return use_ddp, rank, device, torch.cuda.device_count()


def sync_ddp_time(time: float, device) -> float:
    """The largest of `time` over the data-parallel processes (the value itself without DDP)."""
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return time
    value = torch.tensor(time, dtype=torch.float64, device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return value.item()


def update_batch_norm_fn(module, update_batch_norm: bool) -> None:
    """Freeze (momentum 0) or restore the running-statistics update of one batch-norm module,
    as AlgoPerf's helper does; apply it with `model.apply(functools.partial(...))`."""
    import torch

    if not isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
        return
    if not update_batch_norm:
        if not hasattr(module, "momentum_backup"):
            module.momentum_backup = module.momentum
        module.momentum = 0.0
    elif hasattr(module, "momentum_backup"):
        module.momentum = module.momentum_backup
