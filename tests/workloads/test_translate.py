"""The translate family: the CMU dictionary data (encoding, determinism, word-disjoint splits,
padding), greedy decoding (causal, the same in both frameworks, source padding changes nothing)
and the phoneme error rate / BLEU metric on hand-computed cases. Parity is in test_parity.py."""

from __future__ import annotations

import numpy as np
import pytest

from workloads.data import cmudict_g2p
from workloads.data.cmudict_g2p import (
    BOS,
    EOS,
    MAX_LETTERS,
    MAX_PHONEMES,
    PAD,
    PHONEMES,
    SOURCE_SYMBOLS,
    decode_phonemes,
    encode_pairs,
)
from workloads.metrics import phoneme_error_rate
from workloads.registry import PENDING, REGISTRY
from workloads.spec import ForwardPassMode
from workloads.workload_base import example_batch

SPECS = {**REGISTRY, **PENDING}
NAMES = sorted(n for n, s in SPECS.items() if s.family == "translate")


def phoneme_id(name: str) -> int:
    return PHONEMES.index(name) + 3


# -- data ---------------------------------------------------------------------------------------

def test_encode_pairs_layout_and_stress_stripped():
    out = encode_pairs([("cat", ["K", "AE1", "T"]), ("o'k", ["OW2", "K", "EY1"])])
    assert {k: (v.shape, v.dtype) for k, v in out.items()} == {
        "inputs": ((2, MAX_LETTERS), np.int32), "decoder_inputs": ((2, MAX_PHONEMES + 1), np.int32),
        "targets": ((2, MAX_PHONEMES + 1), np.int32)}
    cat = [phoneme_id("K"), phoneme_id("AE"), phoneme_id("T")]
    np.testing.assert_array_equal(out["inputs"][0], [3, 1, 20] + [PAD] * (MAX_LETTERS - 3))
    np.testing.assert_array_equal(out["inputs"][1, :3], [15, SOURCE_SYMBOLS.index("'") + 1, 11])
    np.testing.assert_array_equal(out["decoder_inputs"][0], [BOS, *cat] + [PAD] * (MAX_PHONEMES - 3))
    np.testing.assert_array_equal(out["targets"][0], [*cat, EOS] + [PAD] * (MAX_PHONEMES - 3))
    assert decode_phonemes(out["targets"][1]) == ["OW", "K", "EY"]
    assert decode_phonemes(out["decoder_inputs"][0]) == ["K", "AE", "T"]
    with pytest.raises(ValueError):
        encode_pairs([("a" * (MAX_LETTERS + 1), ["AH0"])])


@pytest.fixture(scope="module")
def splits(tmp_path_factory):
    """The real data, built into a fresh cache (about 3 to 8 s)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("ALGOBENCH_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    try:
        yield cmudict_g2p.load_cmudict_g2p()
    finally:
        mp.undo()


def words(split) -> list[str]:
    return ["".join(SOURCE_SYMBOLS[i - 1] for i in row if i) for row in split["inputs"]]


def test_data_sizes_and_word_disjoint_splits(splits):
    sizes = {name: len(split["targets"]) for name, split in splits.items()}
    assert sizes == {"train": 123289, "validation": 1000, "test": 1000}
    by_split = {name: words(split) for name, split in splits.items()}
    for name, ws in by_split.items():
        assert len(set(ws)) == len(ws), name  # a word once, with its first pronunciation
        assert ws == sorted(ws), name
    assert not set(by_split["train"]) & set(by_split["validation"])
    assert not set(by_split["train"]) & set(by_split["test"])
    assert not set(by_split["validation"]) & set(by_split["test"])


def test_data_padding_and_teacher_forcing(splits):
    for name, split in splits.items():
        inputs, dec, targets = split["inputs"], split["decoder_inputs"], split["targets"]
        assert all(v.dtype == np.int32 for v in split.values())
        length = (inputs > 0).sum(1)
        assert length.min() >= 1 and np.all(inputs[np.arange(MAX_LETTERS) >= length[:, None]] == PAD)
        assert inputs.max() == len(SOURCE_SYMBOLS) or name != "train"
        phonemes = (targets > EOS).sum(1)  # each target: phonemes, EOS, then padding
        assert phonemes.min() >= 1
        rows = np.arange(len(targets))
        assert np.all(targets[rows, phonemes] == EOS)
        assert np.all(targets[np.arange(MAX_PHONEMES + 1) > phonemes[:, None]] == PAD)
        assert np.all(dec[:, 0] == BOS)
        shifted = np.where(targets == EOS, PAD, targets)[:, :-1]  # decoder inputs = BOS + targets
        np.testing.assert_array_equal(dec[:, 1:], shifted)


def test_data_is_deterministic_and_cached(splits, tmp_path, monkeypatch):
    monkeypatch.setenv("ALGOBENCH_CACHE_DIR", str(tmp_path))
    again = cmudict_g2p.load_cmudict_g2p()  # built again, in another cache
    assert len([p for p in tmp_path.glob("cmudict_g2p-*") if p.is_dir()]) == 1
    for name in splits:
        for key in splits[name]:
            np.testing.assert_array_equal(splits[name][key], again[name][key], err_msg=f"{name}.{key}")
    cached = cmudict_g2p.load_cmudict_g2p()
    np.testing.assert_array_equal(cached["test"]["targets"], again["test"]["targets"])


def test_known_word(splits):
    ws = words(splits["train"])
    i = ws.index("phoneme")
    assert decode_phonemes(splits["train"]["targets"][i]) == ["F", "OW", "N", "IY", "M"]


# -- metric -------------------------------------------------------------------------------------

def ids(*rows, length=8):
    """Rows of phoneme ids padded with PAD to `length`."""
    return np.array([list(r) + [PAD] * (length - len(r)) for r in rows], np.int64)


def test_phoneme_error_rate_by_hand():
    a, b, c, d, e = (phoneme_id(p) for p in ("K", "AE", "T", "S", "D"))
    targets = ids([a, b, c, EOS], [a, b, c, d, e, EOS], [d, EOS])
    # one substitution; one deletion + the tokens after EOS ignored; padding row (weight 0)
    hyps = ids([a, b, d, EOS], [a, b, c, d, EOS, e, e, e], [a, a, a, a, a, EOS])
    batch = {"targets": targets, "weights": np.array([1, 1, 0], np.float32)}
    m = phoneme_error_rate(hyps, batch)
    assert m["phoneme_error_rate"] == pytest.approx(2 / 8)  # (1 + 1) errors over 3 + 5 phonemes
    assert m["word_error_rate"] == 1.0 and m["num_examples"] == 2
    assert phoneme_error_rate(targets, batch)["phoneme_error_rate"] == 0.0
    assert phoneme_error_rate(targets, batch)["bleu"] == pytest.approx(100.0)


def test_bleu_by_hand():
    ref = [phoneme_id(p) for p in ("K", "AE", "T", "S", "D")]
    hyp = ref[:4] + [phoneme_id("T")]  # 1- to 4-gram precisions 4/5, 3/4, 2/3, 1/2; same length
    m = phoneme_error_rate(ids(hyp + [EOS]), {"targets": ids(ref + [EOS]), "weights": np.ones(1)})
    assert m["bleu"] == pytest.approx(100 * (0.8 * 0.75 * (2 / 3) * 0.5) ** 0.25, rel=1e-6)
    assert m["phoneme_error_rate"] == pytest.approx(1 / 5)


def test_metric_reads_argmax_of_logits_and_their_loss():
    rng = np.random.default_rng(0)
    targets = ids([5, 6, 7, EOS], [8, EOS])
    logits = rng.standard_normal((2, 8, 42)).astype(np.float32)
    batch = {"targets": targets, "weights": np.ones(2, np.float32)}
    m = phoneme_error_rate(logits, batch)
    assert m["phoneme_error_rate"] == phoneme_error_rate(logits.argmax(-1), batch)["phoneme_error_rate"]
    log_p = logits - np.log(np.exp(logits.astype(np.float64)).sum(-1, keepdims=True))
    scored = [(0, 0), (0, 1), (0, 2), (0, 3), (1, 0), (1, 1)]  # phonemes and EOS
    expected = -np.mean([log_p[i, t, targets[i, t]] for i, t in scored])
    assert m["loss"] == pytest.approx(expected, rel=1e-6)


# -- model: decoding ----------------------------------------------------------------------------

def workload(framework: str, spec):
    if framework == "pytorch":
        from harness.pytorch_backend import make_rng
        from workloads.pytorch_workload import PyTorchWorkload as Workload
    else:
        from harness.jax_backend import make_rng
        from workloads.jax_workload import JaxWorkload as Workload
    w = Workload(spec)
    return (w, *w.init_model_fn(make_rng(3)))


def teacher_forced(framework, w, params, state, batch):
    logits, _ = w.model_fn(params, w.to_device(batch), state, ForwardPassMode.EVAL, None, False)
    return logits.detach().numpy() if framework == "pytorch" else np.asarray(logits)


@pytest.mark.parametrize("framework", ["pytorch", "jax"])
def test_decoding_is_greedy_and_causal(framework):
    """Each step's logits are the teacher-forced logits of the decoded prefix: feeding the
    decoded ids back as decoder inputs reproduces them (so no step saw a later one)."""
    spec = SPECS["translate"]
    w, params, state = workload(framework, spec)
    batch = example_batch(spec, 8, seed=1)
    decoded = w.eval_outputs(params, state, batch)
    assert decoded.shape == (8, MAX_PHONEMES + 1, spec.num_outputs)
    prefix = np.concatenate([np.full((8, 1), BOS), decoded.argmax(-1)[:, :-1]], 1).astype(np.int32)
    forced = teacher_forced(framework, w, params, state, {**batch, "decoder_inputs": prefix})
    np.testing.assert_allclose(decoded, forced, atol=1e-4)
    # the decoder inputs of the batch are not read at eval
    other = {**batch, "decoder_inputs": np.zeros_like(batch["decoder_inputs"])}
    np.testing.assert_array_equal(w.eval_outputs(params, state, other), decoded)


@pytest.mark.parametrize("name", NAMES)
def test_decoded_ids_identical_in_both_frameworks(name):
    spec = SPECS[name]
    batch = example_batch(spec, 64, seed=2)
    out = {fw: workload(fw, spec) for fw in ("pytorch", "jax")}
    decoded = {fw: w.eval_outputs(p, s, batch) for fw, (w, p, s) in out.items()}
    np.testing.assert_array_equal(decoded["pytorch"].argmax(-1), decoded["jax"].argmax(-1))
    np.testing.assert_allclose(decoded["pytorch"], decoded["jax"], atol=1e-4)


@pytest.mark.parametrize("framework", ["pytorch", "jax"])
def test_source_padding_changes_nothing(framework):
    """Padding symbols are masked out of attention: changing the PAD embedding and the position
    embeddings past the longest word changes neither the decoding nor the forward pass."""
    spec = SPECS["translate"]
    w, params, state = workload(framework, spec)
    batch = example_batch(spec, 8, seed=3)
    batch["inputs"][:, 10:] = PAD
    values = {k: np.array(v) for k, v in w.to_canonical(params, state).items()}
    values["src_embed/embedding"][PAD] += 5.0
    values["src_pos/embedding"][10:] -= 3.0
    params2, state2 = w.from_canonical(values)
    np.testing.assert_allclose(w.eval_outputs(params2, state2, batch), w.eval_outputs(params, state, batch),
                               atol=1e-5)
    np.testing.assert_allclose(teacher_forced(framework, w, params2, state2, batch),
                               teacher_forced(framework, w, params, state, batch), atol=1e-5)
