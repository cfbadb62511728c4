"""A trial, as one value: `TrialTask` names the trial (submission, workload, framework, ruleset,
study, trial, seed, hyperparameters, output folder) and how it runs (devices, data, checkpoint,
spec overrides, protocol). It is built once where a trial is asked for (`algobench run`, a study
plan of `tune`, target setting, the leaderboard) and passed unchanged through the executor, the
trial process (harness/worker.py, or a Slurm job: it pickles and travels as JSON) and the runner
(docs/architecture.md). Its folder and its seed are computed here and nowhere else.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness import loader, search_space
from harness.seeds import derive_seed, trial_seed
from workloads.registry import get_spec

RULESETS = ("external", "self")


@dataclass(frozen=True)
class TrialTask:
    """Everything one trial process needs: plain data, so that it travels as JSON or a pickle."""

    submission_dir: str  # absolute
    workload: str
    framework: str
    ruleset: str  # "external" or "self"
    study: int
    trial: int
    base_seed: int
    hyperparameters: dict[str, Any]
    out: str
    devices: int = 1  # data-parallel devices: torchrun processes (PyTorch) or mesh devices (JAX)
    data_dir: str | None = None
    keep_checkpoint: bool = True
    spec_overrides: dict[str, Any] = field(default_factory=dict)  # target setting only
    protocol: str = ""  # the leaderboard protocol the trial runs under ("" for a plain study)

    @property
    def submission(self) -> str:
        return Path(self.submission_dir).name

    @property
    def folder(self) -> Path:
        return (Path(self.out) / self.submission / self.ruleset / self.framework / self.workload
                / f"study_{self.study}" / f"trial_{self.trial}")

    @property
    def key(self) -> str:
        """The trial folder relative to the output folder: its name in plan.json and progress."""
        return self.folder.relative_to(self.out).as_posix()

    @property
    def seed(self) -> int:
        return trial_seed(self.base_seed, self.study, self.trial)

    @property
    def study_seed(self) -> int:
        """The seed of the study's search-space points (`hyperparameters_for`)."""
        return study_seed(self.base_seed, self.study)

    def spec(self):
        """The workload spec this trial runs (`trial_spec`)."""
        return trial_spec(self.workload, self.spec_overrides)

    def identity_meta(self, spec) -> dict[str, Any]:
        """The meta.json fields that say which trial this is and what it is measured against."""
        return {
            "submission": self.submission, "submission_dir": self.submission_dir,
            "workload": spec.name, "base_workload": spec.base, "framework": self.framework,
            "ruleset": self.ruleset, "study": self.study, "trial": self.trial, "seed": self.seed,
            "base_seed": self.base_seed,
            "target_metric": spec.target_metric, "lower_is_better": spec.lower_is_better,
            "validation_target": spec.validation_target, "test_target": spec.test_target,
            "max_runtime_sec": spec.max_runtime_sec, "budget_sec": budget_sec(spec, self.ruleset),
            "eval_period_sec": spec.eval_period_sec, "step_hint": spec.step_hint,
        }

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "TrialTask":
        return cls(**json.loads(text))


def make_task(submission_dir: str | Path, workload: str, framework: str, out: str | Path, *,
              ruleset: str | None = None, study: int = 0, trial: int = 0, base_seed: int = 0,
              hyperparameters: dict[str, Any] | None = None, **options: Any) -> TrialTask:
    """The task of one trial, its defaults resolved: the submission folder made absolute, the
    ruleset the package ships (`ruleset_of`), and the hyperparameters of its search-space point
    (`hyperparameters_for`). `options`: the other fields of TrialTask."""
    submission_dir = Path(submission_dir).resolve()
    ruleset = ruleset or ruleset_of(submission_dir)
    if hyperparameters is None:
        hyperparameters = hyperparameters_for(submission_dir, ruleset, base_seed, study, trial)
    return TrialTask(str(submission_dir), workload, framework, ruleset, study, trial, base_seed,
                     dict(hyperparameters), str(out), **options)


def study_seed(base_seed: int, study: int) -> int:
    return derive_seed(base_seed, "study", study)


def ruleset_of(submission_dir: Path | str) -> str:
    """`external` when the package ships a search space, else `self` (self-tuning)."""
    return "external" if (Path(submission_dir) / loader.SEARCH_SPACE_FILE).exists() else "self"


def hyperparameters_for(submission_dir: Path | str, ruleset: str, base_seed: int, study: int,
                        trial: int) -> dict[str, Any]:
    """Trial `trial` of study `study`: point `trial` of the search space drawn with the study's
    seed, so that studies differ and any trial can be regenerated alone; {} for self-tuning."""
    if ruleset == "self":
        return {}
    space = search_space.load(Path(submission_dir) / loader.SEARCH_SPACE_FILE)
    return search_space.trial_point(space, study_seed(base_seed, study), trial)


def trial_spec(workload: str, spec_overrides: dict | None = None):
    """The spec a trial runs: the registry's, with `spec_overrides` replacing fields (target
    setting runs with an unreachable target and a budget of its own); a workload still without
    targets only with overrides."""
    spec = get_spec(workload, pending_ok=bool(spec_overrides))
    return dataclasses.replace(spec, **(spec_overrides or {}))


def budget_sec(spec, ruleset: str) -> float:
    """A trial's budget in reference-host seconds: the spec's, 1.5x for self-tuning."""
    return spec.max_runtime_sec * (1.5 if ruleset == "self" else 1.0)
