"""`deepspeech`: a DeepSpeech2-style speech recognizer (AlgoPerf's LibriSpeech DeepSpeech, laptop
scale) trained with CTC on synthesized English speech (`workloads/data/speech.py`): two stride-2
3x3 convolutions over (time, mel) with batch norm, a dense projection, residual bidirectional
LSTM layers and a two-layer dense head over 29 characters. Scored by the validation word error
rate of greedy CTC decoding, lower is better. docs/workloads/deepspeech.md."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from workloads.data.speech import MAX_FRAMES, N_MELS, NUM_CLASSES, example_utterances
from workloads.initializers import truncated_normal
from workloads.spec import LossType, WorkloadSpec, variant


def init_rule(config: Mapping):
    """LSTM weights (PyTorch's layout and names, (4H, in) and (4H, H), gates i, f, g, o) LeCun
    truncated normal over their fan-in; the input bias 0 except the forget gate's 1, the recurrent
    bias 0. The classifier (`head`) LeCun; every other kernel He (the default: ReLU follows), or
    LeCun with tanh activations. Norm scales 1 and biases 0 (the defaults)."""
    lecun_everywhere = config.get("activation", "relu") != "relu"

    def rule(name: str, shape: tuple, rng: np.random.Generator):
        leaf = name.rsplit("/", 1)[-1]
        if leaf in ("weight_ih_l0", "weight_hh_l0"):
            return truncated_normal(rng, shape, np.sqrt(1.0 / shape[1]))
        if leaf == "bias_ih_l0":
            bias = np.zeros(shape)
            hidden = shape[0] // 4
            bias[hidden : 2 * hidden] = 1.0  # the forget gate
            return bias
        if leaf == "bias_hh_l0":
            return np.zeros(shape)
        if leaf == "kernel" and (name == "head/kernel" or lecun_everywhere):
            return truncated_normal(rng, shape, np.sqrt(1.0 / int(np.prod(shape[:-1]))))
        return None

    return rule


def example_batch(spec: WorkloadSpec, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Random features on random lengths with random transcripts (the data's form)."""
    return example_utterances(n, rng)


DEEPSPEECH = WorkloadSpec(
    name="deepspeech",
    family="deepspeech",
    description="DeepSpeech2-style CTC recognizer (2 stride-2 convs with batch norm, 2 residual "
                "bidirectional LSTM layers of width 128) on espeak-ng speech of Shakespeare "
                "phrases (log-mel); validation word error rate of greedy decoding",
    data_source="espeak_speech",
    input_shape=(MAX_FRAMES, N_MELS),
    num_outputs=NUM_CLASSES,
    loss_type=LossType.CTC_LOSS,
    target_metric="word_error_rate",
    lower_is_better=True,
    metrics="word_error_rate",
    input_keys=("inputs", "input_paddings"),
    validation_target=0.43,
    test_target=0.43,
    max_runtime_sec=490.0,
    step_hint=1500,
    eval_batch_size=250,
    model_config={"conv_channels": 32, "width": 128, "num_lstm_layers": 2, "activation": "relu",
                  "residual": True, "norm": "batch", "specaugment": False},
    targets_source="docs/targets.md#deepspeech",
)

# AlgoPerf's DeepSpeech variants (tanh, no residual, layer norm + SpecAugment), each with its own
# targets from `algobench set-targets` (docs/targets.md).
DEEPSPEECH_TANH = variant(
    DEEPSPEECH,
    "deepspeech_tanh",
    model_config={"activation": "tanh"},
    description="deepspeech with tanh instead of ReLU everywhere",
    validation_target=0.465,
    test_target=0.45,
    step_hint=1500,
    max_runtime_sec=330.0,
    targets_source="docs/targets.md#deepspeech_tanh",
)

DEEPSPEECH_NO_RESIDUAL = variant(
    DEEPSPEECH,
    "deepspeech_no_residual",
    model_config={"residual": False},
    description="deepspeech without the residual connections around the LSTM layers",
    validation_target=0.38,
    test_target=0.355,
    step_hint=1500,
    max_runtime_sec=380.0,
    targets_source="docs/targets.md#deepspeech_no_residual",
)

DEEPSPEECH_NORM_SPECAUG = variant(
    DEEPSPEECH,
    "deepspeech_norm_specaug",
    model_config={"norm": "layer", "specaugment": True},
    description="deepspeech with layer norm instead of batch norm and SpecAugment in training "
                "(2 frequency masks of up to 4 mel bands, 2 time masks of up to 10 frames)",
    validation_target=0.565,
    test_target=0.55,
    step_hint=1500,
    max_runtime_sec=340.0,
    targets_source="docs/targets.md#deepspeech_norm_specaug",
)

SPECS = [DEEPSPEECH, DEEPSPEECH_TANH, DEEPSPEECH_NO_RESIDUAL, DEEPSPEECH_NORM_SPECAUG]
