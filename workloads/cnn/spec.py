"""`cnn`: a small ResNet with batch norm classifying Fashion-MNIST (AlgoPerf's ResNet domain)."""

from __future__ import annotations

from typing import Mapping

import numpy as np

from workloads.initializers import truncated_normal
from workloads.spec import LossType, WorkloadSpec, variant


def init_rule(config: Mapping):
    """He init for convs (the default); LeCun for the classifier; `bn_scale_init` for BN scales."""

    def rule(name: str, shape: tuple, rng: np.random.Generator):
        if name == "head/kernel":
            return truncated_normal(rng, shape, np.sqrt(1.0 / shape[0]))
        if name.endswith("/scale"):
            return np.full(shape, config.get("bn_scale_init", 1.0))
        return None

    return rule


CNN = WorkloadSpec(
    name="cnn",
    family="cnn",
    description="ResNet-style CNN with batch norm on Fashion-MNIST (28x28 grey, 10 classes)",
    data_source="fashion_mnist",
    input_shape=(28, 28, 1),
    num_outputs=10,
    loss_type=LossType.SOFTMAX_CROSS_ENTROPY,
    target_metric="accuracy",
    lower_is_better=False,
    validation_target=0.89,
    test_target=0.885,
    max_runtime_sec=300.0,
    step_hint=1500,
    eval_batch_size=1000,
    model_config={"widths": (8, 16, 32), "activation": "relu", "bn_scale_init": 1.0},
    targets_source="docs/targets.md#cnn",
)

# AlgoPerf's ResNet variants. Each has its own targets from `algobench set-targets` (docs/targets.md).
CNN_SILU = variant(
    CNN,
    "cnn_silu",
    model_config={"activation": "silu"},
    description="cnn with SiLU activations",
    validation_target=0.89,
    test_target=0.885,
    step_hint=1500,
    max_runtime_sec=220.0,
    targets_source="docs/targets.md#cnn_silu",
)

CNN_GELU = variant(
    CNN,
    "cnn_gelu",
    model_config={"activation": "gelu"},  # the exact (erf) GELU in both frameworks
    description="cnn with GELU activations",
    validation_target=0.89,
    test_target=0.89,
    step_hint=1500,
    max_runtime_sec=350.0,
    targets_source="docs/targets.md#cnn_gelu",
)

CNN_BN_SCALE = variant(
    CNN,
    "cnn_bn_scale",
    model_config={"bn_scale_init": 8.0},  # AlgoPerf's ResNet "large BN init" variant uses 8
    description="cnn with batch-norm scales initialized to 8 instead of 1",
    validation_target=0.885,
    test_target=0.885,
    step_hint=1500,
    max_runtime_sec=180.0,
    targets_source="docs/targets.md#cnn_bn_scale",
)

SPECS = [CNN, CNN_SILU, CNN_GELU, CNN_BN_SCALE]
