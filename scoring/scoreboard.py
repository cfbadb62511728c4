"""What scoring returns: a `Scoreboard` for one ruleset and one scope (a framework, or `CROSS`, every
framework in one profile), and the error it raises when results cannot be scored as asked."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from scoring.completeness import RunSize


class ScoringInputError(ValueError):
    """The results cannot be scored as asked (no trials, an unknown ruleset or baseline)."""


CROSS = "cross-framework"


@dataclass(frozen=True)
class Scoreboard:
    """Everything `score_results` computes for one ruleset.

    Attributes:
      ruleset: `external` or `self`.
      scope: the framework whose entries are ranked here, or `cross-framework`.
      run: the run's size against the rules (its `label` goes into every output).
      settings: tau_max, variant_rule, baseline, n_bootstrap, seed, confidence, normalize.
      leaderboard: one row per entry, best score first; `reached` counts the workloads whose
        time to target is finite, `within_tau` those also within tau_max of the fastest.
      workload_times: one row per (entry, workload): median time, interval, ratio, noise, and the
        best trial (hyperparameters, steps to target, seconds per step, folder).
      profile: the corners (tau, rho) of every entry's performance profile.
      pairwise: every pair of entries on every workload: time ratio, interval, verdict.
      problems: everything missing, failed, corrupt, duplicated or excluded.
      trials: the ruleset's trials, with their `entry` and `study_best` (the trial that sets its
        study's time).
      curves: the ruleset's training curves, with their `entry`.
      workloads: every workload with logs (variants included); scored_workloads: those in the score.
      notes: one line each: the run size, the score's definition, the bootstrap, the noise, ...
      score_replicates: the score of every entry (a column each) on every bootstrap replicate,
        for statistics of the scores beyond their intervals (scoring/analysis.py).
    """

    ruleset: str
    scope: str
    run: RunSize
    settings: dict
    leaderboard: pd.DataFrame
    workload_times: pd.DataFrame
    profile: pd.DataFrame
    pairwise: pd.DataFrame
    problems: pd.DataFrame
    trials: pd.DataFrame
    curves: pd.DataFrame
    workloads: list[str]
    scored_workloads: list[str]
    notes: list[str]
    score_replicates: pd.DataFrame
