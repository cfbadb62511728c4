"""Evaluation metrics, computed in NumPy from a model's outputs so that both frameworks agree exactly.

A metric function maps (outputs, batch) for a whole split to its metrics. `outputs` and every array
of `batch` hold the split's examples in order, padding included; `batch["weights"]` is 1 for a real
example and 0 for padding, so every metric ignores padding. The harness concatenates the eval
batches before calling it, because some metrics (average precision, AUC) do not decompose into
per-batch sums.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

Metrics = dict[str, float]


def _weights(batch: dict[str, np.ndarray]) -> np.ndarray:
    n = len(batch["targets"])
    return batch.get("weights", np.ones(n, np.float32)).astype(np.float64)


def _weights_like(batch: dict[str, np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
    """The batch's weights broadcast to `shape`: per-example weights (N,) over (N, positions)."""
    w = _weights(batch)
    return np.broadcast_to(w.reshape(*w.shape, *[1] * (len(shape) - w.ndim)), shape)


# Metrics over a whole split work through it in chunks of about this many elements (1 MiB of
# float64): measured in real trials (docs/scoring.md#what-an-eval-costs), `lm`'s cross-entropy over
# its whole validation split at once took 0.03-0.64 s after training steps had run (the kernel
# supplying fresh memory for the 34 MB temporaries: CPU time, not waiting), and 0.014 s in chunks.
CHUNK_ELEMENTS = 2**17


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    logits = logits.astype(np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _sigmoid_cross_entropy(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Elementwise binary cross-entropy of logits against 0/1 targets, in float64 (stable form)."""
    x = logits.astype(np.float64)
    return np.maximum(x, 0) - x * targets + np.log1p(np.exp(-np.abs(x)))


def _chunks(n: int, row_size: int) -> list[slice]:
    """Slices of `n` rows of `row_size` elements each, about `CHUNK_ELEMENTS` elements a slice."""
    rows = max(1, CHUNK_ELEMENTS // max(row_size, 1))
    return [slice(start, start + rows) for start in range(0, n, rows)]


def classification(outputs: np.ndarray, batch: dict[str, np.ndarray]) -> Metrics:
    """Accuracy and softmax cross-entropy (no label smoothing) over the real examples: outputs
    (N, classes) and targets (N,), or, for sequences, outputs (N, positions, classes) and targets
    (N, positions) with weights (N,) or (N, positions); then every real position counts once and
    `num_examples` counts positions. Computed a chunk of examples at a time (`_chunks`): the same
    values, without a whole split's float64 temporaries."""
    targets = batch["targets"].astype(np.int64)
    w = _weights_like(batch, targets.shape)
    nll, correct = np.empty(targets.shape), np.empty(targets.shape)
    for rows in _chunks(len(targets), outputs[0].size):
        nll[rows] = -np.take_along_axis(_log_softmax(outputs[rows]), targets[rows, ..., None], axis=-1)[..., 0]
        correct[rows] = outputs[rows].argmax(axis=-1) == targets[rows]
    n = w.sum()
    return {"accuracy": float((correct * w).sum() / n), "loss": float((nll * w).sum() / n),
            "num_examples": float(n)}


def binary_classification(outputs: np.ndarray, batch: dict[str, np.ndarray]) -> Metrics:
    """Click-through style: `loss` is the mean log-loss (binary cross-entropy of the logits), `auc`
    the ROC AUC (scikit-learn), over the real examples. Outputs and targets have shape (N,)."""
    from sklearn.metrics import roc_auc_score  # lazy: sklearn takes about 1 s to import

    w = _weights(batch)
    real = w > 0
    logits, targets = outputs.reshape(-1)[real], batch["targets"].reshape(-1)[real].astype(np.float64)
    loss = _sigmoid_cross_entropy(logits, targets)
    auc = roc_auc_score(targets, logits) if 0 < targets.sum() < len(targets) else float("nan")
    return {"loss": float(loss.mean()), "auc": float(auc), "num_examples": float(real.sum())}


def multilabel_average_precision(outputs: np.ndarray, batch: dict[str, np.ndarray]) -> Metrics:
    """OGBG-molpcba's metric: average precision (scikit-learn) of each task over the real examples,
    averaged over the tasks that have both a positive and a negative example; `loss` is the mean
    binary cross-entropy over all real (example, task) pairs. Outputs and targets: (N, tasks)."""
    from sklearn.metrics import average_precision_score  # lazy: sklearn takes about 1 s to import

    real = _weights(batch) > 0
    logits, targets = outputs[real].astype(np.float64), batch["targets"][real].astype(np.float64)
    per_task = [average_precision_score(targets[:, t], logits[:, t])
                for t in range(targets.shape[1]) if 0 < targets[:, t].sum() < len(targets)]
    return {"mean_average_precision": float(np.mean(per_task)) if per_task else float("nan"),
            "loss": float(_sigmoid_cross_entropy(logits, targets).mean()),
            "num_examples": float(real.sum())}


def language_model(outputs: np.ndarray, batch: dict[str, np.ndarray]) -> Metrics:
    """Next-token prediction: `classification` over every real position of outputs (N, positions,
    vocabulary) and targets (N, positions), so `loss` is the cross-entropy per token (nats),
    plus `perplexity` = exp(loss) and `bits_per_token` = loss / ln 2."""
    metrics = classification(outputs, batch)
    loss = metrics["loss"]
    return {**metrics, "perplexity": float(np.exp(loss)), "bits_per_token": float(loss / np.log(2.0))}


def phoneme_error_rate(outputs: np.ndarray, batch: dict[str, np.ndarray]) -> Metrics:
    """Greedy-decoding metrics of a sequence-to-sequence model (the `translate` family): `outputs`
    are the logits of its decoding (N, positions, vocab) (or decoded ids (N, positions)); the
    hypothesis is their argmax up to the first EOS (or PAD), the reference `targets` up to its EOS.
    `phoneme_error_rate`: edit distance (`editdistance`) summed over the real examples, divided
    by the summed reference lengths. `word_error_rate`: the fraction of examples not decoded
    exactly. `bleu`: sacrebleu's corpus BLEU (0-100) of the phoneme strings. `loss`: softmax
    cross-entropy of the logits at the reference's positions, EOS included (the teacher-forced
    loss while the decoded prefix matches the reference)."""
    import editdistance  # lazy: only sequence workloads need them
    import sacrebleu

    from workloads.data.cmudict_g2p import EOS, PAD

    targets = batch["targets"].astype(np.int64)
    weights = _weights(batch)
    real = weights.reshape(len(targets), -1).max(axis=1) > 0
    ids = outputs.argmax(axis=-1) if outputs.ndim == 3 else outputs.astype(np.int64)

    def until_eos(row: np.ndarray) -> list[int]:
        stop = np.flatnonzero((row == EOS) | (row == PAD))
        return row[: stop[0] if len(stop) else len(row)].tolist()

    hyps = [until_eos(row) for row in ids[real]]
    refs = [until_eos(row) for row in targets[real]]
    errors = sum(editdistance.eval(h, r) for h, r in zip(hyps, refs))
    length = sum(len(r) for r in refs)
    bleu = sacrebleu.corpus_bleu([" ".join(map(str, h)) for h in hyps],
                                 [[" ".join(map(str, r)) for r in refs]], tokenize="none")
    metrics = {"phoneme_error_rate": errors / max(length, 1),
               "word_error_rate": float(np.mean([h != r for h, r in zip(hyps, refs)])),
               "bleu": float(bleu.score), "num_examples": float(real.sum())}
    if outputs.ndim == 3:
        positions = np.arange(targets.shape[1])
        ref_len = np.array([len(r) for r in (until_eos(row) for row in targets)])
        scored = (positions[None, :] <= ref_len[:, None]) & real[:, None]  # the phonemes and EOS
        nll = -np.take_along_axis(_log_softmax(outputs), targets[..., None], axis=-1)[..., 0]
        metrics["loss"] = float(nll[scored].sum() / max(scored.sum(), 1))
    return metrics


def ctc_loss(outputs: np.ndarray, labels: np.ndarray, blank: int = 0) -> np.ndarray:
    """Per-sequence CTC negative log-likelihood in float64 over every frame: outputs (N, frames,
    classes) logits, labels (N, max length) with `blank` as padding. The forward algorithm of
    Graves et al. (2006) in log space, vectorized over the batch; written out because neither
    NumPy nor SciPy has it (the frameworks' versions would tie the metric to one of them)."""
    log_probs = _log_softmax(outputs)
    n, frames, _ = log_probs.shape
    labels = labels.astype(np.int64)
    lengths = (labels != blank).sum(axis=1)
    states = 2 * labels.shape[1] + 1
    ext = np.full((n, states), blank, np.int64)
    ext[:, 1::2] = labels
    # a skip from s-2 to s is allowed onto a character that differs from the one before it
    skip = np.zeros((n, states), bool)
    skip[:, 2:] = (ext[:, 2:] != blank) & (ext[:, 2:] != ext[:, :-2])
    emit = np.take_along_axis(log_probs, np.broadcast_to(ext[:, None, :], (n, frames, states)), axis=2)
    alpha = np.full((n, states), -np.inf)
    alpha[:, 0] = emit[:, 0, 0]
    alpha[:, 1] = np.where(lengths > 0, emit[:, 0, 1], -np.inf)
    for t in range(1, frames):
        stay = alpha
        step = np.concatenate([np.full((n, 1), -np.inf), alpha[:, :-1]], axis=1)
        jump = np.where(skip, np.concatenate([np.full((n, 2), -np.inf), alpha[:, :-2]], axis=1), -np.inf)
        alpha = np.logaddexp(np.logaddexp(stay, step), jump) + emit[:, t]
    rows = np.arange(n)
    last = alpha[rows, 2 * lengths]
    before = np.where(lengths > 0, alpha[rows, np.maximum(2 * lengths - 1, 0)], -np.inf)
    return -np.logaddexp(last, before)


def ctc_greedy_decode(outputs: np.ndarray, blank: int = 0) -> list[list[int]]:
    """Best-path decoding: the argmax class of every frame, repeats merged, blanks removed."""
    ids = outputs.argmax(axis=-1)
    keep = (ids != blank) & np.concatenate([np.ones((len(ids), 1), bool), ids[:, 1:] != ids[:, :-1]], axis=1)
    return [row[k].tolist() for row, k in zip(ids, keep)]


def word_error_rate(outputs: np.ndarray, batch: dict[str, np.ndarray]) -> Metrics:
    """Speech recognition with CTC (the `conformer` and `deepspeech` families): `outputs` are
    logits (N, frames, classes) whose frames past an utterance's end are certain blanks; `targets`
    (N, max chars) hold character ids with 0 as padding. Hypotheses are the greedy (best-path)
    decodings. `word_error_rate`: word edit distance (`editdistance`) summed over the real
    utterances, divided by the summed reference word counts; `char_error_rate` the same over
    characters; `loss` the CTC loss per reference character (the training loss's normalization)."""
    import editdistance  # lazy: only sequence workloads need it

    from workloads.data.speech import decode_text

    real = _weights(batch) > 0
    targets = batch["targets"][real]
    hyps = [decode_text(ids) for ids in ctc_greedy_decode(outputs[real])]
    refs = [decode_text(ids) for ids in targets]
    word_errors = sum(editdistance.eval(h.split(), r.split()) for h, r in zip(hyps, refs))
    char_errors = sum(editdistance.eval(h, r) for h, r in zip(hyps, refs))
    chars = sum(len(r) for r in refs)
    return {"word_error_rate": word_errors / max(sum(len(r.split()) for r in refs), 1),
            "char_error_rate": char_errors / max(chars, 1),
            "loss": float(ctc_loss(outputs[real], targets).sum() / max(chars, 1)),
            "num_examples": float(real.sum())}


def _box_mean(x: np.ndarray, size: int) -> np.ndarray:
    """Mean over every size x size window of the last two axes that fits ('valid'), float64:
    scipy's separable running-sum filter (scikit-image's own way), cropped to the windows inside
    the image. An odd `size` only, as the metric uses."""
    # imported here: scipy.ndimage adds about 0.1 s to the start of every process that imports
    # this module, and only `ssim` needs it
    from scipy.ndimage import uniform_filter

    means = uniform_filter(x.astype(np.float64), size=(1,) * (x.ndim - 2) + (size, size))
    edge = size // 2
    return means[..., edge:-edge, edge:-edge]


def structural_similarity(x: np.ndarray, y: np.ndarray, data_range: np.ndarray, win: int = 7,
                          k1: float = 0.01, k2: float = 0.03) -> np.ndarray:
    """Mean SSIM of each image pair (..., H, W), as fastMRI's evaluation computes it with
    scikit-image's `structural_similarity` (7x7 uniform window, sample covariances, K1 0.01,
    K2 0.03, the mean over the windows that fit inside the image); `data_range` per pair."""
    r = np.asarray(data_range, np.float64)[..., None, None]
    c1, c2 = (k1 * r) ** 2, (k2 * r) ** 2
    ux, uy = _box_mean(x, win), _box_mean(y, win)
    cov_norm = win * win / (win * win - 1.0)
    vx = cov_norm * (_box_mean(x * x, win) - ux * ux)
    vy = cov_norm * (_box_mean(y * y, win) - uy * uy)
    vxy = cov_norm * (_box_mean(x * y, win) - ux * uy)
    s = (2 * ux * uy + c1) * (2 * vxy + c2) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return s.mean(axis=(-2, -1))


def ssim(outputs: np.ndarray, batch: dict[str, np.ndarray]) -> Metrics:
    """Image reconstruction (AlgoPerf's fastMRI): `ssim` is the mean structural similarity of the
    output and target images over the real examples, `loss` the mean absolute error (L1) of the
    normalized outputs. Outputs and targets (N, H, W) or (N, H, W, 1) hold images normalized by
    `batch["mean"]` and `batch["std"]` (N,); SSIM compares the images (x * std + mean), with the
    target image's maximum as the data range (fastMRI's convention)."""
    real = _weights(batch) > 0
    out = outputs.reshape(batch["targets"].shape)[real].astype(np.float64)
    target = batch["targets"][real].astype(np.float64)
    out, target = out.reshape(len(out), *out.shape[1:3]), target.reshape(len(target), *target.shape[1:3])
    mean = batch["mean"][real].astype(np.float64)[:, None, None]
    std = batch["std"][real].astype(np.float64)[:, None, None]
    images, truth = out * std + mean, target * std + mean
    per_image = np.concatenate([structural_similarity(images[rows], truth[rows], truth[rows].max(axis=(1, 2)))
                                for rows in _chunks(len(images), images[0].size)])
    return {"ssim": float(per_image.mean()), "loss": float(np.abs(out - target).mean()),
            "num_examples": float(real.sum())}


METRICS: dict[str, Callable[[np.ndarray, dict], Metrics]] = {
    "classification": classification,
    "binary_classification": binary_classification,
    "multilabel_average_precision": multilabel_average_precision,
    "ssim": ssim,
    "phoneme_error_rate": phoneme_error_rate,
    "language_model": language_model,
    "word_error_rate": word_error_rate,
}
