"""The reference leaderboard: shipped baselines x base workloads x frameworks under a named protocol.

A leaderboard run is one study plan per submission (harness/study.py), all written into one output
folder, whose trials run in an order that keeps one workload's trials of every submission close
together in time (so that they share a host, whose speed drifts between days), through the same
executors as `tune`. It is resumable like `tune`: finished trials are skipped, interrupted ones
resume. `leaderboard.json` at the folder's root records the protocol and the command, and a second
run into the same folder must use the same protocol.

Protocols (DESIGN.md, "The reference leaderboard"):
- `quick`: each baseline's first search-space point (self-tuning baselines as they are) in 3
  studies that differ by seed: a development-sized run, labelled as such wherever it is reported,
  that fits a night on the reference machine in one framework.
- `full`: AlgoPerf's external tuning, 5 trials x 3 studies (self-tuning: 3 studies): for a cluster
  or a GPU machine.
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

from harness import loader, study
from harness.logs import atomic_write_json, read_json
from harness.study import Plan, PlanError, TrialTask
from harness.trial import ruleset_of

LEADERBOARD_FILE = "leaderboard.json"
REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "submissions"


@dataclass(frozen=True)
class Protocol:
    """How many studies, and trials per study for externally tuned submissions."""

    name: str
    studies: int
    external_trials: int
    summary: str

    def trials_for(self, ruleset: str) -> int:
        return 1 if ruleset == "self" else self.external_trials


PROTOCOLS = {
    "quick": Protocol("quick", studies=3, external_trials=1,
                      summary="each baseline's first search-space point (self-tuning baselines as "
                              "they are), 3 studies; development-sized (the rules ask for 5 "
                              "trials per study)"),
    "full": Protocol("full", studies=3, external_trials=5,
                     summary="external tuning as AlgoPerf runs it: 5 trials x 3 studies "
                             "(self-tuning: 3 studies)"),
}


def shipped_baselines(root: Path = SHIPPED) -> list[Path]:
    """Every baseline package under submissions/: a folder with a submission module."""
    return sorted(p for p in root.iterdir()
                  if p.is_dir() and any(loader.module_path(p, f).exists() for f in study.FRAMEWORKS))


def build_plans(submissions: Sequence[str | Path], workloads: Sequence[str],
                frameworks: Sequence[str], protocol: Protocol, out: str | Path, *,
                base_seed: int = 0, data_dir: str | None = None,
                load_modules: bool = True) -> list[Plan]:
    """One plan per submission, each checked before anything runs (study.build_plan)."""
    if not submissions:
        raise PlanError("no submission given; name packages with --submissions")
    plans = []
    for submission in submissions:
        ruleset = ruleset_of(submission)
        plans.append(study.build_plan(
            submission, workloads, frameworks, out=out, ruleset=ruleset, studies=protocol.studies,
            trials=protocol.trials_for(ruleset), base_seed=base_seed, data_dir=data_dir,
            load_modules=load_modules))
    return plans


def ordered_tasks(plans: Sequence[Plan]) -> list[TrialTask]:
    """Every plan's trials, workload by workload (in the order the workloads were given), then
    study by study, every submission and framework of a (workload, study) side by side: an
    interrupted run has whole workloads done, and one workload's trials meet the same host."""
    workloads = list(dict.fromkeys(w for p in plans for w in p.workloads))
    submissions = [p.submission_dir for p in plans]
    frameworks = list(study.FRAMEWORKS)
    tasks = [t for p in plans for t in p.tasks]
    return sorted(tasks, key=lambda t: (workloads.index(t.workload), t.study, t.trial,
                                        submissions.index(t.submission_dir),
                                        frameworks.index(t.framework)))


def record(out: str | Path, protocol: Protocol, plans: Sequence[Plan]) -> Path:
    """Write (or check) OUT/leaderboard.json: the protocol and every invocation. Another protocol
    into the same folder is refused: its trials would be scored as one leaderboard."""
    path = Path(out) / LEADERBOARD_FILE
    recorded = read_json(path) if path.exists() else {"format": 1, "protocol": asdict(protocol),
                                                      "invocations": []}
    if recorded["protocol"]["name"] != protocol.name:
        raise PlanError(f"{path}: this folder holds the {recorded['protocol']['name']!r} protocol; "
                        f"use --protocol {recorded['protocol']['name']} or another --out")
    recorded["invocations"].append({
        "command": " ".join(sys.argv), "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "submissions": [Path(p.submission_dir).name for p in plans],
        "workloads": plans[0].workloads, "frameworks": plans[0].frameworks})
    Path(out).mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, recorded)
    return path


def read_protocol(out: str | Path) -> Protocol | None:
    """The protocol a leaderboard folder was run under, or None for a folder of other trials."""
    path = Path(out) / LEADERBOARD_FILE
    return Protocol(**read_json(path)["protocol"]) if path.exists() else None


def describe(plans: Sequence[Plan], protocol: Protocol) -> str:
    tasks = sum(len(p.tasks) for p in plans)
    names = ", ".join(Path(p.submission_dir).name for p in plans)
    return (f"{tasks} trials, protocol {protocol.name} ({protocol.summary}): {names} on "
            f"{', '.join(plans[0].workloads)} in {'/'.join(plans[0].frameworks)}")

