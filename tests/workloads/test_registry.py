"""The registry rejects a variant with an unknown base, a name clash or a variant base, and keeps
variants without targets out of runs with a message saying how to set them."""

from __future__ import annotations

import pytest

from workloads.registry import PENDING, REGISTRY, UnknownWorkloadError, get_spec, validate
from workloads.spec import variant

CNN = REGISTRY["cnn"]


def test_variants_merge_model_config_and_name_their_base():
    v = variant(CNN, "cnn_wide", model_config={"widths": (16, 32, 64)}, validation_target=0.9,
                test_target=0.89, step_hint=2000)
    assert v.base == "cnn" and v.base_name == "cnn" and v.step_hint == 2000
    assert v.model_config["widths"] == (16, 32, 64) and v.model_config["activation"] == "relu"
    assert CNN.model_config["widths"] == (8, 16, 32)  # the base is untouched


def test_name_clash_is_rejected():
    with pytest.raises(ValueError, match="'cnn' is registered twice"):
        validate([CNN, variant(CNN, "cnn", validation_target=0.9, test_target=0.9)])


def test_unknown_base_is_rejected():
    orphan = variant(CNN, "orphan", validation_target=0.9, test_target=0.9)
    with pytest.raises(ValueError, match="variant 'orphan' names unknown base workload 'cnn'"):
        validate([orphan])


def test_a_variant_of_a_variant_is_rejected():
    first = variant(CNN, "cnn_a", validation_target=0.9, test_target=0.9)
    second = variant(first, "cnn_b", validation_target=0.9, test_target=0.9)
    with pytest.raises(ValueError, match="has a variant"):
        validate([CNN, first, second])


def test_missing_targets_keep_a_variant_pending():
    pending = variant(CNN, "cnn_new", validation_target=None, test_target=None)
    complete, waiting = validate([CNN, pending])
    assert "cnn_new" in waiting and "cnn_new" not in complete


def test_pending_workloads_are_refused_with_the_fix():
    for name in PENDING:
        with pytest.raises(UnknownWorkloadError, match="set-targets"):
            get_spec(name)
        assert get_spec(name, pending_ok=True).name == name
    with pytest.raises(UnknownWorkloadError, match="unknown workload 'nope'"):
        get_spec("nope")
