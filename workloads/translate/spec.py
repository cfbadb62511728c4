"""`translate`: an encoder-decoder Transformer for grapheme-to-phoneme conversion on the CMU
Pronouncing Dictionary, scored by the phoneme error rate of its greedy decoding (AlgoPerf's WMT
Transformer domain at laptop scale). docs/workloads/translate.md."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from workloads.data.cmudict_g2p import (
    BOS,
    EOS,
    MAX_LETTERS,
    MAX_PHONEMES,
    SOURCE_VOCAB,
    TARGET_VOCAB,
)
from workloads.initializers import truncated_normal
from workloads.spec import LossType, WorkloadSpec, variant


def init_rule(config: Mapping):
    """LeCun (fan-in, truncated normal) for every kernel, as Xavier is for these square layers;
    the default N(0, 1/sqrt(width)) for embeddings, zero biases, unit norm scales."""

    def rule(name: str, shape: tuple, rng: np.random.Generator):
        if name.endswith("/kernel"):
            return truncated_normal(rng, shape, np.sqrt(1.0 / shape[0]))
        return None

    return rule


def example_batch(spec: WorkloadSpec, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Made-up words of the data's form: 1 to MAX_LETTERS random symbols, padded with 0; 1 to
    MAX_PHONEMES random phonemes as decoder inputs (BOS first) and targets (EOS last)."""
    src_len, tgt_len = MAX_LETTERS, MAX_PHONEMES + 1
    batch = {"inputs": np.zeros((n, src_len), np.int32),
             "decoder_inputs": np.zeros((n, tgt_len), np.int32),
             "targets": np.zeros((n, tgt_len), np.int32)}
    for i in range(n):
        letters, phonemes = int(rng.integers(1, src_len + 1)), int(rng.integers(1, tgt_len))
        ids = rng.integers(3, TARGET_VOCAB, phonemes)
        batch["inputs"][i, :letters] = rng.integers(1, SOURCE_VOCAB, letters)
        batch["decoder_inputs"][i, : phonemes + 1] = [BOS, *ids]
        batch["targets"][i, : phonemes + 1] = [*ids, EOS]
    return batch


TRANSLATE = WorkloadSpec(
    name="translate",
    family="translate",
    description="Encoder-decoder Transformer, grapheme-to-phoneme on the CMU Pronouncing "
                "Dictionary (125k words, 39 phonemes); phoneme error rate of greedy decoding",
    data_source="cmudict",
    input_shape=(MAX_LETTERS,),  # the source ids of one word; input_keys adds the decoder inputs
    num_outputs=TARGET_VOCAB,
    loss_type=LossType.SOFTMAX_CROSS_ENTROPY,
    target_metric="phoneme_error_rate",
    lower_is_better=True,
    metrics="phoneme_error_rate",
    input_keys=("inputs", "decoder_inputs"),
    validation_target=0.145,
    test_target=0.145,
    max_runtime_sec=200.0,
    step_hint=900,
    eval_batch_size=1000,
    model_config={"src_vocab": SOURCE_VOCAB, "tgt_vocab": TARGET_VOCAB, "src_len": MAX_LETTERS,
                  "tgt_len": MAX_PHONEMES + 1, "width": 64, "heads": 4, "hidden": 256,
                  "enc_layers": 2, "dec_layers": 2, "post_ln": False, "attention_temp": 1.0,
                  "glu_tanh": False},
    targets_source="docs/targets.md#translate",
)

# AlgoPerf's WMT variants. Each gets its own targets from `algobench set-targets` (docs/targets.md).
TRANSLATE_POST_LN = variant(
    TRANSLATE,
    "translate_post_ln",
    model_config={"post_ln": True},
    description="translate with post-layer-norm residual blocks (no final norms)",
    validation_target=0.135,
    test_target=0.135,
    step_hint=900,
    max_runtime_sec=200.0,
    targets_source="docs/targets.md#translate_post_ln",
)

TRANSLATE_ATTN_TEMP = variant(
    TRANSLATE,
    "translate_attn_temp",
    model_config={"attention_temp": 1.6},
    description="translate with attention logits divided by a temperature of 1.6",
    validation_target=0.15,
    test_target=0.145,
    step_hint=900,
    max_runtime_sec=310.0,
    targets_source="docs/targets.md#translate_attn_temp",
)

TRANSLATE_GLU_TANH = variant(
    TRANSLATE,
    "translate_glu_tanh",
    model_config={"glu_tanh": True},
    description="translate with gated MLPs: fc2(tanh(fc1(x)) * gate(x))",
    validation_target=0.135,
    test_target=0.135,
    step_hint=900,
    max_runtime_sec=240.0,
    targets_source="docs/targets.md#translate_glu_tanh",
)

SPECS = [TRANSLATE, TRANSLATE_POST_LN, TRANSLATE_ATTN_TEMP, TRANSLATE_GLU_TANH]
