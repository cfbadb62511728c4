"""How much of a run is there: its size against the rules, and what is missing, failed or excluded.

The expected grid of a scored ruleset is every entry × every workload × every study index × every
trial index seen anywhere in that ruleset's logs. What the grid expects and the logs lack counts
as unsolved and is reported; so are trials that ran but do not count (failed, diverged, never
finished, or over budget).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from harness.study import DEFAULT_STUDIES, DEFAULT_TRIALS
from harness.task import RULESETS
from scoring.tables import PROBLEM_COLUMNS, problem

# The rules' defaults (studies, trials per study) per ruleset (docs/architecture.md, "Rulesets").
RULES = {ruleset: (DEFAULT_STUDIES, DEFAULT_TRIALS[ruleset]) for ruleset in RULESETS}


def _plural(n: int, word: str) -> str:
    if n == 1:
        return f"{n} {word}"
    return f"{n} {word[:-1]}ies" if word.endswith("y") else f"{n} {word}s"


@dataclass(frozen=True)
class RunSize:
    """The number of studies and trials per study of a run, and whether the rules call it full."""

    ruleset: str
    studies: int
    trials: int

    @property
    def is_development(self) -> bool:
        """Fewer than 3 studies × 5 trials (external) or fewer than 3 studies (self-tuning)."""
        want_studies, want_trials = RULES.get(self.ruleset, RULES["external"])
        return self.studies < want_studies or self.trials < want_trials

    @property
    def label(self) -> str:
        """E.g. 'development run: 1 study x 2 trials; the rules ask for 3 x 5'."""
        want_studies, want_trials = RULES.get(self.ruleset, RULES["external"])
        if self.ruleset == "self":
            size, rule = _plural(self.studies, "study"), f"{want_studies}"
        else:
            size = f"{_plural(self.studies, 'study')} x {_plural(self.trials, 'trial')}"
            rule = f"{want_studies} x {want_trials}"
        if self.is_development:
            return f"development run: {size}; the rules ask for {rule}"
        return f"full run: {size}"


def run_size(ruleset: str, studies: Sequence[int], trials: Sequence[int]) -> RunSize:
    """The size of a run whose grid has these study and trial indices."""
    return RunSize(ruleset=ruleset, studies=len(studies), trials=len(trials))


def excluded_trial_problems(trials: pd.DataFrame) -> list[dict]:
    """A problem row for every trial whose time does not count (its `excluded` is non-empty)."""
    out = []
    for row in trials[trials["excluded"] != ""].itertuples(index=False):
        key = {k: getattr(row, k) for k in ("submission", "ruleset", "framework", "workload")}
        if row.excluded == "over_budget":
            message = (
                f"time to target {row.time_to_target:g} s exceeds the budget "
                f"{row.budget_sec:g} s; counted as unsolved"
            )
        elif row.excluded == "running":
            message = "trial never finished (status running); counted as unsolved"
        else:
            cause = row.error or f"stop reason {row.stop_reason or 'none'}"
            message = f"trial {row.excluded} ({cause}); counted as unsolved"
        out.append(problem(row.excluded, message, path=row.path, study=row.study, trial=row.trial, **key))
    return out


def missing_problems(
    trials: pd.DataFrame,
    entries: pd.DataFrame,
    workloads: Sequence[str],
    studies: Sequence[int],
    trial_ids: Sequence[int],
) -> list[dict]:
    """A problem row for every hole in the expected grid.

    One row per entry and workload with no trial at all, else one per study with no trial, else
    one per missing trial index.

    Args:
      trials: the scored ruleset's trials, with an `entry` column.
      entries: one row per entry with columns `entry`, `submission`, `ruleset`, `framework`.
      workloads, studies, trial_ids: the expected grid.
    """
    present = set(zip(trials["entry"], trials["workload"], trials["study"], trials["trial"]))
    cells = {(e, w) for e, w, _, _ in present}
    study_cells = {(e, w, s) for e, w, s, _ in present}
    out = []
    for entry in entries.itertuples(index=False):
        key = dict(submission=entry.submission, ruleset=entry.ruleset, framework=entry.framework)
        for w in workloads:
            if (entry.entry, w) not in cells:
                out.append(problem("missing", f"no trials of workload {w}; counted as unsolved",
                                   workload=w, **key))
                continue
            for s in studies:
                if (entry.entry, w, s) not in study_cells:
                    out.append(problem("missing", f"no trials of study {s}; counted as unsolved",
                                       workload=w, study=s, **key))
                    continue
                for t in trial_ids:
                    if (entry.entry, w, s, t) not in present:
                        out.append(problem("missing", f"trial {t} of study {s} has no log",
                                           workload=w, study=s, trial=t, **key))
    return out


def problems_table(rows: list[dict]) -> pd.DataFrame:
    """Problem rows as a table in a fixed order (kind, then key, then path)."""
    table = pd.DataFrame(rows, columns=PROBLEM_COLUMNS).astype(str)
    order = ["kind", "submission", "ruleset", "framework", "workload", "study", "trial", "path"]
    numeric = ("study", "trial")
    table = table.sort_values(
        order, kind="mergesort", key=lambda c: c.str.zfill(12) if c.name in numeric else c
    )
    return table.reset_index(drop=True)
