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
logs: "uncalibrated") and its provenance (hardware, library versions, commit, command).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from harness import host_load, integrity
from harness.logs import META_FILE, CorruptLogError, find_trial_folders, parse_trial
from scoring.time_to_target import time_to_target
from workloads.registry import UnknownWorkloadError, get_spec

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
    "budget_sec",  # the budget the trial ran under: reference-host seconds x its speed factor
    "reference_budget_sec",  # the workload's budget in reference-host seconds (one per workload)
    "num_evals",
    "final_time",  # `score` at the last eval row (0 when there is none)
    "time_to_target",  # from eval_measurements.csv; inf when the target was never reached
    "excluded",  # why a trial does not count ("" when it does)
    "scored_time",  # time_to_target when the trial counts, else inf
    "steps_to_target",  # global_step at the eval that reached the target; -1 when never
    "target_eval",  # 1-based index of that eval row; 0 when never
    "final_step",  # global_step at the last eval row (0 when there is none)
    "step_time",  # final_time / final_step: mean submission seconds per step (NaN without steps)
    "hparams",  # hparams.json as compact JSON ("{}" for self-tuning)
    "host_id",  # meta.json calibration.host_id ("" when uncalibrated)
    "calibration_sec",  # calibration.seconds (NaN when uncalibrated)
    "reference_sec",  # calibration.reference_seconds (NaN when unknown)
    "speed_factor",  # calibration.speed_factor: seconds / reference_seconds (NaN when unknown)
    "calibration_disturbance",  # calibration.median_over_seconds - 1: how disturbed the host was (NaN when absent)
    "host_steal",  # final.host_steal_fraction (NaN when not counted)
    "protocol",  # meta.json `protocol` where the run recorded one, else ""
    "hardware",  # one line: cpu, cores used/available, accelerator
    "versions",  # one line: library versions
    "git_commit",
    "command",
    "started_at",
    "integrity",  # "verified", or "unverified: <why>" (docs/integrity.md)
    "path",
]
CURVE_COLUMNS = [*TRIAL_KEY, "step", "time", "value", "train_value"]
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


def calibration(meta: dict, meta_path: Path) -> dict:
    """The calibration columns of a trial from meta.json's `calibration` (NaN/"" when absent).

    Raises:
      CorruptLogError: `calibration` is present but not of the documented shape.
    """
    record = meta.get("calibration")
    out = {"host_id": "", "calibration_sec": math.nan, "reference_sec": math.nan,
           "speed_factor": math.nan, "calibration_disturbance": math.nan}
    if record is None:
        return out

    def number(key):
        value = record.get(key)
        return math.nan if value is None else float(value)

    try:
        out.update(host_id=str(record["host_id"]), calibration_sec=float(record["seconds"]),
                   reference_sec=number("reference_seconds"), speed_factor=number("speed_factor"),
                   calibration_disturbance=number("median_over_seconds") - 1)
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise CorruptLogError(f"{meta_path}: bad calibration ({err!r}); re-run the trial") from err
    return out


def provenance_columns(meta: dict) -> dict:
    """Hardware, versions, commit, command, start time and protocol of a trial, one line each."""
    hw = meta.get("hardware") or {}
    hardware = ", ".join(str(x) for x in [
        hw.get("cpu"), hw.get("cpu_id"),
        f"{hw.get('cores_used')}/{hw.get('cores_available')} cores" if hw.get("cores_used") else None,
        f"accelerator {hw['accelerator']}" if hw.get("accelerator") else None,
        f"{hw.get('num_devices')} device(s)" if hw.get("num_devices") else None,
    ] if x)
    versions = ", ".join(f"{k} {v}" for k, v in sorted((meta.get("versions") or {}).items()) if v)
    steal = host_load.of_trial(meta)
    return {"host_steal": math.nan if steal is None else float(steal),
            "protocol": str(meta.get("protocol") or ""), "hardware": hardware, "versions": versions,
            "git_commit": str(meta.get("git_commit") or ""), "command": str(meta.get("command") or ""),
            "started_at": str(meta.get("started_at") or "")}


def _trial_tables(trial: dict) -> tuple[dict, list[dict], list[tuple[str, str]]]:
    """The trial row, curve rows and warnings ((kind, message) pairs: `mismatch`, `contended`)
    of one trial as `harness.logs.parse_trial` returns it; CorruptLogError if it cannot be scored."""
    meta_path = Path(trial["folder"]) / "meta.json"
    meta = trial["meta"]
    missing = [k for k in REQUIRED_META if meta.get(k) is None]
    if missing:
        raise CorruptLogError(f"{meta_path}: lacks {missing}; re-run the trial")
    try:
        key = {k: meta[k] for k in TRIAL_KEY}
        key["study"], key["trial"] = int(key["study"]), int(key["trial"])
        targets, target_warning = registry_targets(meta)
    except (TypeError, ValueError) as err:
        raise CorruptLogError(f"{meta_path}: bad value ({err}); re-run the trial") from err
    target, lower, metric = targets["validation_target"], targets["lower_is_better"], targets["target_metric"]
    budget = targets["budget_sec"]
    evals = trial["evals"]
    try:
        ttt = time_to_target(evals, metric, target, lower)
    except KeyError as err:
        raise CorruptLogError(
            f"{Path(trial['folder']) / 'eval_measurements.csv'}: no {err.args[0]} column "
            f"for the target metric named in meta.json; re-run the trial"
        ) from err
    excluded = exclusion_reason(str(meta["status"]), ttt, budget)
    at_target = next((i for i, r in enumerate(evals) if float(r["score"]) == ttt), None)
    final_step = int(evals[-1].get("global_step") or 0) if evals else 0
    final_time = float(evals[-1]["score"]) if evals else 0.0
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
        "reference_budget_sec": targets["reference_budget_sec"],
        "num_evals": len(evals),
        "final_time": final_time,
        "time_to_target": ttt,
        "excluded": excluded,
        "scored_time": math.inf if excluded else ttt,
        "steps_to_target": -1 if at_target is None else int(evals[at_target].get("global_step") or 0),
        "target_eval": 0 if at_target is None else at_target + 1,
        "final_step": final_step,
        "step_time": final_time / final_step if final_step > 0 else math.nan,
        "hparams": json.dumps(trial["hparams"], sort_keys=True, separators=(", ", ": ")),
        **calibration(meta, meta_path),
        **provenance_columns(meta),
        "integrity": "",  # set by load_results
        "path": trial["folder"],
    }
    column, train_column = f"validation/{metric}", f"train/{metric}"

    def value(r, name):
        return math.nan if r.get(name) is None else float(r[name])

    curve = [
        {**key, "step": int(r.get("global_step") or 0), "time": float(r["score"]),
         "value": value(r, column), "train_value": value(r, train_column)}
        for r in evals
        if r.get(column) is not None and r.get("score") is not None
    ]
    warnings = [(kind, message) for kind, message in (("target", target_warning),
                                                      ("mismatch", final_time_mismatch(meta, ttt)),
                                                      ("contended", contended_host(meta))) if message]
    return row, curve, warnings


def registry_targets(meta: dict) -> tuple[dict, str]:
    """The target metric, its direction, the validation target and the budget a trial is scored
    against, and a message where meta.json records others ("" when it agrees).

    They come from the workload registry: the spec's target and direction, its budget (x1.5 for
    self-tuning) times the trial's `time_scale` (from its calibration, which the digest chain
    covers; 1 when absent). A workload the registry does not know (logs of a removed workload,
    hand-made logs) falls back to meta.json's values, and the message says so.
    """
    recorded = {"target_metric": str(meta["target_metric"]),
                "lower_is_better": bool(meta["lower_is_better"]),
                "validation_target": float(meta["validation_target"]),
                "budget_sec": float(meta["budget_sec"])}
    recorded["reference_budget_sec"] = float(meta.get("reference_budget_sec") or recorded["budget_sec"])
    try:
        spec = get_spec(str(meta["workload"]))
    except UnknownWorkloadError:
        return recorded, ""
    reference = spec.max_runtime_sec * (1.5 if meta["ruleset"] == "self" else 1.0)
    scale = float(meta.get("time_scale") or 1.0)
    expected = {"target_metric": spec.target_metric, "lower_is_better": spec.lower_is_better,
                "validation_target": float(spec.validation_target),
                "budget_sec": reference * scale, "reference_budget_sec": reference}
    def same(key):
        if isinstance(expected[key], float):
            return math.isclose(recorded[key], expected[key], rel_tol=1e-9)
        return recorded[key] == expected[key]

    differ = [f"{k} {recorded[k]!r} (registry: {expected[k]!r})" for k in expected if not same(k)]
    message = (f"meta.json records {', '.join(differ)}; scored against the registry's"
               if differ else "")
    return expected, message


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
            row, curve, warnings = _trial_tables(parse_trial(files))
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
