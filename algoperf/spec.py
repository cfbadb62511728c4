"""AlgoPerf's `spec` module: the submission API's enums, types and aliases.

The enums and `TrainingCompleteError` are algobench's own (`harness.spec`), so a value a
submission gets from here is the one the harness compares with. The aliases are `Any`-like
annotations, as in AlgoPerf; `Workload` is the class of the workload object a submission receives.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterator, List, Tuple, Union

from harness.spec import (ForwardPassMode, LossType, ParameterType, ShapeTuple,  # noqa: F401
                          TrainingCompleteError)
from workloads.workload_base import WorkloadBase as Workload  # noqa: F401

Tensor = Any
Shape = Union[Tuple[int, ...], ShapeTuple]
ParameterShapeTree = Dict[str, Any]
ParameterKey = str
ParameterContainer = Any  # a nested dict of arrays (JAX) or the torch.nn.Module (PyTorch)
ParameterTypeTree = Dict[ParameterKey, Any]
RandomState = Any  # a JAX PRNG key; a uint32 pair of the same bits in PyTorch
OptimizerState = Union[Dict[str, Any], Tuple[Any, Any]]
Hyperparameters = Any  # harness.spec.Hyperparameters: attribute access, immutable
Timing = int
Steps = int
ModelAuxiliaryState = Any  # batch-norm statistics (JAX); None in PyTorch
ModelInitState = Tuple[ParameterContainer, ModelAuxiliaryState]
UpdateReturn = Tuple[OptimizerState, ParameterContainer, ModelAuxiliaryState]

InitOptimizerFn = Callable[..., OptimizerState]
UpdateParamsFn = Callable[..., UpdateReturn]
PrepareForEvalFn = Callable[..., UpdateReturn]
DataSelectionFn = Callable[..., Dict[str, Tensor]]
InputQueue = Iterator[Dict[str, Any]]
EvalResults = List[Tuple[int, Dict[str, float]]]
