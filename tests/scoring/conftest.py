"""Hand-made trial logs for the scoring tests, written with harness.logs.TrialLog."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from harness.logs import TrialLog


def write_trial(
    root: Path,
    submission: str = "adamw",
    workload: str = "mnist",
    study: int = 0,
    trial: int = 0,
    evals: list[tuple[float, float]] = ((10.0, 0.5), (20.0, 0.95)),
    *,
    ruleset: str = "external",
    framework: str = "pytorch",
    status: str = "completed",
    target: float = 0.9,
    lower_is_better: bool = False,
    budget_sec: float = 1000.0,
    base_workload: str | None = None,
    metric: str = "accuracy",
    calibration: dict | None = None,
    extra_meta: dict | None = None,
) -> Path:
    """Write one trial folder in the layout of docs/log_format.md and return it.

    `evals` is a list of (accumulated submission time, validation metric) pairs, one per eval row.
    `calibration` is meta.json's host calibration (absent: an uncalibrated trial, as older logs);
    `extra_meta` adds or replaces meta.json keys.
    """
    folder = root / submission / ruleset / framework / workload / f"study_{study}" / f"trial_{trial}"
    log = TrialLog(folder)
    log.write_hparams({} if ruleset == "self" else {"learning_rate": 0.001 * (trial + 1)})
    reached = [t for t, v in evals if (v <= target if lower_is_better else v >= target)]
    stop = {"completed": "targets_reached" if reached else "budget", "failed": "error",
            "diverged": "diverged", "running": None}[status]
    meta = {
        "algobench_version": "0.1.0",
        "submission": submission,
        "submission_dir": f"/submissions/{submission}",
        "workload": workload,
        "base_workload": base_workload,
        "framework": framework,
        "ruleset": ruleset,
        "study": study,
        "trial": trial,
        "seed": 1000 * study + trial,
        "target_metric": metric,
        "lower_is_better": lower_is_better,
        "validation_target": target,
        "test_target": target,
        "max_runtime_sec": budget_sec,
        "budget_sec": budget_sec,
        "eval_period_sec": 10.0,
        "step_hint": 100,
        "global_batch_size": 32,
        "num_devices": 1,
        "status": status,
        "stop_reason": stop,
        "error": "Traceback ...\nRuntimeError: boom" if status == "failed" else None,
        "final": None if status == "running" else {
            "global_step": 10 * len(evals),
            "time_to_target": reached[0] if reached else None,
        },
    }
    if calibration is not None:
        meta["calibration"] = calibration
    meta.update(extra_meta or {})
    log.add_event("start")
    for i, (time, value) in enumerate(evals):
        log.add_eval_row({
            "global_step": 10 * (i + 1),
            "preemption_count": 0,
            "score": time,
            "total_duration": 1.5 * time,
            "accumulated_submission_time": time,
            "accumulated_eval_time": 0.3 * time,
            "accumulated_logging_time": 0.1 * time,
            "accumulated_checkpoint_time": 0.0,
            "accumulated_setup_time": 0.1 * time,
            "accumulated_other_time": 0.0,
            f"train/{metric}": value,
            "train/loss": 1.0 - value,
            f"validation/{metric}": value,
            "validation/loss": 1.0 - value,
            "validation/num_examples": 100,
            f"test/{metric}": value,
            "test/loss": 1.0 - value,
            "test/num_examples": 100,
        })
    log.add_event("stop", reason=stop)
    log.write_meta(meta)  # last, as the runner does: it records the digest chains' heads
    return folder


def rewrite_meta(folder: Path, change) -> dict:
    """Call `change(meta)` on a trial's meta.json and write it back as the harness would (its
    digest record made again): a meta.json that the harness itself wrote that way."""
    log = TrialLog.resume(folder)
    meta = json.loads((folder / "meta.json").read_text())
    change(meta)
    log.write_meta(meta)
    return meta


def write_time(root: Path, submission: str, workload: str, study: int, time: float, trial: int = 0,
               **kwargs) -> Path:
    """A trial whose time to target is `time` (inf: it never reaches the target of 0.9)."""
    if math.isinf(time):
        return write_trial(root, submission, workload, study, trial, [(100.0, 0.5), (200.0, 0.6)], **kwargs)
    return write_trial(root, submission, workload, study, trial, [(time / 2, 0.5), (time, 0.95)], **kwargs)


@pytest.fixture(autouse=True)
def no_recorded_noise(tmp_path, monkeypatch):
    """Scoring tests never read the repository's scoring/noise.json: each names its own."""
    monkeypatch.setattr("scoring.noise.NOISE_FILE", tmp_path / "no_noise.json")


@pytest.fixture
def trial_writer():
    """`write_trial(root, submission, workload, study, trial, evals, **meta)`; see conftest.py."""
    return write_trial


@pytest.fixture
def time_writer():
    """`write_time(root, submission, workload, study, time, trial=0, **meta)`; see conftest.py."""
    return write_time


@pytest.fixture
def meta_rewriter():
    """`rewrite_meta(folder, change)`: meta.json changed as the harness would write it; see above."""
    return rewrite_meta
