"""Time to target of one trial, and the best trial of each study.

The time-to-target clock is accumulated submission time (the `score` column of
eval_measurements.csv, docs/log_format.md). A trial's time to target is `score` at the first
evaluation row whose `validation/<target_metric>` meets `validation_target` (inclusive: `>=`, or
`<=` when the metric is lower-is-better); it is infinite when no row does. Per study, the best
trial counts: the minimum time to target over its trials, whatever eval index each trial reached
the target at.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from workloads.spec import meets_target

INF = math.inf


def time_to_target(
    evals: Sequence[Mapping[str, Any]],
    target_metric: str,
    validation_target: float,
    lower_is_better: bool,
) -> float:
    """Submission time (`score`) at the first eval row whose validation metric meets the target.

    Args:
      evals: the eval rows of one trial in step order (as `harness.logs.read_trial` returns them).
      target_metric: the metric the targets refer to, e.g. `accuracy`; the column read is
        `validation/<target_metric>`.
      validation_target: the target value.
      lower_is_better: the metric's direction (`<=` instead of `>=`).

    Returns:
      Seconds of accumulated submission time, or `math.inf` when no row reaches the target.

    Raises:
      KeyError: rows exist but none has the `validation/<target_metric>` column.
    """
    column = f"validation/{target_metric}"
    if evals and not any(column in row for row in evals):
        raise KeyError(column)
    for row in evals:
        if meets_target(row.get(column), validation_target, lower_is_better):
            return float(row["score"])
    return INF


def study_time_array(
    trials: pd.DataFrame,
    entries: Sequence[str],
    workloads: Sequence[str],
    studies: Sequence[int],
) -> np.ndarray:
    """Best time per study, as an array of shape (len(entries), len(workloads), len(studies)).

    `trials` needs the columns `entry`, `workload`, `study` and `scored_time` (a trial's time to
    target when it counts, else inf). A cell with no trial at all (a missing study or workload)
    is inf: missing work counts as unsolved.
    """
    out = np.full((len(entries), len(workloads), len(studies)), INF)
    e_index = {e: i for i, e in enumerate(entries)}
    w_index = {w: i for i, w in enumerate(workloads)}
    s_index = {s: i for i, s in enumerate(studies)}
    best = trials.groupby(["entry", "workload", "study"], sort=True)["scored_time"].min()
    for (entry, workload, study), value in best.items():
        if entry in e_index and workload in w_index and study in s_index:
            out[e_index[entry], w_index[workload], s_index[study]] = value
    return out


def best_trials(trials: pd.DataFrame) -> pd.DataFrame:
    """The winning trial of every study: one row per (entry, workload, study).

    The winner is the trial with the smallest `scored_time` (ties: the lowest trial index);
    studies where no trial counts keep their lowest-index trial with an infinite time.
    """
    keys = ["entry", "workload", "study"]
    ordered = trials.sort_values([*keys, "scored_time", "trial"], kind="mergesort")
    return ordered.drop_duplicates(keys, keep="first").reset_index(drop=True)
