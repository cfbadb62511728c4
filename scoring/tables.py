"""Read trial logs into pandas tables: one row per trial, the training curves, and the problems.

Every folder under the given roots that holds a `meta.json` is read once: its files' bytes are
verified (`harness.integrity.read_and_verify`) and parsed (`harness.logs.parse_trial`).
A folder that cannot be read (`CorruptLogError`: missing, truncated or malformed files, or a
`meta.json` without the keys scoring needs) becomes a row of the problems table with its path and
is never scored. A trial whose `meta.json` records a different `final.time_to_target` than its
eval rows give is scored from the eval rows (the contract) and reported; so is a trial whose host
took more than 5% of its CPU time (steal: its time is not comparable). Two folders that claim
the same (submission, ruleset, framework, workload, study, trial) are a problem too: the first in
path order is scored, the others are reported and ignored.

Before a folder is read, its digest chain and its place in its plan are verified
(`harness.integrity.verify_trial`, docs/integrity.md): a rejected folder (a digest that does not
verify, a folder its plan does not list, events missing or garbled, duplicated eval rows) is a
`rejected` problem and never scored; a trial without digests or outside a plan is scored with
`integrity` "unverified: <why>". Every trial listed in a plan.json under the roots without a
meta.json is a `not_run` problem. The validation target, metric and budget come from the workload
registry (the budget times the trial's recorded `time_scale`), not from meta.json; where meta.json
says otherwise the trial is scored against the registry's and a `target` problem says so. Only a
workload the registry does not know (hand-made or old logs, never a verified trial: a plan runs
registered workloads only) is scored with meta.json's.

Each trial row also carries what the report shows: its hyperparameters, steps to target, mean
submission seconds per step, its host's calibration (meta.json `calibration`, absent in older
logs: "uncalibrated") and its provenance (hardware, library versions, commit, command). One
trial's row, its curve and its warnings are built in scoring/trial_row.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from harness import integrity
from harness.logs import META_FILE, CorruptLogError, find_trial_folders, parse_trial
from scoring.trial_row import CURVE_COLUMNS, TRIAL_COLUMNS, TRIAL_KEY, trial_tables

INVOCATION_COLUMNS = ["plan", "command", "planned_at", "development"]
PROBLEM_COLUMNS = [*TRIAL_KEY, "kind", "path", "message"]


@dataclass(frozen=True)
class Results:
    """What a set of results folders holds.

    Attributes:
      trials: one row per readable trial, columns `TRIAL_COLUMNS`, sorted by `TRIAL_KEY`.
      curves: validation (`value`) and training-subset (`train_value`) metric against submission
        time (`time`) and steps (`step`) for every eval row of every trial, columns `CURVE_COLUMNS`.
      problems: logs that could not be scored (kinds `corrupt`, `duplicate`, `rejected`: their
        digests or plan entry do not verify), trials a plan lists that never wrote a meta.json
        (`not_run`), scored trials whose meta.json targets or budget differ from the registry's
        (`target`), scored trials
        whose meta.json disagrees with their eval rows on the time to target (`mismatch`) and
        scored trials timed on a contended host (`contended`), columns `PROBLEM_COLUMNS`.
      invocations: the commands that planned the trials (`invocations` of every `plan.json`
        that `algobench tune` wrote under the roots), columns `INVOCATION_COLUMNS`.
    """

    trials: pd.DataFrame
    curves: pd.DataFrame
    problems: pd.DataFrame
    invocations: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=INVOCATION_COLUMNS))


def problem(kind: str, message: str, path: str = "", **key) -> dict:
    """One row of a problems table; `key` holds whatever of `TRIAL_KEY` is known."""
    row = {k: key.get(k, "") for k in TRIAL_KEY}
    row.update(kind=kind, path=path, message=message)
    return row


def read_plans(roots: Iterable[Path]) -> list[tuple[Path, dict]]:
    """Every plan.json under `roots`, each read once, in path order, with its content; one that
    cannot be read or is not an object is left out (the trials' own meta.json files carry what
    scoring needs)."""
    plans = []
    for path in sorted({p for root in roots for p in Path(root).rglob("plan.json")}, key=str):
        try:
            content = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue
        if isinstance(content, dict):
            plans.append((path, content))
    return plans


def plan_gaps(plans: list[tuple[Path, dict]]) -> list[dict]:
    """`not_run` problems: trials a plan (`read_plans`) lists whose folder has no meta.json."""
    rows = []
    for plan, content in plans:
        for entry in content.get("trials") or []:
            if not isinstance(entry, dict) or not entry.get("folder"):
                continue
            folder = plan.parent / str(entry["folder"])
            if not (folder / META_FILE).exists():
                key = {k: entry[k] for k in TRIAL_KEY if k in entry}
                rows.append(problem("not_run", f"{plan} lists it but it has no {META_FILE} (never "
                                    "run, or deleted); run the plan's command again to run it",
                                    path=str(folder), **key))
    return rows


def trial_folders(roots: Iterable[Path | str]) -> list[Path]:
    """Every trial folder under `roots`, each once, in path order."""
    found = {folder for root in roots for folder in find_trial_folders(root)}
    return sorted(found, key=str)


def read_invocations(plans: list[tuple[Path, dict]]) -> pd.DataFrame:
    """Every `algobench tune` invocation recorded in the plans (`read_plans`; docs/tuning.md).
    Only the report reads them (provenance)."""
    rows = []
    for plan, content in plans:
        for item in content.get("invocations") or []:
            if isinstance(item, dict) and item.get("command"):
                rows.append({"plan": str(plan), "command": str(item["command"]),
                             "planned_at": str(item.get("planned_at") or ""),
                             "development": bool(item.get("development"))})
    return pd.DataFrame(rows, columns=INVOCATION_COLUMNS)


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
        files, verdict = integrity.read_and_verify(folder)  # each file read once, then parsed
        if verdict.status == integrity.REJECTED:
            problems.append(problem("rejected", verdict.reason, path=str(folder)))
            continue
        try:
            row, curve, warnings = trial_tables(parse_trial(files))
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
        row["integrity"] = (verdict.status if verdict.status == integrity.VERIFIED
                            else f"{verdict.status}: {verdict.reason}")
        for kind, message in warnings:
            problems.append(problem(kind, message, path=str(folder), **dict(zip(TRIAL_KEY, key))))
        rows.append(row)
        curves.extend(curve)
    plans = read_plans(roots)
    problems.extend(plan_gaps(plans))
    trials = pd.DataFrame(rows, columns=TRIAL_COLUMNS)
    trials = trials.sort_values(TRIAL_KEY, kind="mergesort").reset_index(drop=True)
    return Results(
        trials=trials,
        curves=pd.DataFrame(curves, columns=CURVE_COLUMNS),
        problems=pd.DataFrame(problems, columns=PROBLEM_COLUMNS),
        invocations=read_invocations(plans),
    )
