"""Uncertainty: a seeded bootstrap over studies, timing noise, and pairwise comparisons.

The per-workload time of a submission is the median over its studies of each study's best time.
A bootstrap replicate resamples, for every (submission, workload) cell independently, that cell's
studies with replacement and takes the median again; every statistic derived from the times
(ratios, scores, speedups) is recomputed per replicate, and its interval is the percentile
interval of the replicates. Each cell's resampling is seeded from the seed and the cell's names,
so the draws of a cell do not depend on which other submissions or workloads are scored.
"""

from __future__ import annotations

import warnings
import zlib
from collections.abc import Sequence

import numpy as np
import pandas as pd

N_BOOTSTRAP = 1000
CONFIDENCE = 0.95


def cell_rng(seed: int, entry: str, workload: str) -> np.random.Generator:
    """The random generator of one (entry, workload) cell: a function of the seed and the names."""
    words = [zlib.crc32(entry.encode()), zlib.crc32(workload.encode())]
    return np.random.default_rng(np.random.SeedSequence([seed, *words]))


def bootstrap_medians(
    study_times: np.ndarray,
    entries: Sequence[str],
    workloads: Sequence[str],
    n_bootstrap: int = N_BOOTSTRAP,
    seed: int = 0,
) -> np.ndarray:
    """Bootstrap replicates of the per-workload median time.

    Args:
      study_times: best time per study, shape (entries, workloads, studies); inf = unsolved.
      entries, workloads: names of the first two axes (they seed each cell's draws).
      n_bootstrap: number of replicates.
      seed: the base seed.

    Returns:
      Array of shape (n_bootstrap, entries, workloads).
    """
    n_entries, n_workloads, n_studies = study_times.shape
    out = np.empty((n_bootstrap, n_entries, n_workloads))
    for i, entry in enumerate(entries):
        for j, workload in enumerate(workloads):
            picks = cell_rng(seed, entry, workload).integers(0, n_studies, size=(n_bootstrap, n_studies))
            out[:, i, j] = np.median(study_times[i, j][picks], axis=-1)
    return out


def interval(samples: np.ndarray, confidence: float = CONFIDENCE) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval over axis 0, ignoring NaN replicates; no interpolation, so infinite
    replicates give infinite bounds rather than NaN."""
    tail = (1.0 - confidence) / 2.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices give NaN bounds
        low, high = np.nanquantile(samples, [tail, 1.0 - tail], axis=0, method="inverted_cdf")
    return low, high


def timing_noise(study_times: np.ndarray) -> np.ndarray:
    """Coefficient of variation (sample std / mean) of the finite per-study times of every cell.

    Shape (entries, workloads); NaN for cells with fewer than two finite study times. It measures
    how much a time moves from study to study: hardware timing noise, seeds and (external tuning)
    the different hyperparameter points of each study together.
    """
    out = np.full(study_times.shape[:2], np.nan)
    for index in np.ndindex(*study_times.shape[:2]):
        finite = study_times[index][np.isfinite(study_times[index])]
        if len(finite) >= 2 and finite.mean() > 0:
            out[index] = finite.std(ddof=1) / finite.mean()
    return out


def time_ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """`a / b` for times, with two infinite (unsolved) times giving 1 (a tie)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.isinf(a) & np.isinf(b), 1.0, a / b)


def compare(
    time_a: float,
    time_b: float,
    replicates_a: np.ndarray,
    replicates_b: np.ndarray,
    studies: int,
    confidence: float = CONFIDENCE,
) -> dict:
    """Whether A is faster than B on one workload beyond the noise.

    The verdict is `A faster` when the bootstrap interval of `t_A / t_B` lies below 1, `B faster`
    when it lies above 1, `within noise` when it contains 1, `both unsolved` when neither reached
    the target, and `one study: no noise estimate` when there is a single study to resample.
    """
    ratio = float(time_ratio(time_a, time_b))
    low, high = map(float, interval(time_ratio(replicates_a, replicates_b), confidence))
    if np.isinf(time_a) and np.isinf(time_b):
        verdict = "both unsolved"
    elif studies < 2:
        verdict = "one study: no noise estimate"
    elif high < 1.0:
        verdict = "A faster"
    elif low > 1.0:
        verdict = "B faster"
    else:
        verdict = "within noise"
    return {"ratio": ratio, "ratio_ci_low": low, "ratio_ci_high": high, "verdict": verdict}


def pairwise_comparisons(
    times: np.ndarray,
    replicates: np.ndarray,
    entries: Sequence[str],
    workloads: Sequence[str],
    studies: int,
    confidence: float = CONFIDENCE,
) -> pd.DataFrame:
    """`compare` for every workload and every pair of entries (A before B in entry order)."""
    rows = []
    for w, workload in enumerate(workloads):
        for i, a in enumerate(entries):
            for j in range(i + 1, len(entries)):
                result = compare(times[i, w], times[j, w], replicates[:, i, w], replicates[:, j, w],
                                 studies, confidence)
                verdict = {"A faster": f"{a} faster", "B faster": f"{entries[j]} faster"}.get(
                    result["verdict"], result["verdict"])
                rows.append({"workload": workload, "a": a, "b": entries[j],
                             "time_a": times[i, w], "time_b": times[j, w],
                             **result, "verdict": verdict})
    columns = ["workload", "a", "b", "time_a", "time_b", "ratio", "ratio_ci_low", "ratio_ci_high", "verdict"]
    return pd.DataFrame(rows, columns=columns)
