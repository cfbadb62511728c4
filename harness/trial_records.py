"""What a trial records, as the runner (harness/runner.py) hands it over: its eval rows and the
time to target they give, its meta.json, the optimizer files of a checkpoint, and the in-memory
log of a data-parallel rank that writes no files. The runner decides
when; this module only says what a record holds."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from harness import calibration
from harness.logs import TrialLog


class MemoryLog(TrialLog):
    """The log of a data-parallel process other than rank 0: it keeps rows and events in memory,
    as every rank needs them to take the same decisions, and writes no file."""

    def write_hparams(self, hparams: dict[str, Any]) -> None:
        pass

    def write_meta(self, meta: dict[str, Any]) -> None:
        pass

    def add_eval_row(self, row: dict[str, Any]) -> None:
        self.rows.append(dict(row))

    def add_event(self, event: str, **fields: Any) -> None:
        self.events.append({"event": event, **fields})


def eval_row(step: int, preemption_count: int, times: dict, metrics: dict,
             snapshot: int) -> dict[str, Any]:
    """An eval row at `step`, with the ledger's `times` then; a split this eval did not measure
    has None (an empty cell in the CSV), so every row has every split's metrics."""
    names = {key.split("/", 1)[1] for key in metrics if key.startswith(("validation/", "test/"))}
    unmeasured = {f"{split}/{name}": None for name in names for split in ("train", "validation", "test")}
    unmeasured.pop("train/num_examples", None)
    return {"global_step": step, "preemption_count": preemption_count,
            "score": times["submission"], "total_duration": times["total_duration"],
            **{f"accumulated_{k}_time": v for k, v in times.items() if k != "total_duration"},
            "snapshot": snapshot, **unmeasured, **metrics}


def time_to_target(rows: list[dict], spec) -> float | None:
    """The submission time of the first row (eval or snapshot) that meets the validation target."""
    key = f"validation/{spec.target_metric}"
    for row in rows:
        if spec.is_better_or_equal(row[key], spec.validation_target):
            return row["score"]
    return None


def final_record(step: int, time_to_target: float | None, times: dict,
                 steal_fraction: float | None) -> dict[str, Any]:
    """meta.json's `final`: where the trial ended, and the ledger's accounts then."""
    return {"global_step": step, "time_to_target": time_to_target,
            **{f"accumulated_{k}_time": v for k, v in times.items() if k != "total_duration"},
            "total_duration": times["total_duration"], "host_steal_fraction": steal_fraction}


def schedule_record(record: dict | None, reference_budget_sec: float, budget_sec: float,
                    eval_period_sec: float, snapshot_period_sec: float) -> dict[str, Any]:
    """The schedule a trial ran under, for meta.json: reference-host seconds times its time scale."""
    return {"calibration": record, "time_scale": calibration.time_scale(record),
            "time_scale_note": time_scale_note(record),
            "reference_budget_sec": reference_budget_sec, "budget_sec": budget_sec,
            "eval_period_sec": eval_period_sec, "snapshot_period_sec": snapshot_period_sec}


def time_scale_note(record: dict | None) -> str:
    if record is None:
        return "unscaled: no calibration (skipped)"
    if record["speed_factor"] is None:
        return "unscaled: no reference calibration recorded (workloads/calibration_reference.json)"
    return "budget and eval periods scaled by the speed factor"


def finished_at() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


class SavedFiles:
    """The backend `checkpoint.save` writes the optimizer state with, where that state arrives as
    the files the submission side's backend wrote (`SubmissionSide.optimizer_files`)."""

    @staticmethod
    def save_optimizer_state(files: dict[str, bytes], folder: Path) -> None:
        for name, data in files.items():
            (folder / name).write_bytes(data)
