"""The speech families' shared pieces: the synthesized data (text encoding, phrases, features,
determinism of a small build), the CTC loss of both frameworks and of the metric (the same
numbers, and the identity that lets frames past an utterance's end be certain blanks instead of
passing lengths), and the word error rate on hand-computed cases."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
import torch

from workloads.data import speech
from workloads.data.speech import (
    ALPHABET,
    FRAME_SUBSAMPLING,
    MAX_CHARS,
    MAX_FRAMES,
    N_MELS,
    NUM_CLASSES,
    PADDED_CHARACTER_LOGIT,
    decode_text,
    encode_text,
    fits_ctc,
)
from workloads.jax_workload import _ctc_loss as jax_ctc_loss
from workloads.metrics import ctc_greedy_decode, ctc_loss, word_error_rate
from workloads.pytorch_workload import _ctc_loss as torch_ctc_loss

BLANK_LOGITS = np.array([0.0] + [PADDED_CHARACTER_LOGIT] * (NUM_CLASSES - 1), np.float32)


def test_text_encoding_round_trips_and_skips_blanks():
    ids = encode_text("o'er the sea")
    assert ids[0] == ALPHABET.index("o") + 1 and ids[1] == ALPHABET.index("'") + 1
    assert min(ids) >= 1 and max(ids) < NUM_CLASSES
    assert decode_text(ids + [0, 0]) == "o'er the sea"
    with pytest.raises(KeyError):
        encode_text("Sea!")


def test_fits_ctc_counts_repeated_characters():
    frames = 3 * FRAME_SUBSAMPLING  # three output frames
    assert fits_ctc(frames, encode_text("abc"))
    assert not fits_ctc(frames, encode_text("abb"))  # b, blank, b needs four
    assert fits_ctc(frames + 1, encode_text("abb"))  # a partial frame still gives an output frame


def test_mel_filterbank_and_log_mel_shapes():
    bank = speech._mel_filterbank(N_MELS, speech.N_FFT, speech.SAMPLE_RATE)
    assert bank.shape == (speech.N_FFT // 2 + 1, N_MELS)
    assert bank.min() >= 0.0 and bank.max() <= 1.0
    peaks = bank.argmax(axis=0)
    assert np.all(np.diff(peaks) >= 0) and peaks[-1] > peaks[0]  # filters rise in frequency
    n = speech.SAMPLE_RATE // 2
    tone = np.sin(2 * np.pi * 1000.0 * np.arange(n) / speech.SAMPLE_RATE)
    features = speech.log_mel(tone)
    assert features.shape == (1 + (n - speech.N_FFT) // speech.HOP, N_MELS)
    loudest = features.mean(axis=0).argmax()
    # the band whose filter peaks nearest 1 kHz holds the tone
    freqs = np.linspace(0, speech.SAMPLE_RATE / 2, speech.N_FFT // 2 + 1)
    assert abs(freqs[peaks[loudest]] - 1000.0) < 150.0


def test_phrases_come_from_the_vocabulary_and_held_out_ones_are_new():
    phrases = speech.phrases()
    assert all(len(p) <= MAX_CHARS for ps in phrases.values() for p in ps)
    assert all(2 <= len(p.split()) <= 4 for p in phrases["validation"][:2000])
    training = set(phrases["train"])
    assert not training & set(phrases["validation"]) and not training & set(phrases["test"])
    assert len(phrases["validation"]) > 1000 and len(phrases["test"]) > 1000


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A small build into a fresh cache: 12 training and 4 held-out utterances."""
    mp = pytest.MonkeyPatch()
    mp.setenv("ALGOBENCH_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    try:
        yield speech.load_speech(num_train=12, num_eval=4, seed=3)
    finally:
        mp.undo()


def test_small_build_shapes_padding_and_transcripts(small):
    assert {s: len(d["targets"]) for s, d in small.items()} == {"train": 12, "validation": 4, "test": 4}
    for split in small.values():
        assert split["inputs"].shape[1:] == (MAX_FRAMES, N_MELS) and split["inputs"].dtype == np.float32
        assert split["targets"].shape[1:] == (MAX_CHARS,) and split["targets"].dtype == np.int32
        real = split["input_paddings"] == 0
        for row, mask, ids in zip(split["inputs"], real, split["targets"]):
            frames = int(mask.sum())
            assert mask[:frames].all() and not mask[frames:].any()  # real frames first
            assert not row[frames:].any()  # zero after the end
            text = decode_text(ids)
            assert 2 <= len(text.split()) <= 4 and fits_ctc(frames, encode_text(text))
    frames = small["train"]["inputs"][small["train"]["input_paddings"] == 0]
    assert abs(frames.mean()) < 0.05 and abs(frames.std() - 1.0) < 0.05  # normalized on train


def test_small_build_is_deterministic_across_caches(small, tmp_path, monkeypatch):
    monkeypatch.setenv("ALGOBENCH_CACHE_DIR", str(tmp_path))
    again = speech.load_speech(num_train=12, num_eval=4, seed=3)
    for split in small:
        for key in small[split]:
            np.testing.assert_array_equal(small[split][key], again[split][key], err_msg=f"{split}.{key}")


def test_missing_espeak_names_the_install_command(monkeypatch):
    monkeypatch.setattr(speech.shutil, "which", lambda name: None)
    with pytest.raises(speech.EspeakNotFoundError, match="apt-get install espeak-ng"):
        speech.synthesize("hello", "en-us", 170, 50)


# -- CTC -----------------------------------------------------------------------------------------

def padded_logits(rng, lengths, frames=12):
    """Random logits whose frames past each length are certain blanks (the models' contract)."""
    logits = (2.0 * rng.standard_normal((len(lengths), frames, NUM_CLASSES))).astype(np.float32)
    for i, n in enumerate(lengths):
        logits[i, n:] = BLANK_LOGITS
    return logits


def labels_of(rows, width=6):
    out = np.zeros((len(rows), width), np.int32)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out


def test_blank_frames_past_the_end_equal_ctc_over_the_real_frames():
    rng = np.random.default_rng(0)
    lengths = [12, 9, 5, 7]
    labels = labels_of([[1, 2, 3], [4, 4, 5, 1], [7], [2, 2, 2]])
    logits = padded_logits(rng, lengths)
    log_probs = torch.from_numpy(logits).log_softmax(-1).transpose(0, 1)
    label_lengths = torch.from_numpy((labels > 0).sum(1))
    with_lengths = torch.nn.functional.ctc_loss(log_probs, torch.from_numpy(labels).long(),
                                                torch.tensor(lengths), label_lengths, reduction="none")
    np.testing.assert_allclose(ctc_loss(logits, labels), with_lengths.numpy(), rtol=1e-5)


def test_ctc_loss_is_the_same_in_both_frameworks_and_the_metric():
    rng = np.random.default_rng(1)
    labels = labels_of([[1, 2, 3], [4, 4, 5, 1], [7], [2, 2, 2], [3, 1, 4, 1, 5, 9]])
    logits = padded_logits(rng, [12, 10, 4, 8, 12])
    mask = np.array([1, 0, 1, 1, 1], np.float32)
    t = torch_ctc_loss(torch.from_numpy(labels), torch.from_numpy(logits), torch.from_numpy(mask))
    j = jax_ctc_loss(jnp.asarray(labels), jnp.asarray(logits), jnp.asarray(mask))
    reference = ctc_loss(logits, labels) * mask
    np.testing.assert_allclose(t["per_example"].numpy(), reference, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(j["per_example"]), reference, rtol=1e-5)
    chars = float(((labels > 0).sum(1) * mask).sum())
    assert float(t["n_valid_examples"]) == float(j["n_valid_examples"]) == chars
    assert float(t["summed"]) == pytest.approx(reference.sum(), rel=1e-5)
    assert float(j["summed"]) == pytest.approx(reference.sum(), rel=1e-5)


def test_ctc_loss_of_a_certain_alignment_is_zero():
    logits = np.tile(BLANK_LOGITS, (1, 5, 1))
    for t, c in enumerate([3, 3, 0, 3, 0]):  # "c c _ c _" -> "cc"
        logits[0, t] = np.roll(BLANK_LOGITS, c)
    assert ctc_loss(logits, labels_of([[3, 3]]))[0] == pytest.approx(0.0, abs=1e-6)
    assert ctc_loss(logits, labels_of([[3]]))[0] > 1000  # that alignment says "cc", not "c"


def test_greedy_decoding_merges_repeats_and_drops_blanks():
    ids = np.array([[3, 3, 0, 3, 1, 1, 0, 0], [0, 0, 0, 0, 0, 0, 0, 0]])
    outputs = np.eye(NUM_CLASSES, dtype=np.float32)[ids]
    assert ctc_greedy_decode(outputs) == [[3, 3, 1], []]


def one_hot_frames(texts, frames=40):
    """Outputs whose greedy decoding is each text (a blank after every character)."""
    out = np.tile(BLANK_LOGITS, (len(texts), frames, 1))
    for i, text in enumerate(texts):
        for j, c in enumerate(encode_text(text)):
            out[i, 2 * j] = np.roll(BLANK_LOGITS, c)
    return out


def test_word_error_rate_on_hand_computed_cases():
    refs = ["to be or not", "my good lord", "i am"]
    hyps = ["to be or nut", "my lord", "i am"]  # 1 substitution, 1 deletion, 0
    batch = {"targets": labels_of([encode_text(r) for r in refs], MAX_CHARS)}
    metrics = word_error_rate(one_hot_frames(hyps), batch)
    assert metrics["word_error_rate"] == pytest.approx(2 / 9)
    assert metrics["char_error_rate"] == pytest.approx(6 / 28)  # 1 + 5 ("good ") over 12 + 12 + 4
    assert metrics["num_examples"] == 3
    padded = {**batch, "weights": np.array([1, 1, 0], np.float32)}  # the third is padding
    assert word_error_rate(one_hot_frames(hyps), padded)["word_error_rate"] == pytest.approx(2 / 7)
    exact = word_error_rate(one_hot_frames(refs), batch)
    assert exact["word_error_rate"] == 0.0 and exact["loss"] == pytest.approx(0.0, abs=1e-5)


def test_gpu_batch_norm_sync_keeps_the_masked_batch_norm():
    """SyncBatchNorm takes no mask: data parallelism on GPUs converts every other batch norm."""
    from workloads.layers_pytorch import MaskedBatchNorm
    from workloads.pytorch_workload import sync_batch_norm

    model = torch.nn.Sequential(torch.nn.BatchNorm2d(3), torch.nn.Sequential(MaskedBatchNorm(4)))
    converted = sync_batch_norm(model)
    assert isinstance(converted[0], torch.nn.SyncBatchNorm)
    assert type(converted[1][0]) is MaskedBatchNorm
