"""The PyTorch side of every workload: AlgoPerf's workload functions over a family's model module.

The object a submission receives holds the model code and the spec's public numbers, never data.
Parameters live in the `nn.Module` (AlgoPerf's PyTorch convention: `model_params` is the module,
`model_state` is None, batch-norm statistics are buffers).

Data parallelism (a trial launched by torchrun, process group joined by the backend): the model is
wrapped in `DistributedDataParallel`, so the backward pass of a submission's `update_params`
averages gradients over the ranks; every rank takes its contiguous shard of each global training
batch; evaluations split each eval batch over the ranks and gather the outputs, so every rank sees
the same metrics. Batch norm is synchronized over the ranks on GPUs (`SyncBatchNorm`, except the
speech families' masked batch norm); on the CPU, where PyTorch has no SyncBatchNorm, each rank
normalizes its own shard.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F

from workloads.data.batching import shard_batch
from workloads.initializers import init_canonical, parameter_types, seed_from_rng
from workloads.layers_pytorch import MaskedBatchNorm
from workloads.spec import ForwardPassMode, LossType, ShapeTuple, WorkloadSpec
from workloads.workload_base import WorkloadBase

_KERNEL_MODULES = (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d)
_NORM_MODULES = (torch.nn.modules.batchnorm._BatchNorm, torch.nn.LayerNorm, torch.nn.GroupNorm)
_BUFFER_NAMES = {"running_mean": "mean", "running_var": "var"}


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The model inside a DistributedDataParallel wrapper (or the model itself)."""
    return model.module if hasattr(model, "module") and isinstance(model.module, torch.nn.Module) else model


def data_parallel_rank() -> tuple[int, int]:
    """(rank, world size) of the data-parallel process group; (0, 1) without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _canonical_prefix(module_path: str) -> str:
    """'blocks.0.conv1' -> 'blocks_0/conv1' (flax names list members `blocks_0`)."""
    out: list[str] = []
    for part in module_path.split(".") if module_path else []:
        if part.isdigit() and out:
            out[-1] = f"{out[-1]}_{part}"
        else:
            out.append(part)
    return "/".join(out)


def _entries(model: torch.nn.Module):
    """(canonical name, torch name, tensor, module) for every parameter and running statistic."""
    model = unwrap(model)
    for module_path, module in model.named_modules():
        prefix = _canonical_prefix(module_path)
        tensors = list(module.named_parameters(recurse=False))
        tensors += [(n, b) for n, b in module.named_buffers(recurse=False) if n in _BUFFER_NAMES]
        for name, tensor in tensors:
            leaf = name
            if leaf == "weight" and isinstance(module, _KERNEL_MODULES):
                leaf = "kernel"
            elif leaf == "weight" and isinstance(module, _NORM_MODULES):
                leaf = "scale"
            elif leaf == "weight" and isinstance(module, torch.nn.Embedding):
                leaf = "embedding"
            torch_name = f"{module_path}.{name}" if module_path else name
            leaf = _BUFFER_NAMES.get(leaf, leaf)
            yield (f"{prefix}/{leaf}" if prefix else leaf), torch_name, tensor, module


def _to_canonical_layout(array: np.ndarray, module: torch.nn.Module, leaf: str) -> np.ndarray:
    if leaf == "kernel" and isinstance(module, torch.nn.Linear):
        return array.T
    if leaf == "kernel":  # (out, in, *spatial) -> (*spatial, in, out)
        return np.transpose(array, (*range(2, array.ndim), 1, 0))
    return array


def _from_canonical_layout(array: np.ndarray, module: torch.nn.Module, leaf: str) -> np.ndarray:
    if leaf == "kernel" and isinstance(module, torch.nn.Linear):
        return array.T
    if leaf == "kernel":  # (*spatial, in, out) -> (out, in, *spatial)
        n = array.ndim
        return np.transpose(array, (n - 1, n - 2, *range(n - 2)))
    return array


def to_canonical(model: torch.nn.Module) -> dict[str, np.ndarray]:
    """All parameters and batch-norm statistics as canonical NumPy arrays (flax names and layout)."""
    return {
        name: np.ascontiguousarray(
            _to_canonical_layout(t.detach().cpu().numpy(), m, name.rsplit("/", 1)[-1])
        )
        for name, _, t, m in _entries(model)
    }


def load_canonical(model: torch.nn.Module, values: dict[str, np.ndarray]) -> None:
    """Copy canonical arrays into the model in place; names and shapes must match exactly."""
    entries = list(_entries(model))
    names = {name for name, _, _, _ in entries}
    if names != set(values):
        raise ValueError(
            f"parameter names differ: missing {sorted(names - set(values))}, "
            f"unexpected {sorted(set(values) - names)}"
        )
    with torch.no_grad():
        for name, _, tensor, module in entries:
            array = _from_canonical_layout(values[name], module, name.rsplit("/", 1)[-1])
            if tuple(array.shape) != tuple(tensor.shape):
                raise ValueError(f"{name}: shape {array.shape} does not fit {tuple(tensor.shape)}")
            tensor.copy_(torch.from_numpy(np.ascontiguousarray(array)))


def _ctc_loss(labels: torch.Tensor, logits: torch.Tensor, mask: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """CTC over every output frame (the models make frames past an utterance's end certain blanks,
    so no lengths are needed): labels (batch, max chars) with 0 as padding, logits (batch, frames,
    classes) with the blank at 0. `summed` is the loss of the (masked) utterances and
    `n_valid_examples` their characters: the mean is per character, as AlgoPerf's LibriSpeech."""
    labels = labels.long()
    label_lengths = (labels > 0).sum(dim=1)
    log_probs = logits.float().log_softmax(dim=-1).transpose(0, 1)  # (frames, batch, classes)
    frames = torch.full((len(labels),), log_probs.shape[0], dtype=torch.long, device=labels.device)
    per_example = F.ctc_loss(log_probs, labels, frames, label_lengths, blank=0, reduction="none")
    weights = torch.ones_like(per_example) if mask is None else mask.to(per_example.dtype)
    return {"summed": (per_example * weights).sum(),
            "n_valid_examples": (label_lengths.to(per_example.dtype) * weights).sum(),
            "per_example": per_example * weights}


def sync_batch_norm(module: torch.nn.Module) -> torch.nn.Module:
    """The module with every batch norm made a `SyncBatchNorm` (statistics over all ranks), except
    `MaskedBatchNorm`, whose masked statistics SyncBatchNorm cannot compute: it keeps each rank's."""
    if isinstance(module, MaskedBatchNorm):
        return module
    if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
        return torch.nn.SyncBatchNorm.convert_sync_batchnorm(module)
    for name, child in module.named_children():
        module.add_module(name, sync_batch_norm(child))
    return module


class PyTorchWorkload(WorkloadBase):
    """The workload contract (workloads/workload_base.py) in PyTorch. `model_params` is the
    `nn.Module`, `model_state` is None (batch-norm statistics are its buffers)."""

    framework = "pytorch"

    def __init__(self, spec: WorkloadSpec, device: torch.device | None = None):
        super().__init__(spec)
        if device is None:  # under DDP the backend has made this rank's GPU the current one
            cuda = torch.cuda.is_available()
            device = torch.device("cuda", torch.cuda.current_device()) if cuda else torch.device("cpu")
        self._device = device
        self._model_module = importlib.import_module(f"workloads.{spec.family}.model_pytorch")
        template = self._build_model()
        canonical = to_canonical(template)
        self._canonical_shapes = {n: v.shape for n, v in canonical.items()}
        params = {c: t for c, t, tensor, _ in _entries(template) if isinstance(tensor, torch.nn.Parameter)}
        state_names = set(canonical) - set(params)
        types = parameter_types({c: canonical[c].shape for c in params}, state_names)
        shapes = dict(template.named_parameters())
        self.param_shapes = {t: ShapeTuple(tuple(shapes[t].shape)) for t in params.values()}
        self.model_params_types = {t: types[c] for c, t in params.items()}

    # -- model ----------------------------------------------------------------------------------
    def _build_model(self) -> torch.nn.Module:
        return self._model_module.Model(**self._spec.model_config)

    def _place(self, model: torch.nn.Module) -> torch.nn.Module:
        """Move the model to the device; wrap it in DDP when the trial runs data-parallel."""
        model = model.to(self._device)
        if data_parallel_rank()[1] == 1:
            return model
        if self._device.type == "cuda":
            model = sync_batch_norm(model)
        device_ids = [self._device.index] if self._device.type == "cuda" else None
        return torch.nn.parallel.DistributedDataParallel(model, device_ids=device_ids)

    def init_model_fn(self, rng: Any, dropout_rate: float | None = None) -> tuple[torch.nn.Module, None]:
        model = self._build_model()
        seed = seed_from_rng(rng)
        load_canonical(model, init_canonical(self._canonical_shapes, seed, self._init_rule))
        return self._place(model), None

    def model_fn(
        self,
        params: torch.nn.Module,
        augmented_and_preprocessed_input_batch: dict[str, Any],
        model_state: Any,
        mode: ForwardPassMode,
        rng: Any,
        update_batch_norm: bool,
        dropout_rate: float | None = None,
    ) -> tuple[torch.Tensor, Any]:
        model = params
        model.train(mode == ForwardPassMode.TRAIN)
        momentum = 0.1 if update_batch_norm else 0.0
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.momentum = momentum
        inputs = self.model_inputs(augmented_and_preprocessed_input_batch)
        with torch.set_grad_enabled(mode == ForwardPassMode.TRAIN and torch.is_grad_enabled()):
            logits = model(inputs)
        return logits, model_state

    def loss_fn(
        self,
        label_batch: torch.Tensor,
        logits_batch: torch.Tensor,
        mask_batch: torch.Tensor | None = None,
        label_smoothing: float = 0.0,
    ) -> dict[str, torch.Tensor]:
        loss_type = self._spec.loss_type
        if loss_type == LossType.SOFTMAX_CROSS_ENTROPY:
            # classes on the last axis, as in JAX: logits (batch, [positions...,] classes)
            per_example = F.cross_entropy(logits_batch.movedim(-1, 1), label_batch.long(),
                                          reduction="none", label_smoothing=label_smoothing)
        elif loss_type == LossType.SIGMOID_CROSS_ENTROPY:
            targets = label_batch.to(logits_batch.dtype)
            targets = targets * (1.0 - label_smoothing) + 0.5 * label_smoothing
            per_example = F.binary_cross_entropy_with_logits(logits_batch, targets, reduction="none")
        elif loss_type in (LossType.MEAN_ABSOLUTE_ERROR, LossType.MEAN_SQUARED_ERROR):
            diff = logits_batch - label_batch.to(logits_batch.dtype)
            per_element = diff.abs() if loss_type == LossType.MEAN_ABSOLUTE_ERROR else diff * diff
            per_example = per_element.reshape(len(per_element), -1).mean(dim=1)
        elif loss_type == LossType.CTC_LOSS:
            return _ctc_loss(label_batch, logits_batch, mask_batch)
        else:
            raise NotImplementedError(f"loss {loss_type.name} is not implemented")
        if mask_batch is None:
            mask = torch.ones_like(per_example)
        else:
            mask = mask_batch.to(per_example.dtype)
            mask = mask.reshape(*mask.shape, *[1] * (per_example.ndim - mask.ndim)).expand_as(per_example)
        per_example = per_example * mask
        return {"summed": per_example.sum(), "n_valid_examples": mask.sum(), "per_example": per_example}

    # -- harness side (never called by a submission) -------------------------------------------
    def eval_outputs(self, params: torch.nn.Module, model_state: Any, batch: dict[str, np.ndarray]) -> np.ndarray:
        """In inference mode. Under DDP each rank computes its shard and the shards are gathered
        (a batch that does not split evenly is computed whole on every rank)."""
        rank, world = data_parallel_rank()
        batch = {k: batch[k] for k in self._spec.input_keys}
        split = world > 1 and len(next(iter(batch.values()))) % world == 0
        if split:
            batch = shard_batch(batch, world, rank)
        with torch.inference_mode():  # no autograd bookkeeping at all (cheaper than no_grad)
            batch = {k: torch.from_numpy(np.ascontiguousarray(v)).to(self._device) for k, v in batch.items()}
            # the bare model: a DDP forward would add collectives of its own
            model = unwrap(params)
            if hasattr(model, "predict"):
                logits = model.eval().predict(self.model_inputs(batch))
            else:
                logits, _ = self.model_fn(model, batch, model_state, ForwardPassMode.EVAL, None, False)
            if split:
                shards = [torch.empty_like(logits) for _ in range(world)]
                dist.all_gather(shards, logits.contiguous())
                logits = torch.cat(shards)
        return logits.float().cpu().numpy()

    def param_signature(self, params: torch.nn.Module) -> tuple:
        return tuple((name, tuple(p.shape)) for name, p in unwrap(params).named_parameters())

    def to_device(self, batch: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        """Under DDP, this rank's contiguous shard of the global batch."""
        rank, world = data_parallel_rank()
        if world > 1:
            size = len(next(iter(batch.values())))
            if size % world:
                raise ValueError(f"global batch size {size} does not split over {world} "
                                 f"data-parallel processes; use a multiple of {world}")
            batch = shard_batch(batch, world, rank)
        return {k: torch.from_numpy(np.ascontiguousarray(v)).to(self._device, non_blocking=True)
                for k, v in batch.items()}

    def to_canonical(self, params: torch.nn.Module, model_state: Any) -> dict[str, np.ndarray]:
        return to_canonical(params)

    def from_canonical(self, values: dict[str, np.ndarray]) -> tuple[torch.nn.Module, None]:
        model = self._build_model()
        load_canonical(model, values)
        return self._place(model), None

