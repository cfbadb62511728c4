"""Read trial logs into pandas tables: one row per trial, the training curves, and the problems.

Every folder under the given roots that holds a `meta.json` is read with `harness.logs.read_trial`.
A folder that cannot be read (`CorruptLogError`: missing, truncated or malformed files, or a
`meta.json` without the keys scoring needs) becomes a row of the problems table with its path and
is never scored. A trial whose `meta.json` records a different `final.time_to_target` than its
eval rows give is scored from the eval rows (the contract) and reported; so is a trial whose host
took more than 5% of its CPU time (steal: its time is not comparable). Two folders that claim
the same (submission, ruleset, framework, workload, study, trial) are a problem too: the first in
path order is scored, the others are reported and ignored.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from harness import host_load
from harness.logs import CorruptLogError, find_trial_folders, read_trial
from scoring.time_to_target import time_to_target

# meta.json keys scoring reads (docs/log_format.md); a meta.json without one of them is corrupt.
REQUIRED_META = (
    "submission",
    "ruleset",
    "framework",
    "workload",
    "study",
    "trial",
    "status",
    "target_metric",
    "lower_is_better",
    "validation_target",
    "budget_sec",
)
TRIAL_KEY = ["submission", "ruleset", "framework", "workload", "study", "trial"]
TRIAL_COLUMNS = [
    *TRIAL_KEY,
    "base_workload",  # "" for a workload that is not a variant
    "status",
    "stop_reason",
    "error",  # the last line of meta.json's traceback for a failed trial, else ""
    "target_metric",
    "lower_is_better",
    "validation_target",
    "budget_sec",
    "num_evals",
    "final_time",  # `score` at the last eval row (0 when there is none)
    "time_to_target",  # from eval_measurements.csv; inf when the target was never reached
    "excluded",  # why a trial does not count ("" when it does)
    "scored_time",  # time_to_target when the trial counts, else inf
    "path",
]
CURVE_COLUMNS = [*TRIAL_KEY, "time", "value"]
PROBLEM_COLUMNS = [*TRIAL_KEY, "kind", "path", "message"]


@dataclass(frozen=True)
class Results:
    """What a set of results folders holds.

    Attributes:
      trials: one row per readable trial, columns `TRIAL_COLUMNS`, sorted by `TRIAL_KEY`.
      curves: validation metric (`value`) against submission time (`time`) for every eval row of
        every trial, columns `CURVE_COLUMNS`.
      problems: logs that could not be scored (kinds `corrupt`, `duplicate`), scored trials
        whose meta.json disagrees with their eval rows on the time to target (`mismatch`) and
        scored trials timed on a contended host (`contended`), columns `PROBLEM_COLUMNS`.
    """

    trials: pd.DataFrame
    curves: pd.DataFrame
    problems: pd.DataFrame


def problem(kind: str, message: str, path: str = "", **key) -> dict:
    """One row of a problems table; `key` holds whatever of `TRIAL_KEY` is known."""
    row = {k: key.get(k, "") for k in TRIAL_KEY}
    row.update(kind=kind, path=path, message=message)
    return row


def exclusion_reason(status: str, time: float, budget_sec: float) -> str:
    """Why a trial's time does not count, or "" when it does.

    Only `completed` trials count; `failed`, `diverged` and `running` (never finished) trials do
    not, whatever their logs reached. A time to target above the trial's budget does not count
    (`over_budget`).
    """
    if status != "completed":
        return status
    if math.isfinite(time) and time > budget_sec:
        return "over_budget"
    return ""


def final_time_mismatch(meta: dict, time: float) -> str:
    """A message when meta.json's `final.time_to_target` disagrees with the eval rows, else ""."""
    final = meta.get("final")
    if not isinstance(final, dict) or "time_to_target" not in final:
        return ""
    recorded = final["time_to_target"]
    recorded = math.inf if recorded is None else float(recorded)
    if recorded == time or math.isclose(recorded, time, rel_tol=1e-9):
        return ""
    return (f"meta.json final.time_to_target is {recorded:g} s but eval_measurements.csv gives "
            f"{time:g} s; scored {time:g} s")


def contended_host(meta: dict) -> str:
    """A message when the host took more than `host_load.CONTENDED` of the trial's CPU time
    (meta.json's `final.host_steal_fraction`, docs/tuning.md), else ""."""
    steal = host_load.of_trial(meta)
    if not host_load.is_contended(steal):
        return ""
    return (f"the host took {100 * steal:.0f}% of the trial's CPU time (steal): its time measured "
            "the host's other guests too; scored as logged, re-run it on a quiet machine to compare")


def _trial_tables(trial: dict) -> tuple[dict, list[dict], list[tuple[str, str]]]:
    """The trial row, curve rows and warnings ((kind, message) pairs: `mismatch`, `contended`)
    of one trial read by `read_trial`; CorruptLogError if it cannot be scored."""
    meta_path = Path(trial["folder"]) / "meta.json"
    meta = trial["meta"]
    missing = [k for k in REQUIRED_META if meta.get(k) is None]
    if missing:
        raise CorruptLogError(f"{meta_path}: lacks {missing}; re-run the trial")
    try:
        key = {k: meta[k] for k in TRIAL_KEY}
        key["study"], key["trial"] = int(key["study"]), int(key["trial"])
        target = float(meta["validation_target"])
        budget = float(meta["budget_sec"])
        lower = bool(meta["lower_is_better"])
    except (TypeError, ValueError) as err:
        raise CorruptLogError(f"{meta_path}: bad value ({err}); re-run the trial") from err
    evals = trial["evals"]
    metric = str(meta["target_metric"])
    try:
        ttt = time_to_target(evals, metric, target, lower)
    except KeyError as err:
        raise CorruptLogError(
            f"{Path(trial['folder']) / 'eval_measurements.csv'}: no {err.args[0]} column "
            f"for the target metric named in meta.json; re-run the trial"
        ) from err
    excluded = exclusion_reason(str(meta["status"]), ttt, budget)
    row = {
        **key,
        "base_workload": meta.get("base_workload") or "",
        "status": str(meta["status"]),
        "stop_reason": meta.get("stop_reason") or "",
        "error": (str(meta.get("error") or "").strip().splitlines() or [""])[-1],
        "target_metric": metric,
        "lower_is_better": lower,
        "validation_target": target,
        "budget_sec": budget,
        "num_evals": len(evals),
        "final_time": float(evals[-1]["score"]) if evals else 0.0,
        "time_to_target": ttt,
        "excluded": excluded,
        "scored_time": math.inf if excluded else ttt,
        "path": trial["folder"],
    }
    column = f"validation/{metric}"
    curve = [
        {**key, "time": float(r["score"]), "value": float(r[column])}
        for r in evals
        if r.get(column) is not None and r.get("score") is not None
    ]
    warnings = [(kind, message) for kind, message in (("mismatch", final_time_mismatch(meta, ttt)),
                                                      ("contended", contended_host(meta))) if message]
    return row, curve, warnings


def trial_folders(roots: Iterable[Path | str]) -> list[Path]:
    """Every trial folder under `roots`, each once, in path order."""
    found = {folder for root in roots for folder in find_trial_folders(root)}
    return sorted(found, key=str)


def load_results(roots: Iterable[Path | str]) -> Results:
    """Read every trial folder under `roots` into a `Results`.

    Raises:
      FileNotFoundError: a root does not exist (the message names it).
    """
    roots = [Path(r) for r in roots]
    for root in roots:
        if not root.is_dir():
            raise FileNotFoundError(f"{root}: no such folder")
    rows, curves, problems = [], [], []
    seen: dict[tuple, str] = {}
    for folder in trial_folders(roots):
        try:
            row, curve, warnings = _trial_tables(read_trial(folder))
        except CorruptLogError as err:
            problems.append(problem("corrupt", str(err), path=str(folder)))
            continue
        key = tuple(row[k] for k in TRIAL_KEY)
        if key in seen:
            problems.append(
                problem(
                    "duplicate",
                    f"same trial as {seen[key]}; only that one is scored",
                    path=str(folder),
                    **dict(zip(TRIAL_KEY, key)),
                )
            )
            continue
        seen[key] = str(folder)
        for kind, message in warnings:
            problems.append(problem(kind, message, path=str(folder), **dict(zip(TRIAL_KEY, key))))
        rows.append(row)
        curves.extend(curve)
    trials = pd.DataFrame(rows, columns=TRIAL_COLUMNS)
    trials = trials.sort_values(TRIAL_KEY, kind="mergesort").reset_index(drop=True)
    return Results(
        trials=trials,
        curves=pd.DataFrame(curves, columns=CURVE_COLUMNS),
        problems=pd.DataFrame(problems, columns=PROBLEM_COLUMNS),
    )
