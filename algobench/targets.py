"""The target-setting procedure of docs/targets.md, as code (`algobench set-targets`).

1. Tune: the reference submission's first `trials` search-space points run at `budget_sec` with an
   unreachable target (so each trains to its budget and logs its whole curve), in one framework.
   Each run also ends after `max_steps` steps (default `BASELINE_STEP_BUDGET` times the step hint):
   past its schedule's end a baseline trains at learning rate 0, which only costs time (the
   shipped baselines end their training there themselves, `submissions.common.data_selection`).
2. Confirm: the best point (by the best validation metric it reached) runs `seeds` times in every
   framework; its tuning run is the first of these in the tuning framework (the same run).
3. Derive: the validation target is the best validation metric that *every* confirmation run
   reached, rounded to `resolution` in the safe direction; the test target likewise from the test
   metric. The step hint is the schedule length the runs used; the budget is twice the slowest
   run's time to the new validation target, rounded up to 10 s; the eval period a 30th of it.
   Only the runs given the most cores time the budget: a run reused from an earlier invocation
   with fewer (one made under `taskset` beside other jobs) is slower for a reason the reference
   machine does not have. Its metrics still count for the targets.

Every run is kept under the output folder as evidence, with `targets.json` summarizing them.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from harness import loader, search_space
from harness.logs import atomic_write_json, read_trial
from harness.spec import baseline_step_budget
from workloads.spec import WorkloadSpec, meets_target

TARGETS_FILE = "targets.json"
#: A run counts as having finished its schedule from this fraction of the step hint on: in the last
#: 1% of a warmup + cosine schedule the learning rate is under 0.03% of its peak.
FINISHED = 0.99


@dataclass(frozen=True)
class Targets:
    validation_target: float
    test_target: float
    step_hint: int
    max_runtime_sec: float  # the eval period follows from it (workloads/spec.py)

    def spec_fields(self) -> str:
        """The lines to paste into the workload's spec."""
        return "\n".join(f"    {k}={v!r}," for k, v in vars(self).items())


def unreachable(spec: WorkloadSpec) -> float:
    """A target no run reaches, so that every tuning run trains to its budget."""
    return -math.inf if spec.lower_is_better else math.inf


def _round_safe(value: float, resolution: float, lower_is_better: bool) -> float:
    """Round to the resolution in the direction that makes the target easier to meet."""
    steps = value / resolution
    steps = math.ceil(steps - 1e-9) if lower_is_better else math.floor(steps + 1e-9)
    return round(steps * resolution, 10)


def best_value(rows: Sequence[dict], key: str, lower_is_better: bool) -> float:
    values = [r[key] for r in rows if r.get(key) is not None and math.isfinite(r[key])]
    if not values:
        return math.nan
    return min(values) if lower_is_better else max(values)


def derive_targets(runs: Sequence[Sequence[dict]], metric: str, lower_is_better: bool,
                   step_hint: int, resolution: float, timed: Sequence[bool] | None = None) -> Targets:
    """Targets from the eval rows of the confirmation runs (docs/targets.md, step 3). `timed` says
    which runs time the budget (default: all)."""
    if not runs or any(not rows for rows in runs):
        raise ValueError("every confirmation run needs at least one evaluation")
    timed = [True] * len(runs) if timed is None else list(timed)
    if len(timed) != len(runs) or not any(timed):
        raise ValueError("timed needs one flag per run and at least one run that times the budget")
    worst = max if lower_is_better else min
    targets = {}
    for split in ("validation", "test"):
        reached = [best_value(rows, f"{split}/{metric}", lower_is_better) for rows in runs]
        if any(math.isnan(v) for v in reached):
            raise ValueError(f"a confirmation run has no finite {split}/{metric}; it diverged")
        targets[split] = _round_safe(worst(reached), resolution, lower_is_better)
    times = [next(r["score"] for r in rows if meets_target(
                 r[f"validation/{metric}"], targets["validation"], lower_is_better))
             for rows, counts in zip(runs, timed) if counts]
    budget = 10.0 * math.ceil(2 * max(times) / 10.0)
    return Targets(targets["validation"], targets["test"], int(step_hint), budget)


def best_point(trial_dirs: Sequence[Path], metric: str, lower_is_better: bool) -> tuple[int, dict]:
    """(index, hyperparameters) of the tuning trial with the best validation metric."""
    scored = []
    for index, folder in enumerate(trial_dirs):
        trial = read_trial(folder)
        value = best_value(trial["evals"], f"validation/{metric}", lower_is_better)
        if not math.isnan(value):
            scored.append((value, index, trial["hparams"]))
    if not scored:
        raise ValueError("no tuning trial produced a finite validation metric")
    value, index, hparams = (min if lower_is_better else max)(scored, key=lambda s: s[0])
    return index, hparams


def unfinished(summary: dict) -> list[str]:
    """One line per confirmation run of a targets.json summary that stopped before the end of its
    schedule (the time budget came first): its best is not what the schedule reaches, and a target
    it sets is looser than the baseline's (docs/targets.md)."""
    return [f"{run['folder']}: stopped by its {run.get('stop_reason', 'budget')} at step {run['steps']}, before its "
            f"schedule's end at step {summary['targets']['step_hint']}; its best sets a looser target "
            f"than a finished run would (move it away and run again with a larger --budget)"
            for run in summary["confirmation"] if not run.get("finished_schedule", True)
            and run.get("stop_reason") != "targets_reached"]  # met the target in force: a lower bound


def write_summary(out: Path, spec: WorkloadSpec, targets: Targets, tuning: list[dict],
                  best_index: int | None, confirmations: list[dict]) -> Path:
    path = Path(out) / TARGETS_FILE
    atomic_write_json(path, {
        "workload": spec.name, "base": spec.base, "metric": spec.target_metric,
        "lower_is_better": spec.lower_is_better, "targets": vars(targets),
        "tuning": tuning, "best_point": best_index, "confirmation": confirmations,
    })
    return path


def run_overrides(spec: WorkloadSpec, budget_sec: float | None, step_hint: int | None,
                  max_steps: int | None) -> dict[str, Any]:
    """The spec fields every run of the procedure replaces: an unreachable target, the budget,
    the schedule length and its step budget (module docstring)."""
    budget_sec = spec.max_runtime_sec if budget_sec is None else budget_sec
    step_hint = spec.step_hint if step_hint is None else step_hint
    max_steps = baseline_step_budget(step_hint) if max_steps is None else max_steps
    if max_steps < 1:
        raise ValueError(f"--max-steps must be at least 1, got {max_steps}")
    return {"validation_target": unreachable(spec), "test_target": unreachable(spec),
            "max_runtime_sec": budget_sec, "step_hint": step_hint, "max_steps": max_steps,
            "eval_period_sec": min(spec.eval_period_sec, budget_sec / 10)}


def describe_plan(spec: WorkloadSpec, submission_dir: Path | str, frameworks: Sequence[str], *,
                  trials: int = 5, seeds: int = 2, budget_sec: float | None = None,
                  step_hint: int | None = None, max_steps: int | None = None, parallel: int = 1,
                  recorded: dict | None = None) -> list[str]:
    """`set-targets --dry-run`: the runs the procedure makes and their estimated time. Every run
    trains to its budget or its step budget, whichever comes first: the step budget at the
    reference baseline's recorded step time (docs/workloads.md) where there is one."""
    from harness import study

    overrides = run_overrides(spec, budget_sec, step_hint, max_steps)
    recorded = study.recorded_times() if recorded is None else recorded
    size = search_space.num_points(
        search_space.load(Path(submission_dir) / loader.SEARCH_SPACE_FILE))
    points = trials if size is None else min(trials, size)
    budget, max_steps = overrides["max_runtime_sec"], overrides["max_steps"]
    lines, total = [], 0.0
    for framework in frameworks:
        tunes = framework == frameworks[0]  # its best tuning run is its first confirmation run
        count = seeds + (points - 1 if tunes else 0)
        ms = recorded.get((spec.name, framework), {}).get("ms_per_step")
        per_run = budget if ms is None else min(budget, max_steps * ms / 1000)
        total += per_run * count
        how = "no recorded step time" if ms is None else f"{max_steps} steps at {ms:g} ms/step"
        what = (f"{points} tuning, {seeds} confirmation incl. the best tuning run" if tunes
                else f"0 tuning, {seeds} confirmation")
        lines.append(f"  {framework} {spec.name}: {count} run{'s' if count != 1 else ''} ({what}), budget {budget:g} s or "
                     f"{max_steps} steps each (~{study.format_duration(per_run)}: {how})")
    lines.append(f"estimated time ({parallel} run{'s' if parallel > 1 else ''} at a time, "
                 f"submission time; evaluations and setup come on top): "
                 f"{study.format_duration(total / parallel)}")
    return lines


def targets_from_runs(spec: WorkloadSpec, submission_dir: Path | str, roots: Sequence[Path | str],
                      out: Path | str, *, resolution: float = 0.005) -> Targets:
    """Step 3 alone, on runs made elsewhere: every completed run of the submission on `spec`'s
    workload under `roots` (in practice the reference baseline's seeds that
    benchmarks/min_detectable_speedup.py runs), all of one search-space point, counts as a
    confirmation run. A run made with a real target ended when it met it, so its best is a lower
    bound of what it would reach: the targets derived are never harder than every run reaches.
    Validation metrics after `BASELINE_STEP_BUDGET` step hints are left out, as set-targets' own
    runs end there (a run that misses trains to its budget, and past its schedule's end, with
    batch norm, only its running averages move). Test metrics are kept wherever they are: a run
    measures the test split once its validation target is met and at its final evaluation
    (docs/scoring.md), so a run that missed has its only one at its end. The summary goes to
    `out/targets.json`."""
    from harness.logs import find_trial_folders

    name = Path(submission_dir).name
    runs = [read_trial(folder) for root in roots for folder in find_trial_folders(root)]
    runs = [t for t in runs if t["meta"].get("submission") == name
            and t["meta"].get("workload") == spec.name and t["meta"].get("status") == "completed"]
    if not runs:
        raise ValueError(f"{', '.join(map(str, roots))}: no completed run of {name} on {spec.name}")
    points = {json.dumps(t["hparams"], sort_keys=True) for t in runs}
    if len(points) > 1:
        raise ValueError(f"{', '.join(map(str, roots))}: the runs of {name} on {spec.name} are of "
                         f"{len(points)} search-space points; give folders that hold one point's seeds")
    last_step = baseline_step_budget(spec.step_hint)
    key = f"validation/{spec.target_metric}"
    evals = [[r if r["global_step"] <= last_step else {**r, key: math.nan} for r in t["evals"]]
             for t in runs]
    cores = [t["meta"]["hardware"]["cores_used"] for t in runs]
    targets = derive_targets(evals, spec.target_metric, spec.lower_is_better, spec.step_hint,
                             resolution, timed=[c == max(cores) for c in cores])
    write_summary(out, spec, targets, [], None,
                  [_summarize(t, rows, spec, spec.step_hint) for t, rows in zip(runs, evals)])
    return targets


def _summarize(trial: dict, rows: Sequence[dict], spec: WorkloadSpec, step_hint: int) -> dict:
    """One run's line in targets.json: its point, best validation and test metric over `rows`,
    steps and how it ended."""
    meta, metric = trial["meta"], spec.target_metric
    return {"folder": trial["folder"], "hyperparameters": trial["hparams"],
            "framework": meta["framework"], "study": meta["study"],
            "best_validation": best_value(rows, f"validation/{metric}", spec.lower_is_better),
            "best_test": best_value(rows, f"test/{metric}", spec.lower_is_better),
            "steps": meta["final"]["global_step"], "stop_reason": meta["stop_reason"],
            "finished_schedule": meta["final"]["global_step"] >= FINISHED * step_hint}


def set_targets(spec: WorkloadSpec, submission_dir: Path | str, frameworks: Sequence[str], out: Path | str,
                *, trials: int = 5, seeds: int = 2, budget_sec: float | None = None,
                step_hint: int | None = None, max_steps: int | None = None,
                resolution: float = 0.005, base_seed: int = 0,
                parallel: int = 1, threads: int | None = None, tune_framework: str | None = None,
                stream=None) -> Targets:
    """Run the procedure (module docstring) and return the derived targets; runs are kept in
    `out/tuning` and `out/confirmation`, their summary in `out/targets.json`. Finished runs are
    reused when the same command runs again."""
    from harness import executors, study  # the trial machinery, only when runs are made
    from scoring.progress import best_so_far

    out = Path(out)
    overrides = run_overrides(spec, budget_sec, step_hint, max_steps)
    step_hint = overrides["step_hint"]
    executor = executors.LocalExecutor(parallel, threads)

    def run(plan) -> list[dict]:
        executor.check(plan.tasks)
        study.write_plan(plan)
        executor.run(plan.tasks, study.Progress(plan, stream, results=best_so_far))
        return [read_trial(task.folder) for task in plan.tasks]

    tuning_framework = tune_framework or frameworks[0]
    tuning = study.build_plan(submission_dir, [spec.name], [tuning_framework], out=out / "tuning",
                              ruleset="external", studies=1, trials=trials, base_seed=base_seed,
                              spec_overrides=overrides)
    tuned = run(tuning)
    index, hparams = best_point([Path(t["folder"]) for t in tuned], spec.target_metric,
                                spec.lower_is_better)
    confirmation = study.build_plan(submission_dir, [spec.name], frameworks, out=out / "confirmation",
                                    ruleset="external", studies=seeds, trials=index + 1,
                                    base_seed=base_seed, spec_overrides=overrides)
    # The tuning run of the best point is the confirmation run of study 0 in the tuning framework
    # (same point, seed, overrides and budget): it counts as one, instead of being run again.
    same_as_tuned = lambda task: task.framework == tuning_framework and task.study == 0  # noqa: E731
    confirmation.tasks = [dataclasses.replace(task, hyperparameters=hparams)
                          for task in confirmation.tasks if task.trial == index and not same_as_tuned(task)]
    confirmed = [tuned[index], *run(confirmation)]
    failed = [t["folder"] for t in confirmed if t["meta"]["status"] != "completed"]
    if failed:
        raise ValueError(f"confirmation runs did not complete: {failed}; see their meta.json")
    cores = [t["meta"]["hardware"]["cores_used"] for t in confirmed]
    targets = derive_targets([t["evals"] for t in confirmed], spec.target_metric,
                             spec.lower_is_better, step_hint, resolution,
                             timed=[c == max(cores) for c in cores])
    write_summary(out, spec, targets, [_summarize(t, t["evals"], spec, step_hint) for t in tuned],
                  index, [_summarize(t, t["evals"], spec, step_hint) for t in confirmed])
    return targets
