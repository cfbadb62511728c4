"""`vit`: a small Vision Transformer classifying Fashion-MNIST (AlgoPerf's ImageNet ViT domain),
and AlgoPerf's three ViT variants: GLU MLPs, post-layer-norm blocks, attention-pooling (MAP) head.
docs/workloads/vit.md."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from workloads.initializers import truncated_normal
from workloads.spec import LossType, WorkloadSpec, variant


def init_rule(config: Mapping):
    """LeCun (fan-in, truncated normal) kernels, a zero classifier, N(0, 0.02) position
    embeddings and MAP probe, a zero class token (as ViT initializes them); LayerNorm scales 1
    and biases 0 (the default)."""

    def rule(name: str, shape: tuple, rng: np.random.Generator):
        leaf = name.rsplit("/", 1)[-1]
        if name == "head/kernel":
            return np.zeros(shape)
        if leaf == "kernel":
            return truncated_normal(rng, shape, np.sqrt(1.0 / shape[0]))
        if leaf in ("pos_embedding", "probe"):
            return 0.02 * rng.standard_normal(shape)
        if leaf == "cls_token":
            return np.zeros(shape)
        return None

    return rule


VIT = WorkloadSpec(
    name="vit",
    family="vit",
    description="Vision Transformer (7x7 patches, class token, pre-LN blocks) on Fashion-MNIST "
                "(28x28 grey, 10 classes)",
    data_source="fashion_mnist",
    input_shape=(28, 28, 1),
    num_outputs=10,
    loss_type=LossType.SOFTMAX_CROSS_ENTROPY,
    target_metric="accuracy",
    lower_is_better=False,
    validation_target=0.865,
    test_target=0.86,
    max_runtime_sec=250.0,
    step_hint=2000,
    eval_batch_size=250,  # benchmarks/eval_cost.py: 0.71 of 1000's eval time in JAX, the same in PyTorch
    model_config={"patch_size": 7, "width": 64, "depth": 4, "num_heads": 4, "mlp_dim": 128,
                  "mlp": "gelu", "norm": "pre", "pool": "cls"},
    targets_source="docs/targets.md#vit",
)

# AlgoPerf's ViT variants. Each gets its own targets from `algobench set-targets` (docs/targets.md).
VIT_GLU = variant(
    VIT,
    "vit_glu",
    model_config={"mlp": "glu"},
    description="vit with GELU-gated (GLU) MLP blocks",
    validation_target=0.865,
    test_target=0.86,
    step_hint=2000,
    max_runtime_sec=170.0,
    targets_source="docs/targets.md#vit_glu",
)

VIT_POST_LN = variant(
    VIT,
    "vit_post_ln",
    model_config={"norm": "post"},
    description="vit with post-layer-norm encoder blocks",
    validation_target=0.845,
    test_target=0.84,
    step_hint=2000,
    max_runtime_sec=130.0,
    targets_source="docs/targets.md#vit_post_ln",
)

VIT_MAP = variant(
    VIT,
    "vit_map",
    model_config={"pool": "map"},
    description="vit with a multi-head attention pooling (MAP) head instead of the class token",
    validation_target=0.86,
    test_target=0.855,
    step_hint=2000,
    max_runtime_sec=140.0,
    targets_source="docs/targets.md#vit_map",
)

SPECS = [VIT, VIT_GLU, VIT_POST_LN, VIT_MAP]
