"""Study plans: one submission x workloads x frameworks x ruleset x studies x trials, written down
(`plan.json` at the root of the output folder) before any trial runs, and the state of a plan read
back from its trial folders.

External tuning: trial `t` of study `s` runs point `t` of the submission's search space drawn with
the study seed `derive_seed(base_seed, "study", s)` (harness/trial.py), so studies differ and any
trial can be regenerated alone. Self-tuning: no hyperparameters, one trial per study (the runner
gives it 1.5x the budget). Executors (harness/executors.py) run the tasks of a plan.
"""

from __future__ import annotations

import json
import math
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

from harness import host_load, loader, search_space
from harness.logs import HPARAMS_FILE, META_FILE, CorruptLogError, atomic_write_json, read_json
from harness.seeds import derive_seed, trial_seed
from harness.trial import hyperparameters_for, ruleset_of, trial_folder
from workloads.registry import get_spec

PLAN_FILE = "plan.json"
RULESETS = ("external", "self")
FRAMEWORKS = ("pytorch", "jax")
DEFAULT_STUDIES = 3
DEFAULT_TRIALS = {"external": 5, "self": 1}


class PlanError(ValueError):
    """A plan that cannot run; the message is one line naming the bad input and the fix."""


@dataclass(frozen=True)
class TrialTask:
    """Everything one trial process needs: plain data, so that it travels as JSON or a pickle."""

    submission_dir: str
    workload: str
    framework: str
    ruleset: str
    study: int
    trial: int
    base_seed: int
    hyperparameters: dict[str, Any]
    out: str
    devices: int = 1  # data-parallel devices: torchrun processes (PyTorch) or mesh devices (JAX)
    data_dir: str | None = None
    keep_checkpoint: bool = True
    spec_overrides: dict[str, Any] = field(default_factory=dict)  # target setting only

    @property
    def submission(self) -> str:
        return Path(self.submission_dir).name

    @property
    def folder(self) -> Path:
        return trial_folder(self.out, self.submission, self.ruleset, self.framework, self.workload,
                            self.study, self.trial)

    @property
    def key(self) -> str:
        """The trial folder relative to the output folder: its name in plan.json and progress."""
        return self.folder.relative_to(self.out).as_posix()

    @property
    def seed(self) -> int:
        return trial_seed(self.base_seed, self.study, self.trial)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "TrialTask":
        return cls(**json.loads(text))


@dataclass
class Plan:
    out: Path
    submission_dir: str
    ruleset: str
    base_seed: int
    workloads: list[str]
    frameworks: list[str]
    studies: int
    trials: int
    tasks: list[TrialTask] = field(default_factory=list)

    @property
    def development(self) -> bool:
        """Fewer studies or trials than the rules ask for: to be labelled in every report."""
        return self.studies < DEFAULT_STUDIES or self.trials < DEFAULT_TRIALS[self.ruleset]

    def describe(self) -> str:
        size = (f"{self.studies} {'study' if self.studies == 1 else 'studies'} x {self.trials} "
                f"{'trial' if self.trials == 1 else 'trials'}")
        if self.development:
            size += (f" (development counts, below the {DEFAULT_STUDIES} x "
                     f"{DEFAULT_TRIALS[self.ruleset]} of the {self.ruleset} ruleset)")
        count = f"{len(self.tasks)} {'trial' if len(self.tasks) == 1 else 'trials'}"
        return (f"{count}: {Path(self.submission_dir).name}, {self.ruleset} "
                f"tuning, {'/'.join(self.frameworks)}, {', '.join(self.workloads)}; {size}")


def build_plan(submission_dir: str | Path, workloads: Iterable[str], frameworks: Iterable[str], *,
               out: str | Path, ruleset: str | None = None, studies: int | None = None,
               trials: int | None = None, base_seed: int = 0, devices: int = 1,
               data_dir: str | None = None, keep_checkpoint: bool = True,
               load_modules: bool = True, spec_overrides: dict[str, Any] | None = None) -> Plan:
    """Check every input and draw every trial's hyperparameters; PlanError (or the loader's and
    the search space's own errors) names what is wrong before anything runs or is written."""
    submission_dir = Path(submission_dir).resolve()
    if not submission_dir.is_dir():
        raise PlanError(f"{submission_dir}: no such submission folder")
    workloads, frameworks = list(dict.fromkeys(workloads)), list(dict.fromkeys(frameworks))
    if not workloads:
        raise PlanError("no workload given; name one or more with --workloads")
    for name in workloads:  # a workload without targets runs only with targets of its own
        get_spec(name, pending_ok=bool(spec_overrides))
    if not frameworks:
        raise PlanError("no framework given; choose pytorch and/or jax with --framework")
    for framework in frameworks:
        if framework not in FRAMEWORKS:
            raise PlanError(f"unknown framework {framework!r}; choose one of {', '.join(FRAMEWORKS)}")
        if load_modules:  # imports the module: a broken submission fails here, not in each trial
            loader.load_submission(submission_dir, framework)
        elif not loader.module_path(submission_dir, framework).exists():
            raise PlanError(f"{loader.module_path(submission_dir, framework)}: missing")
    has_space = ruleset_of(submission_dir) == "external"
    ruleset = ruleset or ("external" if has_space else "self")
    if ruleset not in RULESETS:
        raise PlanError(f"unknown ruleset {ruleset!r}; choose external or self")
    if ruleset == "external" and not has_space:
        raise PlanError(f"{submission_dir}: no {loader.SEARCH_SPACE_FILE}, so it can only run "
                        "self-tuning; use --ruleset self or add a search space")
    studies = DEFAULT_STUDIES if studies is None else studies
    if studies < 1:
        raise PlanError(f"--studies must be at least 1, got {studies}")
    if ruleset == "self":
        if trials not in (None, 1):
            raise PlanError(f"self-tuning runs one trial per study; drop --trials {trials}")
        trials = 1
    trials = DEFAULT_TRIALS[ruleset] if trials is None else trials
    if trials < 1:
        raise PlanError(f"--trials must be at least 1, got {trials}")
    if ruleset == "external":
        space = search_space.load(submission_dir / loader.SEARCH_SPACE_FILE)
        size = search_space.num_points(space)
        if size is not None and trials > size:
            raise PlanError(f"{submission_dir / loader.SEARCH_SPACE_FILE} lists {size} points; "
                            f"use --trials {size} or fewer")
    if devices < 1:
        raise PlanError(f"--devices must be at least 1, got {devices}")
    plan = Plan(Path(out).resolve(), str(submission_dir), ruleset, base_seed, workloads,
                frameworks, studies, trials)
    for study in range(studies):  # studies first: an interrupted plan has whole studies done
        points = [hyperparameters_for(submission_dir, ruleset, base_seed, study, t)
                  for t in range(trials)]
        for framework in frameworks:
            for workload in workloads:
                plan.tasks.extend(
                    TrialTask(str(submission_dir), workload, framework, ruleset, study, t,
                              base_seed, points[t], str(plan.out), devices, data_dir,
                              keep_checkpoint, dict(spec_overrides or {}))
                    for t in range(trials))
    return plan


def _entry(task: TrialTask) -> dict[str, Any]:
    return {"folder": task.key, "submission": task.submission, "submission_dir": task.submission_dir,
            "workload": task.workload, "framework": task.framework, "ruleset": task.ruleset,
            "study": task.study, "trial": task.trial,
            "study_seed": derive_seed(task.base_seed, "study", task.study), "seed": task.seed,
            "devices": task.devices, "hyperparameters": task.hyperparameters}


def write_plan(plan: Plan) -> Path:
    """Record the plan in OUT/plan.json before anything runs. An existing plan.json (an earlier or
    interrupted run into the same folder) is extended, never contradicted: the same base seed, and
    the same hyperparameters for every trial both name; a trial folder written outside any plan
    must hold the planned hyperparameters too. PlanError names the conflict."""
    path = plan.out / PLAN_FILE
    if path.exists():
        try:
            recorded = read_json(path)
        except CorruptLogError as err:
            raise PlanError(f"{err}; move it away to start a new plan there") from None
    else:
        recorded = {"format": 1, "base_seed": plan.base_seed, "trials": [], "invocations": []}
    if recorded.get("base_seed") != plan.base_seed:
        raise PlanError(f"{path} was planned with --seed {recorded.get('base_seed')}; use that "
                        f"seed or another --out")
    entries = {e["folder"]: e for e in recorded["trials"]}
    for task in plan.tasks:
        before = entries.get(task.key)
        if before is not None and before["hyperparameters"] != task.hyperparameters:
            raise PlanError(f"{path}: {task.key} was planned with other hyperparameters (has the "
                            f"search space changed?); use another --out")
        hparams_path = task.folder / HPARAMS_FILE
        if before is None and hparams_path.exists():
            try:
                found = read_json(hparams_path)
            except CorruptLogError:
                found = None
            if found != task.hyperparameters:
                raise PlanError(f"{hparams_path}: holds other hyperparameters than this plan's; "
                                f"use another --out")
        entries[task.key] = _entry(task)
    recorded["trials"] = sorted(entries.values(), key=lambda e: e["folder"])
    recorded["invocations"].append({
        "command": " ".join(sys.argv), "planned_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "submission": Path(plan.submission_dir).name, "ruleset": plan.ruleset,
        "frameworks": plan.frameworks, "workloads": plan.workloads, "studies": plan.studies,
        "trials": plan.trials, "development": plan.development,
        "folders": [t.key for t in plan.tasks]})
    atomic_write_json(path, recorded)
    return path


def trial_meta(task: TrialTask) -> dict | None:
    """The trial's meta.json, or None when there is none (not started) or it cannot be read."""
    try:
        return read_json(task.folder / META_FILE)
    except CorruptLogError:
        return None


def _time_to_target(meta: dict) -> float:
    ttt = (meta.get("final") or {}).get("time_to_target")
    return math.inf if meta.get("status") != "completed" or ttt is None else float(ttt)


class Progress:
    """The plan's state as trials start and end: done / running / failed, and the best time to
    target so far per workload; one line per change, so that it reads well in a log file too."""

    def __init__(self, plan: Plan, stream=None):
        self.plan, self.stream = plan, stream or sys.stdout
        self.start = time.monotonic()
        self.metas: dict[str, dict] = {}
        self.running: set[str] = set()

    def _print(self, text: str) -> None:
        print(f"[{time.monotonic() - self.start:7.1f}s] {text}", file=self.stream, flush=True)

    def counts(self) -> dict[str, int]:
        failed = sum(m.get("status") == "failed" for m in self.metas.values())
        return {"total": len(self.plan.tasks), "done": len(self.metas), "running": len(self.running),
                "failed": failed}

    def best(self) -> dict[str, tuple[float, dict]]:
        """Per `framework/workload`: the smallest time to target of a completed trial so far."""
        best: dict[str, tuple[float, dict]] = {}
        for meta in self.metas.values():
            name = f"{meta.get('framework')}/{meta.get('workload')}"
            ttt = _time_to_target(meta)
            if name not in best or ttt < best[name][0]:
                best[name] = (ttt, meta)
        return best

    def status_line(self) -> str:
        c = self.counts()
        parts = []
        for name, (ttt, meta) in sorted(self.best().items()):
            parts.append(f"{name} best {ttt:.2f} s (study {meta['study']} trial {meta['trial']})"
                         if math.isfinite(ttt) else f"{name} best -")
        return (f"{c['done']}/{c['total']} done, {c['running']} running, {c['failed']} failed"
                + (" | " + "; ".join(parts) if parts else ""))

    def started(self, task: TrialTask, where: str = "") -> None:
        self.running.add(task.key)
        self._print(f"start   {task.key}{' ' + where if where else ''}")

    def ended(self, task: TrialTask, meta: dict, skipped: bool = False) -> None:
        self.running.discard(task.key)
        self.metas[task.key] = meta
        status = meta.get("status")
        if status == "failed":
            lines = str(meta.get("error") or "").strip().splitlines()
            what = f"failed: {lines[-1] if lines else 'no error recorded'}"
        else:
            ttt = _time_to_target(meta)
            shown = f"{ttt:.2f} s" if math.isfinite(ttt) else "not reached"
            what = f"{status} ({meta.get('stop_reason')}), time to target {shown}"
            steal = host_load.describe(host_load.of_trial(meta))
            what += f"; {steal}" if steal else ""
        self._print(f"{'skip   ' if skipped else 'end    '} {task.key}: "
                    f"{'already ' if skipped else ''}{what}")
        self._print(self.status_line())

    def summary(self) -> str:
        """Per framework/workload: each study's best time and their median (DESIGN.md's score
        input; `algobench score OUT` gives the full scoring)."""
        lines = [f"plan: {self.plan.describe()}"]
        groups: dict[str, dict[int, float]] = {}
        for meta in self.metas.values():
            name = f"{meta.get('framework')}/{meta.get('workload')}"
            study = groups.setdefault(name, {})
            study[meta["study"]] = min(study.get(meta["study"], math.inf), _time_to_target(meta))
        for name, per_study in sorted(groups.items()):
            times = [per_study[s] for s in sorted(per_study)]
            shown = ", ".join(f"{t:.2f}" if math.isfinite(t) else "inf" for t in times)
            median = statistics.median(times)
            lines.append(f"  {name}: best per study [{shown}] s, median "
                         f"{median:.2f} s" if math.isfinite(median) else
                         f"  {name}: best per study [{shown}] s, median inf (target not reached)")
        c = self.counts()
        lines.append(f"  {c['done']}/{c['total']} trials ended, {c['failed']} failed")
        return "\n".join(lines)
