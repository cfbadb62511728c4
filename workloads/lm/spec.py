"""`lm`: a character-level nanoGPT-style Transformer predicting the next character of Shakespeare
(a small stand-in for AlgoPerf's language-model workloads). Scored by the validation cross-entropy
per character, lower is better. docs/workloads/lm.md."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from workloads.data.shakespeare import VOCAB_SIZE
from workloads.initializers import truncated_normal
from workloads.spec import LossType, WorkloadSpec, variant

SEQ_LEN = 128
INIT_STD = 0.02  # GPT-2 / nanoGPT


def init_rule(config: Mapping):
    """GPT-2's init (nanoGPT's): every kernel and embedding N(0, 0.02) (kernels truncated at two
    standard deviations), the residual branches' output projections (`attn/out`, `mlp/fc2`)
    N(0, 0.02 / sqrt(2 * num_layers)); biases 0 and layer-norm scales 1 (the defaults)."""
    residual_std = INIT_STD / np.sqrt(2 * config["num_layers"])

    def rule(name: str, shape: tuple, rng: np.random.Generator):
        if name.endswith(("attn/out/kernel", "mlp/fc2/kernel")):
            return truncated_normal(rng, shape, residual_std)
        if name.endswith("/kernel"):
            return truncated_normal(rng, shape, INIT_STD)
        if name.endswith("/embedding"):
            return rng.standard_normal(shape) * INIT_STD
        return None

    return rule


def example_batch(spec: WorkloadSpec, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Random character ids: inputs and next-character targets, int32 (n, seq_len)."""
    seq_len = spec.input_shape[0]
    ids = rng.integers(0, spec.num_outputs, (n, seq_len + 1)).astype(np.int32)
    return {"inputs": ids[:, :-1], "targets": ids[:, 1:]}


LM = WorkloadSpec(
    name="lm",
    family="lm",
    description="Character-level decoder-only Transformer (2 layers, width 96, 3 heads) on "
                "Shakespeare (42 works from the `shakespeare` package, split by work); "
                "validation cross-entropy per character",
    data_source="shakespeare",
    input_shape=(SEQ_LEN,),
    num_outputs=VOCAB_SIZE,
    loss_type=LossType.SOFTMAX_CROSS_ENTROPY,
    target_metric="loss",
    lower_is_better=True,
    metrics="language_model",
    validation_target=1.86,
    test_target=1.87,
    max_runtime_sec=180.0,
    step_hint=1000,
    eval_batch_size=64,  # benchmarks/eval_cost.py: cheaper than 256 in both frameworks
    model_config={"vocab_size": VOCAB_SIZE, "seq_len": SEQ_LEN, "d_model": 96, "num_heads": 3,
                  "num_layers": 2, "mlp_hidden": 384, "swiglu": False, "post_ln": False,
                  "attention_temperature": 1.0},
    targets_source="docs/targets.md#lm",
)

# Issue 7's variants. Each gets its own targets from `algobench set-targets` (docs/targets.md).
LM_SWIGLU = variant(
    LM,
    "lm_swiglu",
    model_config={"swiglu": True, "mlp_hidden": 256},  # 2/3 of 384: as many weights
    description="lm with SwiGLU MLPs (hidden width 256)",
    validation_target=1.94,
    test_target=1.94,
    step_hint=1000,
    max_runtime_sec=230.0,
    targets_source="docs/targets.md#lm_swiglu",
)

LM_POST_LN = variant(
    LM,
    "lm_post_ln",
    model_config={"post_ln": True},
    description="lm with post-layer-norm blocks (no final layer norm)",
    validation_target=1.85,
    test_target=1.86,
    step_hint=1000,
    max_runtime_sec=190.0,
    targets_source="docs/targets.md#lm_post_ln",
)

LM_ATTN_TEMP = variant(
    LM,
    "lm_attn_temp",
    model_config={"attention_temperature": 4.0},
    description="lm with attention logits divided by a temperature of 4 (scale 1/(4 sqrt(head_dim)))",
    validation_target=1.89,
    test_target=1.9,
    step_hint=1000,
    max_runtime_sec=180.0,
    targets_source="docs/targets.md#lm_attn_temp",
)

SPECS = [LM, LM_SWIGLU, LM_POST_LN, LM_ATTN_TEMP]
