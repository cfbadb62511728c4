"""Framework-neutral parameter initialization, so both frameworks start from identical weights.

Parameters are named canonically: the flax path joined with '/' (`block_1/conv_2/kernel`), in
flax's layout (conv kernels HWIO, dense kernels (in, out)). Each framework module converts its own
parameters to and from this form; the values are drawn here, in NumPy, from the seed and the name.
We write this by hand because neither framework's initializers can give the other identical values.
"""

from __future__ import annotations

import zlib
from typing import Callable, Mapping

import numpy as np

from workloads.spec import ParameterType

# A rule maps (canonical name, shape, rng) to an array, or returns None to defer to the default.
InitRule = Callable[[str, tuple, np.random.Generator], "np.ndarray | None"]


def _fan_in(shape: tuple) -> int:
    return int(np.prod(shape[:-1])) if len(shape) > 1 else int(shape[0])


def truncated_normal(rng: np.random.Generator, shape: tuple, std: float) -> np.ndarray:
    """Normal(0, std) truncated to two standard deviations, rescaled to keep the std (as flax does)."""
    values = rng.standard_normal(shape)
    bad = np.abs(values) > 2.0
    while bad.any():
        values[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(values) > 2.0
    return values * (std / 0.87962566103423978)


def default_init(name: str, shape: tuple, rng: np.random.Generator) -> np.ndarray:
    """He (fan-in, truncated normal) for kernels, N(0, 1/sqrt(d)) for embeddings, 0/1 for the rest."""
    leaf = name.rsplit("/", 1)[-1]
    if leaf == "kernel":
        return truncated_normal(rng, shape, np.sqrt(2.0 / _fan_in(shape)))
    if leaf == "embedding":
        return rng.standard_normal(shape) / np.sqrt(shape[-1])
    if leaf in ("scale", "var"):
        return np.ones(shape)
    if leaf in ("bias", "mean"):
        return np.zeros(shape)
    raise ValueError(f"no default initializer for parameter {name!r}; give the family an init rule")


def init_canonical(
    shapes: Mapping[str, tuple], seed: int, rule: InitRule | None = None
) -> dict[str, np.ndarray]:
    """Draw every parameter (and state entry) from `seed` and its canonical name, as float32.

    Each entry has its own stream (seed, crc32(name)), so adding a layer changes no other layer.
    """
    out = {}
    for name, shape in shapes.items():
        rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
        value = rule(name, tuple(shape), rng) if rule else None
        if value is None:
            value = default_init(name, tuple(shape), rng)
        out[name] = np.asarray(value, dtype=np.float32).reshape(shape)
    return out


def parameter_types(
    param_shapes: Mapping[str, tuple], state_names: set[str]
) -> dict[str, ParameterType]:
    """AlgoPerf's type of every canonical parameter; a norm's kind is read from its neighbours
    (a batch norm keeps `mean` in the model state, a layer norm does not)."""
    types = {}
    for name, shape in param_shapes.items():
        prefix, _, leaf = name.rpartition("/")
        is_norm = f"{prefix}/scale" in param_shapes
        is_batch_norm = f"{prefix}/mean" in state_names
        if leaf == "kernel":
            kind = ParameterType.CONV_WEIGHT if len(shape) > 2 else ParameterType.WEIGHT
        elif leaf == "embedding":
            kind = ParameterType.EMBEDDING
        elif leaf == "scale":
            kind = ParameterType.BATCH_NORM_SCALE if is_batch_norm else ParameterType.LAYER_NORM_SCALE
        elif leaf == "bias" and is_norm:
            kind = ParameterType.BATCH_NORM_BIAS if is_batch_norm else ParameterType.LAYER_NORM_BIAS
        elif leaf == "bias" or leaf.startswith("bias_"):  # LSTM's bias_ih_l0 / bias_hh_l0 too
            kind = ParameterType.BIAS
        else:
            kind = ParameterType.WEIGHT
        types[name] = kind
    return types


def seed_from_rng(rng) -> int:
    """The integer seed behind an rng: a uint32 pair, as `jax.random.PRNGKey(seed)` holds it.

    The harness hands both frameworks the same pair for the same trial, so both initialize alike.
    """
    hi, lo = (int(x) for x in np.asarray(rng, dtype=np.uint32).reshape(-1)[-2:])
    return (hi << 32) | lo
