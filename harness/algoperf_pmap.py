"""AlgoPerf JAX files written for `jax.pmap`, run on algobench's mesh.

AlgoPerf's v0.5 JAX submissions replicate their state over a leading device axis
(`flax.jax_utils.replicate`) and `jax.pmap` their train step over batches shaped
(devices, per-device batch, ...). algobench's JAX workloads hand out unreplicated parameters on a
one-axis mesh instead. `PmapSubmission` translates at the boundary, inside the submission's
functions (so on the clock, as AlgoPerf's own replication is):
- `init_optimizer_state`, `update_params` and `prepare_for_eval` see the parameters and model
  state with a leading axis of `jax.local_device_count()` copies, and `update_params` the batch
  reshaped to (devices, batch / devices, ...);
- what they return goes back to the runner as the first copy, placed replicated on the
  workload's mesh (evaluation, checkpoints and guards see ordinary parameters); the replicated
  copy is kept, so the next step starts from it without copying again.
The global batch size must split evenly over the devices (AlgoPerf's requirement too). Batch-norm
statistics are each device's own unless the file averages them (AlgoPerf's models average them
inside the model with `axis_name`; ours do not).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from harness.algoperf_compat import accepts


def replicate(tree: Any) -> Any:
    """A leading axis of one copy per local device, each on its device (what pmap expects; the
    same as `flax.jax_utils.replicate`)."""
    devices = jax.local_devices()
    sharding = NamedSharding(Mesh(np.array(devices), ("devices",)), PartitionSpec("devices"))
    return jax.tree.map(lambda x: jax.device_put(jnp.stack([x] * len(devices)), sharding), tree)


def split_batch(batch: dict) -> dict:
    """(batch, ...) -> (devices, batch / devices, ...)."""
    n = jax.local_device_count()

    def split(x):
        if x.shape[0] % n:
            raise ValueError(f"global batch size {x.shape[0]} does not split over {n} devices; "
                             f"this jax.pmap submission needs a multiple of {n}")
        return jnp.reshape(x, (n, x.shape[0] // n, *x.shape[1:]))

    return jax.tree.map(split, batch)


class PmapSubmission:
    """A pmap submission as the runner calls it (see the module docstring); other attributes are
    the wrapped submission's."""

    def __init__(self, submission: Any):
        self._submission = submission
        self._replicated: dict[str, tuple[Any, Any]] = {}  # what -> (runner's value, replicated)

    def __getattr__(self, name: str) -> Any:
        if name == "prepare_for_eval" and hasattr(self._submission, "prepare_for_eval"):
            return self._prepare_for_eval
        return getattr(self._submission, name)

    def _replicate(self, what: str, value: Any) -> Any:
        cached = self._replicated.get(what)
        if cached is not None and cached[0] is value:
            return cached[1]
        return replicate(value)

    def _unreplicate(self, what: str, replicated: Any, workload: Any) -> Any:
        value = jax.tree.map(lambda x: jax.device_put(x[0], workload.replicated), replicated)
        self._replicated[what] = (value, replicated)
        return value

    def _call(self, fn, kwargs: dict) -> tuple[Any, Any, Any]:
        workload = kwargs["workload"]
        kwargs["current_param_container"] = self._replicate("params", kwargs["current_param_container"])
        kwargs["model_state"] = self._replicate("model_state", kwargs["model_state"])
        optimizer_state, params, model_state = fn(**kwargs)
        return (optimizer_state, self._unreplicate("params", params, workload),
                self._unreplicate("model_state", model_state, workload))

    def init_optimizer_state(self, workload, model_params, model_state, hyperparameters, rng):
        return self._submission.init_optimizer_state(
            workload=workload, model_params=replicate(model_params), model_state=replicate(model_state),
            hyperparameters=hyperparameters, rng=rng)

    def update_params(self, **kwargs):
        fn = self._submission.update_params
        if not accepts(fn, "train_state"):
            kwargs.pop("train_state", None)
        kwargs["batch"] = split_batch(kwargs["batch"])
        return self._call(fn, kwargs)

    def _prepare_for_eval(self, **kwargs):
        return self._call(self._submission.prepare_for_eval, kwargs)
