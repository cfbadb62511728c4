"""AlgoPerf's `param_utils`: parameter shapes and types of a model, for submissions that compute
them themselves (most read `workload.param_shapes` and `workload.model_params_types` instead,
which algobench's workloads provide from their explicit initialization rules).

The types here are read off parameter names and shapes, as AlgoPerf's helpers do: a bias of a
norm layer is a norm bias, other biases are biases, embeddings by name, norm scales by name
(batch norm where the name says `bn` or `batch`), kernels of three or more axes convolution
weights, the rest weights.
"""

from __future__ import annotations

from typing import Any

from harness.spec import ParameterType, ShapeTuple

_NORM_WORDS = ("norm", "bn", "ln")


def _is_batch_norm(name: str) -> bool:
    return "bn" in name or "batch" in name


def param_type(name: str, shape: tuple[int, ...]) -> ParameterType:
    """The ParameterType of one parameter from its (lower-cased, path-joined) name and shape."""
    name = name.lower()
    leaf = name.replace(".", "/").rsplit("/", 1)[-1]
    in_norm = any(word in name for word in _NORM_WORDS)
    if leaf == "bias":
        if in_norm:
            return ParameterType.BATCH_NORM_BIAS if _is_batch_norm(name) else ParameterType.LAYER_NORM_BIAS
        return ParameterType.BIAS
    if "embedding" in name:
        return ParameterType.EMBEDDING
    if leaf == "scale" or (in_norm and len(shape) == 1):
        return ParameterType.BATCH_NORM_SCALE if _is_batch_norm(name) else ParameterType.LAYER_NORM_SCALE
    if len(shape) >= 3:
        return ParameterType.CONV_WEIGHT
    return ParameterType.WEIGHT


def pytorch_param_shapes(model) -> dict[str, ShapeTuple]:
    return {name: ShapeTuple(tuple(p.shape)) for name, p in model.named_parameters()}


def pytorch_param_types(param_shapes: dict[str, ShapeTuple]) -> dict[str, ParameterType]:
    return {name: param_type(name, shape.shape_tuple) for name, shape in param_shapes.items()}


def jax_param_shapes(params: Any) -> Any:
    import jax

    return jax.tree.map(lambda x: ShapeTuple(tuple(x.shape)), params)


def jax_param_types(param_shapes: Any, parent: str = "") -> Any:
    """The same tree as `param_shapes`, each ShapeTuple replaced by its ParameterType."""
    return {key: (param_type(f"{parent}/{key}", value.shape_tuple) if isinstance(value, ShapeTuple)
                  else jax_param_types(value, f"{parent}/{key}"))
            for key, value in param_shapes.items()}
