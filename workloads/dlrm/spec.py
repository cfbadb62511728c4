"""`dlrm`: a DLRM-style recommender on generated click logs with Criteo's shape (AlgoPerf's Criteo
1TB DLRM domain, at laptop scale). Log-loss is the target metric. docs/workloads/dlrm.md."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from workloads.data.click_logs import NUM_DENSE, table_sizes
from workloads.initializers import truncated_normal
from workloads.spec import LossType, WorkloadSpec, variant

CLICK_RATE_LOGIT = math.log(0.25 / 0.75)  # the head's initial bias: the data's click rate
EMBED_SCALE_VARIANT = 4.0  # dlrm_embed_scale's embed_init_scale


def interaction_pairs(num_vectors: int) -> np.ndarray:
    """Flat indices (i * num_vectors + j, i < j) of the upper triangle of the dot-product matrix."""
    i, j = np.triu_indices(num_vectors, k=1)
    return i * num_vectors + j


def init_rule(config: Mapping):
    """Embeddings N(0, (embed_init_scale / sqrt(embed_dim))^2); LeCun for the output layer, whose
    bias starts at the logit of the click rate (25%); He for the other kernels (the default)."""

    def rule(name: str, shape: tuple, rng: np.random.Generator):
        if name == "embedding/embedding":
            return rng.standard_normal(shape) * (config.get("embed_init_scale", 1.0) / np.sqrt(shape[-1]))
        if name == "head/kernel":
            return truncated_normal(rng, shape, np.sqrt(1.0 / shape[0]))
        if name == "head/bias":
            return np.full(shape, CLICK_RATE_LOGIT)
        return None

    return rule


def example_batch(spec: WorkloadSpec, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Made-up examples of the data's form: log counts, ids valid in every table, 0/1 clicks."""
    sizes = spec.model_config["table_sizes"]
    dense = np.log1p(rng.poisson(rng.lognormal(1.5, 1.5, (n, NUM_DENSE))))
    ids = np.stack([rng.integers(0, size, n) for size in sizes], axis=1)
    return {"inputs": np.concatenate([dense, ids], axis=1).astype(np.float32),
            "targets": (rng.random(n) < 0.25).astype(np.float32)}


DLRM = WorkloadSpec(
    name="dlrm",
    family="dlrm",
    description="DLRM-style recommender on generated Criteo-shaped click logs (13 dense, 26 "
                "categorical features, 3M training examples); log-loss",
    data_source="click_logs",
    input_shape=(NUM_DENSE + len(table_sizes()),),
    num_outputs=1,
    loss_type=LossType.SIGMOID_CROSS_ENTROPY,
    target_metric="loss",
    lower_is_better=True,
    metrics="binary_classification",
    validation_target=0.389,
    test_target=0.385,
    max_runtime_sec=530.0,
    step_hint=5800,  # about two epochs of batch 1024: a third one overfits (docs/workloads/dlrm.md)
    eval_batch_size=10_000,
    model_config={"table_sizes": table_sizes(), "embed_dim": 16, "bottom_widths": (64, 32),
                  "top_widths": (128, 128, 64), "layer_norm": False, "residual": False,
                  "embed_init_scale": 1.0},
    targets_source="docs/targets.md#dlrm",
)

# AlgoPerf's Criteo DLRM variants. Each has its own targets from `algobench set-targets`.
DLRM_LAYERNORM = variant(
    DLRM,
    "dlrm_layernorm",
    model_config={"layer_norm": True},
    description="dlrm with layer norm after every hidden dense layer of both MLPs",
    validation_target=0.387,
    test_target=0.384,
    step_hint=5800,
    max_runtime_sec=430.0,
    targets_source="docs/targets.md#dlrm_layernorm",
)

DLRM_EMBED_SCALE = variant(
    DLRM,
    "dlrm_embed_scale",
    model_config={"embed_init_scale": EMBED_SCALE_VARIANT},
    description=f"dlrm with embeddings initialized {EMBED_SCALE_VARIANT}x larger",
    validation_target=0.397,
    test_target=0.393,
    step_hint=5800,
    max_runtime_sec=320.0,
    targets_source="docs/targets.md#dlrm_embed_scale",
)

DLRM_RESNET = variant(
    DLRM,
    "dlrm_resnet",
    model_config={"residual": True, "top_widths": (128, 128, 128, 128)},
    description="dlrm with a residual top MLP (a projection, then three residual layers)",
    validation_target=0.387,
    test_target=0.383,
    step_hint=5800,
    max_runtime_sec=360.0,
    targets_source="docs/targets.md#dlrm_resnet",
)

SPECS = [DLRM, DLRM_LAYERNORM, DLRM_EMBED_SCALE, DLRM_RESNET]
