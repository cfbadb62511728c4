"""The JAX side of every workload: AlgoPerf's workload functions over a family's flax module.

`model_params` is a nested dict of arrays (flax's `params` collection) and `model_state` holds the
other collections (`{'batch_stats': ...}` for batch norm, `{}` otherwise). Arrays are placed on a
one-axis device mesh named `batch`: parameters replicated, input batches split along their first
axis, so a submission's `jax.jit` runs data-parallel on every local device without changes.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from workloads.initializers import init_canonical, parameter_types, seed_from_rng
from workloads.spec import ForwardPassMode, LossType, ShapeTuple, WorkloadSpec
from workloads.workload_base import WorkloadBase, example_batch


def flatten(tree: dict, prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': x}} -> {'a/b': x}."""
    out = {}
    for key, value in tree.items():
        name = f"{prefix}/{key}" if prefix else str(key)
        if isinstance(value, dict) or hasattr(value, "items"):
            out.update(flatten(dict(value), name))
        else:
            out[name] = value
    return out


def unflatten(flat: dict[str, Any]) -> dict:
    """{'a/b': x} -> {'a': {'b': x}}."""
    tree: dict = {}
    for name, value in flat.items():
        node = tree
        *parents, leaf = name.split("/")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return tree


def _ctc_loss(labels: jax.Array, logits: jax.Array, mask: jax.Array | None) -> dict[str, jax.Array]:
    """CTC over every output frame (the models make frames past an utterance's end certain blanks,
    so no lengths are needed): labels (batch, max chars) with 0 as padding, logits (batch, frames,
    classes) with the blank at 0. `summed` is the loss of the (masked) utterances and
    `n_valid_examples` their characters: the mean is per character, as AlgoPerf's LibriSpeech."""
    label_paddings = (labels == 0).astype(jnp.float32)
    logit_paddings = jnp.zeros(logits.shape[:2], jnp.float32)
    per_example = optax.ctc_loss(logits.astype(jnp.float32), logit_paddings, labels, label_paddings,
                                 blank_id=0)
    weights = jnp.ones_like(per_example) if mask is None else mask.astype(per_example.dtype)
    label_lengths = (1.0 - label_paddings).sum(axis=1)
    return {"summed": (per_example * weights).sum(), "n_valid_examples": (label_lengths * weights).sum(),
            "per_example": per_example * weights}


class JaxWorkload(WorkloadBase):
    """The workload contract (workloads/workload_base.py) in JAX: params and model_state are
    nested dicts (flax's variables), every batch is sharded over the device mesh."""

    framework = "jax"

    def __init__(self, spec: WorkloadSpec, devices: list | None = None,
                 wrap_eval: Callable[[Callable], Callable] | None = None):
        """`wrap_eval`, where given, wraps the jitted eval forward (the harness's on-disk cache
        of its executable, workloads/jax_executable_cache.py)."""
        super().__init__(spec)
        self.mesh = Mesh(np.array(devices or jax.devices()), ("batch",))
        self.replicated = NamedSharding(self.mesh, PartitionSpec())
        self.batch_sharded = NamedSharding(self.mesh, PartitionSpec("batch"))
        model_module = importlib.import_module(f"workloads.{spec.family}.model_jax")
        self._model = model_module.Model(**spec.model_config)
        dummy = jax.tree.map(jnp.asarray, self.model_inputs(example_batch(spec, 1)))
        shapes = jax.eval_shape(lambda: self._model.init(jax.random.PRNGKey(0), dummy, train=False))
        shapes = {k: v for k, v in shapes.items()}
        param_shapes = {n: tuple(v.shape) for n, v in flatten(shapes.pop("params")).items()}
        state_shapes = {
            f"{collection}/{n}": tuple(v.shape)
            for collection, tree in shapes.items()
            for n, v in flatten(tree).items()
        }
        self._canonical_shapes = {**param_shapes, **{self._state_name(n): s for n, s in state_shapes.items()}}
        types = parameter_types(param_shapes, {self._state_name(n) for n in state_shapes})
        self.param_shapes = unflatten({n: ShapeTuple(s) for n, s in param_shapes.items()})
        self.model_params_types = unflatten(types)
        # eval outputs: the forward in eval mode, or the Model's `predict` where it has one
        # (sequence models that decode at eval), called as apply(..., method="predict")
        eval_kwargs = {"method": "predict"} if hasattr(self._model, "predict") else {"train": False}
        self._eval_forward = jax.jit(
            lambda params, state, x: self._model.apply({"params": params, **state}, x, **eval_kwargs)
        )
        if wrap_eval is not None:
            self._eval_forward = wrap_eval(self._eval_forward)

    @staticmethod
    def _state_name(collection_path: str) -> str:
        """'batch_stats/bn/mean' -> canonical 'bn/mean' (state names never clash with params)."""
        return collection_path.split("/", 1)[1]

    # -- model ----------------------------------------------------------------------------------
    def init_model_fn(self, rng: Any, dropout_rate: float | None = None) -> tuple[dict, dict]:
        values = init_canonical(self._canonical_shapes, seed_from_rng(rng), self._init_rule)
        return self.from_canonical(values)

    def model_fn(
        self,
        params: dict,
        augmented_and_preprocessed_input_batch: dict[str, Any],
        model_state: dict,
        mode: ForwardPassMode,
        rng: Any,
        update_batch_norm: bool,
        dropout_rate: float | None = None,
    ) -> tuple[jax.Array, dict]:
        """Jit-able; the running averages come back in the returned state."""
        variables = {"params": params, **model_state}
        inputs = self.model_inputs(augmented_and_preprocessed_input_batch)
        if mode == ForwardPassMode.EVAL:
            return self._model.apply(variables, inputs, train=False), model_state
        rngs = {"dropout": rng} if rng is not None else {}
        if not model_state:
            return self._model.apply(variables, inputs, train=True, rngs=rngs), model_state
        logits, new_state = self._model.apply(
            variables, inputs, train=True, rngs=rngs, mutable=list(model_state)
        )
        return logits, (dict(new_state) if update_batch_norm else model_state)

    def loss_fn(
        self,
        label_batch: jax.Array,
        logits_batch: jax.Array,
        mask_batch: jax.Array | None = None,
        label_smoothing: float = 0.0,
    ) -> dict[str, jax.Array]:
        loss_type = self._spec.loss_type
        if loss_type == LossType.SOFTMAX_CROSS_ENTROPY:
            one_hot = jax.nn.one_hot(label_batch, logits_batch.shape[-1])
            # no Python branch on label_smoothing: a submission may pass it traced, under jit
            # (smoothing by 0 leaves the one-hot labels exactly as they are)
            smoothed = optax.smooth_labels(one_hot, label_smoothing)
            per_example = optax.softmax_cross_entropy(logits_batch, smoothed)
        elif loss_type == LossType.SIGMOID_CROSS_ENTROPY:
            targets = label_batch.astype(logits_batch.dtype)
            targets = targets * (1.0 - label_smoothing) + 0.5 * label_smoothing
            per_example = optax.sigmoid_binary_cross_entropy(logits_batch, targets)
        elif loss_type in (LossType.MEAN_ABSOLUTE_ERROR, LossType.MEAN_SQUARED_ERROR):
            diff = logits_batch - label_batch.astype(logits_batch.dtype)
            per_element = jnp.abs(diff) if loss_type == LossType.MEAN_ABSOLUTE_ERROR else diff * diff
            per_example = per_element.reshape(per_element.shape[0], -1).mean(axis=1)
        elif loss_type == LossType.CTC_LOSS:
            return _ctc_loss(label_batch, logits_batch, mask_batch)
        else:
            raise NotImplementedError(f"loss {loss_type.name} is not implemented")
        if mask_batch is None:
            mask = jnp.ones_like(per_example)
        else:
            mask = mask_batch.astype(per_example.dtype)
            mask = jnp.broadcast_to(mask.reshape(*mask.shape, *[1] * (per_example.ndim - mask.ndim)),
                                    per_example.shape)
        per_example = per_example * mask
        return {"summed": per_example.sum(), "n_valid_examples": mask.sum(), "per_example": per_example}

    # -- harness side (never called by a submission) -------------------------------------------
    def eval_outputs(self, params: dict, model_state: dict, batch: dict[str, np.ndarray]) -> np.ndarray:
        """`predict` as `apply(..., method="predict")`, e.g. greedy decoding."""
        inputs = self.model_inputs(self.to_device({k: batch[k] for k in self._spec.input_keys}))
        return np.asarray(self._eval_forward(params, model_state, inputs))

    def param_signature(self, params: dict) -> tuple:
        return tuple(sorted((name, tuple(v.shape)) for name, v in flatten(params).items()))

    def batch_shardings(self, batch: dict[str, np.ndarray]) -> dict[str, NamedSharding]:
        """Where each array of a batch goes: split over the mesh's batch axis, or replicated
        where its length does not divide."""
        return {k: self.batch_sharded if len(v) % self.mesh.size == 0 else self.replicated
                for k, v in batch.items()}

    def to_device(self, batch: dict[str, np.ndarray]) -> dict[str, jax.Array]:
        """The batch placed by `batch_shardings`, in one `jax.device_put` for the whole batch: one
        call per array cost up to 1.4x as much on the CPU (benchmarks/batch_transfer.py)."""
        return jax.device_put(batch, self.batch_shardings(batch))

    def to_canonical(self, params: dict, model_state: dict) -> dict[str, np.ndarray]:
        out = {n: np.asarray(v) for n, v in flatten(params).items()}
        for collection in model_state:
            out.update({n: np.asarray(v) for n, v in flatten(model_state[collection]).items()})
        return out

    def from_canonical(self, values: dict[str, np.ndarray]) -> tuple[dict, dict]:
        if set(values) != set(self._canonical_shapes):
            raise ValueError(
                f"parameter names differ: missing {sorted(set(self._canonical_shapes) - set(values))}, "
                f"unexpected {sorted(set(values) - set(self._canonical_shapes))}"
            )
        for name, shape in self._canonical_shapes.items():
            if tuple(values[name].shape) != tuple(shape):
                raise ValueError(f"{name}: shape {values[name].shape} does not fit {shape}")
        put = lambda v: jax.device_put(jnp.asarray(v, jnp.float32), self.replicated)  # noqa: E731
        state_leaves = {n for n in self._canonical_shapes if n.rsplit("/", 1)[-1] in ("mean", "var")}
        params = unflatten({n: put(v) for n, v in values.items() if n not in state_leaves})
        state_flat = {n: put(v) for n, v in values.items() if n in state_leaves}
        model_state = {"batch_stats": unflatten(state_flat)} if state_flat else {}
        return params, model_state
