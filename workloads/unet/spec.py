"""`unet`: a U-Net reconstructing MRI phantoms from 4x/8x undersampled single-coil k-space, scored
by SSIM (AlgoPerf's fastMRI domain). docs/workloads/unet.md."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from workloads.data.phantoms import SIZE
from workloads.initializers import truncated_normal
from workloads.spec import LossType, WorkloadSpec, variant


def init_rule(config: Mapping):
    """LeCun (fan-in, truncated normal) for the linear output conv; He for the other kernels."""

    def rule(name: str, shape: tuple, rng: np.random.Generator):
        if name == "out_conv/kernel":
            return truncated_normal(rng, shape, np.sqrt(1.0 / int(np.prod(shape[:-1]))))
        return None

    return rule


def example_batch(spec: WorkloadSpec, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Made-up examples of the data's form: normal inputs (n, S, S, 1) and targets (n, S, S), and
    the positive per-image normalization (mean, std) the SSIM metric de-normalizes with."""
    return {"inputs": rng.standard_normal((n, *spec.input_shape)).astype(np.float32),
            "targets": rng.standard_normal((n, *spec.input_shape[:2])).astype(np.float32),
            "mean": rng.uniform(0.1, 0.4, n).astype(np.float32),
            "std": rng.uniform(0.1, 0.3, n).astype(np.float32)}


UNET = WorkloadSpec(
    name="unet",
    family="unet",
    description=f"U-Net (widths 8/16/32, instance norm) reconstructing {SIZE}x{SIZE} MRI phantoms "
                "from 4x/8x undersampled single-coil k-space; SSIM",
    data_source="mri_phantoms",
    input_shape=(SIZE, SIZE, 1),
    num_outputs=1,
    loss_type=LossType.MEAN_ABSOLUTE_ERROR,
    target_metric="ssim",
    lower_is_better=False,
    metrics="ssim",
    validation_target=0.805,
    test_target=0.805,
    max_runtime_sec=140.0,
    step_hint=1500,
    eval_batch_size=250,  # benchmarks/eval_cost.py: cheaper than 500 in PyTorch, the same in JAX
    model_config={"channels": 8, "levels": 2, "activation": "leaky_relu", "norm": "instance"},
    targets_source="docs/targets.md#unet",
)

# AlgoPerf's fastMRI variants (model size, tanh activations, layer norm). Each gets its own targets
# from `algobench set-targets` (docs/targets.md).
UNET_WIDE = variant(
    UNET,
    "unet_wide",
    model_config={"channels": 16},
    description="unet with twice the channels (16/32/64)",
    validation_target=0.825,
    test_target=0.82,
    step_hint=800,
    max_runtime_sec=130.0,
    targets_source="docs/targets.md#unet_wide",
)

UNET_TANH = variant(
    UNET,
    "unet_tanh",
    model_config={"activation": "tanh"},
    description="unet with tanh activations instead of leaky ReLU",
    validation_target=0.76,
    test_target=0.755,
    step_hint=1500,
    max_runtime_sec=150.0,
    targets_source="docs/targets.md#unet_tanh",
)

UNET_LAYERNORM = variant(
    UNET,
    "unet_layernorm",
    model_config={"norm": "layer"},
    description="unet with layer norm (per example over H, W, C) instead of instance norm",
    validation_target=0.8,
    test_target=0.795,
    step_hint=1500,
    max_runtime_sec=130.0,
    targets_source="docs/targets.md#unet_layernorm",
)

SPECS = [UNET, UNET_WIDE, UNET_TANH, UNET_LAYERNORM]
