"""What a leaderboard shows beyond its table: which entries it tells apart, whether it ranks them
as AlgoPerf did, and where each entry's time difference comes from.

- `score_separation`: every pair of entries, the difference of their scores with its bootstrap
  interval (from the same replicates as the scores' intervals), and whether it excludes 0.
- `workload_separation`: per workload, how many pairs the per-workload comparison
  (`Scoreboard.pairwise`) separates beyond noise.
- `fidelity`: Kendall's tau between our scores and AlgoPerf's published scores of the same
  algorithms (scoring/algoperf_published.json), with a bootstrap interval, and the pairs we order
  otherwise.
- `step_cost_decomposition`: per entry and workload, log(time / baseline's time) split exactly into
  log(seconds per step ratio) + log(steps to target ratio), from each cell's best trial.

All take a `Scoreboard` (scoring/scoreboard.py) and return DataFrames, so the docs' tables
(scripts/leaderboard_tables.py) and the report format them alike. docs/leaderboard.md.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from scoring.bootstrap import CONFIDENCE, interval

PUBLISHED_FILE = Path(__file__).resolve().parent / "algoperf_published.json"


def score_separation(board, confidence: float = CONFIDENCE) -> pd.DataFrame:
    """One row per pair of entries (higher score first): scores, difference, its interval, and
    `separated` when the interval excludes 0."""
    ranked = board.leaderboard.sort_values(["score", "entry"], ascending=[False, True])
    entries, scores = ranked["entry"].tolist(), ranked["score"].tolist()
    replicates = board.score_replicates
    rows = []
    for i, a in enumerate(entries):
        for j in range(i + 1, len(entries)):
            b = entries[j]
            low, high = interval(replicates[a].to_numpy() - replicates[b].to_numpy(), confidence)
            rows.append({"a": a, "b": b, "score_a": scores[i], "score_b": scores[j],
                         "difference": scores[i] - scores[j], "difference_ci_low": float(low),
                         "difference_ci_high": float(high),
                         "separated": bool(low > 0 or high < 0)})
    columns = ["a", "b", "score_a", "score_b", "difference", "difference_ci_low",
               "difference_ci_high", "separated"]
    return pd.DataFrame(rows, columns=columns)


def workload_separation(board) -> pd.DataFrame:
    """Per workload: pairs compared, pairs separated beyond noise (a verdict `X faster`), pairs
    both unsolved, and the share separated among the pairs where at least one solved."""
    rows = []
    for workload, group in board.pairwise.groupby("workload", sort=True):
        separated = int(group["verdict"].str.endswith(" faster").sum())
        unsolved = int((group["verdict"] == "both unsolved").sum())
        comparable = len(group) - unsolved
        rows.append({"workload": workload, "pairs": len(group), "separated": separated,
                     "both_unsolved": unsolved,
                     "share_separated": separated / comparable if comparable else math.nan})
    return pd.DataFrame(rows, columns=["workload", "pairs", "separated", "both_unsolved", "share_separated"])


def load_published(path: Path | str = PUBLISHED_FILE) -> dict:
    """{leaderboard name: {"source", "ruleset", "scores": {algorithm: score}, "ours": {algorithm:
    submission}}} from the JSON file; `ours` names the submission that stands for each algorithm."""
    return json.loads(Path(path).read_text())


def _submission_of(entry: str) -> str:
    """`nadamw (pytorch)` -> `nadamw`: scores compare algorithms, whatever the framework label."""
    return entry.split(" (")[0]


def fidelity(board, published: dict, confidence: float = CONFIDENCE) -> dict:
    """Kendall's tau between our scores and one published leaderboard over the algorithms both
    scored, its bootstrap interval (tau on every score replicate), and the pairs ordered otherwise.

    `published` is one entry of `load_published()`. Returns {"algorithms": [...], "tau", "tau_ci_low",
    "tau_ci_high", "discordant": [(a, b), ...] (a ahead of b in AlgoPerf, behind here)}; tau is NaN
    with fewer than 2 common algorithms.
    """
    by_submission = {_submission_of(e): e for e in board.leaderboard["entry"]}
    common = [a for a in published["scores"] if published["ours"].get(a) in by_submission]
    result = {"algorithms": common, "tau": math.nan, "tau_ci_low": math.nan,
              "tau_ci_high": math.nan, "discordant": []}
    if len(common) < 2:
        return result
    theirs = np.array([published["scores"][a] for a in common])
    entries = [by_submission[published["ours"][a]] for a in common]
    ours = board.leaderboard.set_index("entry").loc[entries, "score"].to_numpy()
    result["tau"] = float(stats.kendalltau(ours, theirs).statistic)
    taus = np.array([stats.kendalltau(row, theirs).statistic
                     for row in board.score_replicates[entries].to_numpy()])
    taus = taus[np.isfinite(taus)]  # a replicate where every score ties has no tau
    if len(taus):
        result["tau_ci_low"], result["tau_ci_high"] = map(float, interval(taus, confidence))
    result["discordant"] = [(common[i], common[j]) for i in range(len(common)) for j in range(len(common))
                            if theirs[i] > theirs[j] and ours[i] < ours[j]]
    return result


def step_cost_decomposition(board, baseline: str) -> pd.DataFrame:
    """Per entry (not the baseline) and workload where both reached the target: the time ratio
    to the baseline, the ratios of seconds per step and of steps to target (their product is the
    time ratio of the best trials), and the share of the time difference that per-step cost
    explains (log s/step ratio over log time ratio, in [0, 1]). The share is NaN where the two
    ratios pull in opposite directions (cheaper steps but more of them, or the reverse): the
    quotient would then leave [0, 1] and grow without bound as the times approach each other,
    and the two ratios alone say what happened."""
    cells = board.workload_times.set_index(["entry", "workload"])
    rows = []
    for (entry, workload), cell in cells.iterrows():
        if entry == baseline or (baseline, workload) not in cells.index:
            continue
        base = cells.loc[(baseline, workload)]
        usable = all(c["steps_to_target"] > 0 and math.isfinite(c["step_time"]) and c["step_time"] > 0
                     for c in (cell, base))
        if not usable:
            continue
        step_ratio = cell["step_time"] / base["step_time"]
        steps_ratio = cell["steps_to_target"] / base["steps_to_target"]
        log_step, log_steps = math.log(step_ratio), math.log(steps_ratio)
        same_direction = log_step * log_steps >= 0 and abs(log_step + log_steps) > 1e-12
        rows.append({"entry": entry, "workload": workload, "time_ratio": step_ratio * steps_ratio,
                     "step_time_ratio": step_ratio, "steps_ratio": steps_ratio,
                     "step_cost_share": log_step / (log_step + log_steps) if same_direction else math.nan})
    columns = ["entry", "workload", "time_ratio", "step_time_ratio", "steps_ratio", "step_cost_share"]
    return pd.DataFrame(rows, columns=columns)
