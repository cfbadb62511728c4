"""`smoke`: a two-layer MLP on scikit-learn's 8x8 digits; trains in seconds, for tests and CI."""

from __future__ import annotations

from workloads.spec import LossType, WorkloadSpec

SMOKE = WorkloadSpec(
    name="smoke",
    family="smoke",
    description="MLP on scikit-learn's bundled 8x8 digits (1,797 images); for tests and CI",
    data_source="digits",
    input_shape=(64,),
    num_outputs=10,
    loss_type=LossType.SOFTMAX_CROSS_ENTROPY,
    target_metric="accuracy",
    lower_is_better=False,
    validation_target=0.93,
    test_target=0.92,
    max_runtime_sec=30.0,
    eval_period_sec=0.5,
    step_hint=400,
    eval_batch_size=300,
    model_config={"hidden": 64},
    targets_source="docs/targets.md#smoke",
)

SPECS = [SMOKE]
