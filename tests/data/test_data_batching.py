import numpy as np
import pytest

from workloads.data.batching import TrainStream, eval_batches, shard_batch, train_eval_subset


def make_split(n):
    return {"inputs": np.arange(n * 2, dtype=np.float32).reshape(n, 2),
            "targets": np.arange(n, dtype=np.int32)}


def take(stream, k):
    return [next(stream) for _ in range(k)]


def assert_batches_equal(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.keys() == y.keys()
        for k in x:
            np.testing.assert_array_equal(x[k], y[k])


def test_stream_batches_shape_keys_and_determinism():
    split = make_split(10)
    batches = take(TrainStream(split, batch_size=3, seed=7), 6)
    for b in batches:
        assert set(b) == {"inputs", "targets"}
        assert b["inputs"].shape == (3, 2) and b["inputs"].dtype == np.float32
        assert b["targets"].dtype == np.int32
        np.testing.assert_array_equal(b["inputs"][:, 0], 2 * b["targets"])  # rows stay aligned
    assert_batches_equal(batches, take(TrainStream(split, 3, seed=7), 6))
    other = take(TrainStream(split, 3, seed=8), 6)
    assert any(not np.array_equal(a["targets"], b["targets"]) for a, b in zip(batches, other))


def test_every_example_once_per_epoch_and_reshuffle():
    split = make_split(12)
    stream = TrainStream(split, batch_size=4, seed=0)
    assert stream.batches_per_epoch == 3
    epochs = [np.concatenate([b["targets"] for b in take(stream, 3)]) for _ in range(3)]
    for order in epochs:
        np.testing.assert_array_equal(np.sort(order), np.arange(12))
    assert not np.array_equal(epochs[0], epochs[1])
    np.testing.assert_array_equal(epochs[1], np.random.default_rng([0, 1]).permutation(12))
    assert stream.position == 9 and stream.epoch == 3


def test_ragged_rest_dropped():
    stream = TrainStream(make_split(10), batch_size=3, seed=1)
    assert stream.batches_per_epoch == 3
    seen = np.concatenate([b["targets"] for b in take(stream, 3)])
    assert len(np.unique(seen)) == 9
    assert stream.epoch == 1


def test_resume_matches_original_across_epochs():
    split = make_split(10)
    reference = take(TrainStream(split, batch_size=3, seed=3), 10)  # 3 batches per epoch
    for k in range(10):
        resumed = TrainStream(split, batch_size=3, seed=3, start_batch=k)
        assert resumed.position == k
        assert_batches_equal(take(resumed, 10 - k), reference[k:])
        assert resumed.position == 10


def test_position_counts_batches():
    stream = TrainStream(make_split(5), batch_size=2, seed=0)
    assert stream.position == 0 and iter(stream) is stream
    take(stream, 4)
    assert stream.position == 4


@pytest.mark.parametrize("kwargs", [dict(batch_size=11), dict(batch_size=0),
                                    dict(seed=-1), dict(start_batch=-1)])
def test_stream_rejects_bad_arguments(kwargs):
    args = dict(batch_size=2, seed=0) | kwargs
    with pytest.raises(ValueError):
        TrainStream(make_split(10), **args)


def test_stream_error_message_and_ragged_split():
    with pytest.raises(ValueError, match="batch_size 11 exceeds the split's 10"):
        TrainStream(make_split(10), 11, 0)
    with pytest.raises(ValueError, match="leading dimension"):
        TrainStream({"a": np.zeros(3), "b": np.zeros(4)}, 1, 0)


def test_eval_batches_padding_and_weights():
    split = make_split(10)
    batches = list(eval_batches(split, 4))
    assert len(batches) == 3
    for b in batches:
        assert set(b) == {"inputs", "targets", "weights"}
        assert b["inputs"].shape == (4, 2) and b["targets"].shape == (4,)
        assert b["weights"].dtype == np.float32 and b["inputs"].dtype == np.float32
    np.testing.assert_array_equal(batches[-1]["weights"], [1, 1, 0, 0])
    np.testing.assert_array_equal(batches[-1]["inputs"][2:], 0)
    np.testing.assert_array_equal(batches[-1]["targets"][2:], 0)
    assert sum(b["weights"].sum() for b in batches) == 10
    mask = np.concatenate([b["weights"] for b in batches]) == 1
    for k in split:
        np.testing.assert_array_equal(np.concatenate([b[k] for b in batches])[mask], split[k])


def test_eval_batches_exact_and_oversized():
    full = list(eval_batches(make_split(8), 4))
    assert len(full) == 2 and all(b["weights"].all() for b in full)
    (single,) = eval_batches(make_split(3), 16)
    assert single["inputs"].shape == (16, 2) and single["weights"].sum() == 3
    with pytest.raises(ValueError):
        list(eval_batches({"inputs": np.zeros(2), "weights": np.ones(2)}, 2))


def test_train_eval_subset():
    split = make_split(50)
    sub = train_eval_subset(split, 20)
    assert sub["targets"].shape == (20,) and len(np.unique(sub["targets"])) == 20
    np.testing.assert_array_equal(sub["inputs"][:, 0], 2 * sub["targets"])
    assert np.all(np.diff(sub["targets"]) > 0)
    np.testing.assert_array_equal(train_eval_subset(split, 20)["targets"], sub["targets"])
    assert not np.array_equal(train_eval_subset(split, 20, seed=1)["targets"], sub["targets"])
    with pytest.raises(ValueError):
        train_eval_subset(split, 51)


def test_shard_batch():
    batch = make_split(8)
    shards = [shard_batch(batch, 4, i) for i in range(4)]
    for s in shards:
        assert s["inputs"].shape == (2, 2) and s["targets"].shape == (2,)
    for k in batch:
        np.testing.assert_array_equal(np.concatenate([s[k] for s in shards]), batch[k])
    np.testing.assert_array_equal(shard_batch(batch, 1, 0)["targets"], batch["targets"])
    with pytest.raises(ValueError, match="not divisible"):
        shard_batch(batch, 3, 0)
    for bad_index in (-1, 4):
        with pytest.raises(ValueError, match="shard index"):
            shard_batch(batch, 4, bad_index)
    with pytest.raises(ValueError):
        shard_batch(batch, 0, 0)
