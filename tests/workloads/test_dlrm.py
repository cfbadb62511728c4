"""The `dlrm` family: the click-log generator (determinism, shapes, ids, heavy tails, click rate,
hidden model), its cache, the family's example batch and interaction indices, and the
binary-classification metric on hand-computed cases. Parity of the models: test_parity.py."""

from __future__ import annotations

import math

import numpy as np
import pytest

from workloads.data import click_logs
from workloads.data.click_logs import NUM_CATEGORICAL, NUM_DENSE, table_sizes
from workloads.metrics import binary_classification
from workloads.registry import PENDING, REGISTRY
from workloads.workload_base import example_batch

SIZES = {"num_train": 20_000, "num_validation": 5_000, "num_test": 5_000}
DLRM_SPECS = [s for n, s in {**REGISTRY, **PENDING}.items() if s.family == "dlrm"]


@pytest.fixture(scope="module")
def data():
    return click_logs.generate(**SIZES, seed=0)


def log_loss(p, y):
    return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())


def test_generator_is_deterministic_from_its_seed(data):
    again = click_logs.generate(**SIZES, seed=0)
    assert data.keys() == again.keys()
    for key in data:
        np.testing.assert_array_equal(data[key], again[key], err_msg=key)
    other = click_logs.generate(**SIZES, seed=1)
    assert not np.array_equal(other["train.inputs"], data["train.inputs"])


def test_shapes_dtypes_and_values(data):
    for split, n in (("train", 20_000), ("validation", 5_000), ("test", 5_000)):
        x, y = data[f"{split}.inputs"], data[f"{split}.targets"]
        assert x.shape == (n, NUM_DENSE + NUM_CATEGORICAL) and x.dtype == np.float32
        assert y.shape == (n,) and y.dtype == np.float32 and set(np.unique(y)) == {0.0, 1.0}
        counts = np.expm1(x[:, :NUM_DENSE].astype(np.float64))
        assert counts.min() >= 0 and np.allclose(counts, np.round(counts), rtol=1e-5, atol=1e-3)
        ids = x[:, NUM_DENSE:]
        assert np.array_equal(ids, np.round(ids)) and ids.min() >= 0
        assert np.all(ids.max(axis=0) < np.array(table_sizes()))
    # the splits are different draws of the same stream, not copies
    assert not np.array_equal(data["validation.inputs"], data["test.inputs"])


def test_tables_hash_large_vocabularies():
    sizes, vocab = table_sizes(), click_logs.vocabulary_sizes()
    assert len(sizes) == NUM_CATEGORICAL and max(sizes) == click_logs.MAX_TABLE and min(sizes) == 3
    assert [min(v, click_logs.MAX_TABLE) for v in vocab] == list(sizes)
    assert sum(v > s for v, s in zip(vocab, sizes)) >= 10  # most large features collide


def test_categorical_values_are_heavy_tailed():
    rng = np.random.default_rng(0)
    values = click_logs._zipf(rng, 200_000, 1_000_000, 1.1)
    assert values.min() >= 0 and values.max() < 1_000_000
    counts = np.bincount(values)
    top10 = np.sort(counts)[::-1][:10].sum() / len(values)
    assert top10 > 0.2  # a few values are frequent ...
    assert (counts == 1).sum() > 10_000  # ... and many are seen once
    # a discretized power law: P(0) / P(1) = (1 - 2^(1-s)) / (2^(1-s) - 3^(1-s))
    s = 1.1
    expected = (1 - 2 ** (1 - s)) / (2 ** (1 - s) - 3 ** (1 - s))
    assert counts[0] / counts[1] == pytest.approx(expected, rel=0.05)


def test_click_rate_and_hidden_model(data):
    y = data["train.targets"]
    assert y.mean() == pytest.approx(click_logs.CLICK_RATE, abs=0.015)
    p = click_logs.bayes_probabilities(data["train.logits"])
    assert p.mean() == pytest.approx(click_logs.CLICK_RATE, abs=0.01)
    bayes, constant = log_loss(p, y), log_loss(np.full_like(p, y.mean()), y)
    assert bayes < constant - 0.1


def test_bayes_probabilities_integrate_the_noise():
    logits = np.array([-3.0, -1.0, 0.0, 2.0])
    rng = np.random.default_rng(0)
    noise = click_logs.NOISE_STD * rng.standard_normal((1, 400_000))
    monte_carlo = (1 / (1 + np.exp(-(logits[:, None] + noise)))).mean(axis=1)
    np.testing.assert_allclose(click_logs.bayes_probabilities(logits), monte_carlo, atol=2e-3)
    assert click_logs.bayes_probabilities(np.zeros(1))[0] == pytest.approx(0.5)


def test_load_click_logs_uses_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ALGOBENCH_CACHE_DIR", str(tmp_path))
    first = click_logs.load_click_logs(2_000, 500, 500, seed=3)
    assert {k: sorted(v) for k, v in first.items()} == {
        s: ["inputs", "targets"] for s in ("train", "validation", "test")}
    assert len([p for p in tmp_path.glob("click_logs-*") if p.is_dir()]) == 1

    def fail(*args, **kwargs):
        raise AssertionError("built again instead of read from the cache")

    monkeypatch.setattr(click_logs, "generate", fail)
    second = click_logs.load_click_logs(2_000, 500, 500, seed=3, with_logits=True)
    for split in first:
        for key in ("inputs", "targets"):
            np.testing.assert_array_equal(first[split][key], second[split][key])
        assert second[split]["logits"].shape == (len(first[split]["targets"]),)


@pytest.mark.parametrize("spec", DLRM_SPECS, ids=lambda s: s.name)
def test_example_batch_is_valid_data(spec):
    batch = example_batch(spec, 64, seed=0)
    x = batch["inputs"]
    assert x.shape == (64, *spec.input_shape) and x.dtype == np.float32
    ids = x[:, NUM_DENSE:]
    assert np.array_equal(ids, np.round(ids)) and ids.min() >= 0
    assert np.all(ids.max(axis=0) < np.array(spec.model_config["table_sizes"]))
    assert batch["targets"].dtype == np.float32 and set(np.unique(batch["targets"])) <= {0.0, 1.0}


def test_interaction_pairs_are_the_upper_triangle():
    from workloads.dlrm.spec import interaction_pairs  # both model modules use this one

    np.testing.assert_array_equal(interaction_pairs(3), [1, 2, 5])  # (0,1), (0,2), (1,2) of a 3x3
    assert len(interaction_pairs(27)) == 27 * 26 // 2


def test_binary_classification_metric_by_hand():
    logits = np.array([2.0, -1.0, 0.0, 3.0, -2.0], np.float32)
    targets = np.array([1.0, 0.0, 1.0, 0.0, 1.0], np.float32)
    weights = np.array([1, 1, 1, 1, 0], np.float32)  # the last one is padding
    sig = lambda x: 1 / (1 + math.exp(-x))
    losses = [-math.log(sig(2.0)), -math.log(1 - sig(-1.0)), -math.log(0.5), -math.log(1 - sig(3.0))]
    # positives score 2 and 0, negatives -1 and 3: of the 4 (positive, negative) pairs, 2 are
    # ordered right (2 > -1, 0 > -1), so the AUC is 2 / 4
    out = binary_classification(logits, {"targets": targets, "weights": weights})
    assert out["loss"] == pytest.approx(sum(losses) / 4, rel=1e-9)
    assert out["auc"] == pytest.approx(0.5)
    assert out["num_examples"] == 4.0
    perfect = binary_classification(np.array([5.0, -5.0]), {"targets": np.array([1.0, 0.0])})
    assert perfect["auc"] == 1.0 and perfect["loss"] == pytest.approx(math.log1p(math.exp(-5.0)))
