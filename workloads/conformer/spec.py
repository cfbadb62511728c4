"""`conformer`: a small Conformer (AlgoPerf's LibriSpeech Conformer at laptop scale) transcribing
synthesized English speech (`workloads.data.speech`) with CTC, scored by the validation word error
rate of greedy decoding, lower is better. docs/workloads/conformer.md."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from workloads.data.speech import MAX_FRAMES, N_MELS, NUM_CLASSES, example_utterances
from workloads.initializers import truncated_normal
from workloads.spec import LossType, WorkloadSpec, variant


def init_rule(config: Mapping):
    """He (fan-in, truncated normal; the default) for the subsampling convolutions, which ReLU
    follows; LeCun (fan-in, truncated normal) for every other kernel, the depthwise convolutions'
    included (fan-in: the kernel size); biases 0, norm scales 1 (the defaults)."""

    def rule(name: str, shape: tuple, rng: np.random.Generator):
        if name.endswith("/kernel") and not name.startswith("subsampling/conv"):
            return truncated_normal(rng, shape, np.sqrt(1.0 / int(np.prod(shape[:-1]))))
        return None

    return rule


def example_batch(spec: WorkloadSpec, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Random features on random lengths and random transcripts that fit CTC (the data's form)."""
    return example_utterances(n, rng)


CONFORMER = WorkloadSpec(
    name="conformer",
    family="conformer",
    description="Conformer (conv subsampling 4x, 3 blocks of width 96, 4 heads, depthwise kernel 15, "
                "batch norm) with CTC on synthesized English speech (espeak-ng phrases from "
                "Shakespeare, 32 log-mel bands); validation word error rate",
    data_source="espeak_speech",
    input_shape=(MAX_FRAMES, N_MELS),
    num_outputs=NUM_CLASSES,
    loss_type=LossType.CTC_LOSS,
    target_metric="word_error_rate",
    lower_is_better=True,
    metrics="word_error_rate",
    input_keys=("inputs", "input_paddings"),
    validation_target=0.515,
    test_target=0.5,
    max_runtime_sec=370.0,
    step_hint=800,
    eval_batch_size=250,
    model_config={"num_classes": NUM_CLASSES, "n_mels": N_MELS, "subsampling_channels": 32,
                  "d_model": 96, "num_heads": 4, "num_layers": 3, "ffn_hidden": 384,
                  "kernel_size": 15, "conv_norm": "batch_norm", "ffn_activation": "swish",
                  "attention_temp": 1.0},
    targets_source="docs/targets.md#conformer",
)

# AlgoPerf's Conformer variants. Each gets its own targets from `algobench set-targets`
# (docs/targets.md).
CONFORMER_ATTN_TEMP = variant(
    CONFORMER,
    "conformer_attn_temp",
    model_config={"attention_temp": 1.6},
    description="conformer with attention logits divided by a temperature of 1.6",
    validation_target=0.495,
    test_target=0.48,
    step_hint=800,
    max_runtime_sec=370.0,
    targets_source="docs/targets.md#conformer_attn_temp",
)

CONFORMER_LAYERNORM = variant(
    CONFORMER,
    "conformer_layernorm",
    model_config={"conv_norm": "layer_norm"},
    description="conformer with layer norm instead of batch norm in the convolution modules",
    validation_target=0.61,
    test_target=0.57,
    step_hint=800,
    max_runtime_sec=250.0,
    targets_source="docs/targets.md#conformer_layernorm",
)

CONFORMER_GELU = variant(
    CONFORMER,
    "conformer_gelu",
    model_config={"ffn_activation": "gelu"},  # the exact (erf) GELU in both frameworks
    description="conformer with GELU instead of swish in the feed-forward modules",
    validation_target=0.47,
    test_target=0.47,
    step_hint=800,
    max_runtime_sec=380.0,
    targets_source="docs/targets.md#conformer_gelu",
)

SPECS = [CONFORMER, CONFORMER_ATTN_TEMP, CONFORMER_LAYERNORM, CONFORMER_GELU]
