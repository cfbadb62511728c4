"""One trial's row of the trials table (`TRIAL_COLUMNS`) and its curve rows, from its parsed logs
(`trial_tables`), with the warnings its row carries: targets or budget that differ from the
registry's (`target`), a `final.time_to_target` that disagrees with the eval rows (`mismatch`), a
contended host (`contended`). scoring/tables.py reads every trial folder through it.

The validation target, metric and budget come from the workload registry (`registry_targets`),
not from meta.json. Each row also carries what the report shows: hyperparameters, steps to
target, seconds per step, the host's calibration and the trial's provenance.
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path

from harness import calibration as host_calibration
from harness import host_load
from harness.logs import CorruptLogError
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
    shipped = _shipped_reference() if math.isnan(out["reference_sec"]) else {}
    if shipped and all(record.get(k) == shipped.get(k) for k in ("matrix_size", "calls_per_block")):
        # calibrated before a reference was shipped (it ran unscaled): the same measurement, so
        # its speed factor against today's reference normalizes its times as any other's
        out.update(reference_sec=float(shipped["seconds"]),
                   speed_factor=out["calibration_sec"] / float(shipped["seconds"]))
    return out


@functools.cache
def _shipped_reference() -> dict:
    """workloads/calibration_reference.json ({} when absent), read once per process."""
    return host_calibration.load_reference()


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


def trial_tables(trial: dict) -> tuple[dict, list[dict], list[tuple[str, str]]]:
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
