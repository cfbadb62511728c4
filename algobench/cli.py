"""The `algobench` command line."""

# Here: the parser, `main`, and the commands that run or inspect one thing (`run`, `workloads`,
# `check`, `new`, `set-targets`). The commands that run a plan of trials (`tune`, `leaderboard`)
# are in algobench/plan_commands.py, `audit` in algobench/audit.py, `score` and `report` in
# scoring/cli.py. (The docstring above is the parser's description.)

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from algobench.arguments import fail, not_a_folder, split_names
from harness import host_load, loader
from harness.backends import FRAMEWORKS
from harness.logs import DiskFullError
from harness.search_space import SearchSpaceError
from workloads.spec import EVAL_SCHEDULES
try:
    from workloads.registry import (DEFAULT_WORKLOADS, PENDING, REGISTRY, UnknownWorkloadError,
                                    get_spec)
except ValueError as err:  # a malformed workload spec: one line naming it, not a traceback
    sys.exit(f"algobench: error: {err}")
# after the registry's check: plan_commands imports the registry too
from algobench.plan_commands import register as register_plan_commands  # noqa: E402


def _progress_printer(framework: str, workload: str, metric: str, target: float):
    def on_eval(row: dict) -> None:
        value, test = row[f"validation/{metric}"], row[f"test/{metric}"]
        # the test split is measured once the validation target is met, the validation split then
        # only at the last eval (docs/scoring.md#the-eval-schedule)
        shown = "not measured yet" if math.isnan(test) else f"{test:.4f}"
        validation = "met, measured again at the end" if math.isnan(value) else f"{value:.4f}"
        print(f"[{framework} {workload}] step {row['global_step']:>6}  "
              f"submission time {row['score']:8.1f}s  validation {metric} {validation} "
              f"(target {target})  test {shown}", flush=True)

    return on_eval


def _read_hparams(path: str, submission: Path, ruleset: str) -> dict:
    """`--hparams FILE`: checked against the submission's search space (search_space.load_point)."""
    from harness import search_space

    space_path = submission / loader.SEARCH_SPACE_FILE
    space = search_space.load(space_path) if ruleset == "external" else None
    return search_space.load_point(path, space, space_path)


def _stop_on_sigterm(signum, frame):  # SIGTERM like Ctrl-C: the trial stops, resumable
    raise KeyboardInterrupt


def cmd_run(args: argparse.Namespace) -> int:
    import signal

    from harness import backends
    from harness.task import make_task, ruleset_of
    from harness.trial import run_trial

    submission, folder = Path(args.submission), Path(args.out)
    if not submission.is_dir():
        return fail(loader.no_such_folder(submission))
    if not_a_folder(args.out):
        return fail(not_a_folder(args.out))
    try:
        cores = backends.pin_cores(args.threads)
        if args.framework == "jax":  # before JAX starts: its host devices, one per core
            backends.use_jax_host_devices(len(cores))
        hparams = (_read_hparams(args.hparams, submission, ruleset_of(submission))
                   if args.hparams else None)
        task = make_task(submission, args.workload, args.framework, args.out,
                         base_seed=args.seed, study=args.study, trial=args.trial,
                         hyperparameters=hparams, data_dir=args.data_dir,
                         keep_checkpoint=not args.no_keep_checkpoint,
                         spec_overrides=_schedule_overrides(args.eval_schedule))
        spec, folder = task.spec(), task.folder
        print(f"[{args.framework} {args.workload}] trial {folder}, hyperparameters "
              f"{json.dumps(task.hyperparameters, sort_keys=True) if task.hyperparameters else 'none (self-tuning)'}",
              flush=True)
        previous = (signal.signal(signal.SIGTERM, _stop_on_sigterm),
                    signal.signal(signal.SIGINT, signal.default_int_handler))
        try:
            meta = run_trial(task, spec=spec, cores=cores, on_eval=_progress_printer(
                args.framework, args.workload, spec.target_metric, spec.validation_target))
        finally:
            signal.signal(signal.SIGTERM, previous[0])
            signal.signal(signal.SIGINT, previous[1])
    except (loader.SubmissionError, SearchSpaceError, UnknownWorkloadError, FileNotFoundError,
            json.JSONDecodeError, ValueError, ImportError) as err:
        return fail(str(err))
    except KeyboardInterrupt:
        print(f"interrupted: the trial in {folder} stopped and resumes from its last checkpoint; "
              "run the same command again to finish it", file=sys.stderr)
        return 130
    except DiskFullError as err:
        print(f"algobench: error: {err}", file=sys.stderr)
        return 1
    return _print_result(meta)


def _schedule_overrides(schedule: str) -> dict:
    """The spec fields `--eval-schedule` replaces: none for the default; else the schedule, with
    its eval and snapshot periods derived again from it (workloads/spec.py)."""
    if schedule == EVAL_SCHEDULES[0]:
        return {}
    return {"eval_schedule": schedule, "eval_period_sec": None, "snapshot_period_sec": None}


def _print_result(meta: dict) -> int:
    """The end of `algobench run`: how the trial ended, its time to target (and a warning when the
    host stole over 5% of its CPU time); the exit code."""
    final = meta.get("final", {})
    ttt = final.get("time_to_target")
    print(f"{meta['submission']} on {meta['workload']} ({meta['framework']}): {meta['status']}, "
          f"stopped by {meta['stop_reason']} after {final.get('global_step')} steps")
    if meta["status"] == "failed":
        print(meta["error"], file=sys.stderr)
        return 1
    shown = f"{ttt:.1f} s" if ttt is not None else "inf (target not reached)"
    print(f"time-to-target: {shown}  [{meta['framework']} {meta['workload']}]")
    steal = host_load.describe(host_load.of_trial(meta))
    if steal:
        print(f"warning: {steal}", file=sys.stderr)
    return 0


def cmd_workloads(args: argparse.Namespace) -> int:
    entries = [{**spec.summary(), "pending": False} for spec in REGISTRY.values()]
    pending = [{**spec.summary(), "pending": True} for spec in PENDING.values()]
    if args.json:
        print(json.dumps(entries + pending, indent=2))
        return 0
    name_w = max(len(e["name"]) for e in entries) + 2
    base_w = max(len(e["base"] or "-") for e in entries) + 2
    metric_w = max(len(e["metric"]) for e in entries) + 2
    print(f"{'name':<{name_w}}{'base':<{base_w}}{'metric':<{metric_w}}{'val target':>11}"
          f"{'test target':>12}{'budget s':>10}{'eval s':>8}{'step hint':>10}")
    for e in entries:
        direction = "<=" if e["lower_is_better"] else ">="
        print(f"{e['name']:<{name_w}}{(e['base'] or '-'):<{base_w}}{e['metric']:<{metric_w}}"
              f"{direction + str(e['validation_target']):>11}{direction + str(e['test_target']):>12}"
              f"{e['max_runtime_sec']:>10g}{e['eval_period_sec']:>8g}{e['step_hint']:>10}")
    print(f"\ndefault workloads: {', '.join(DEFAULT_WORKLOADS)}")
    if pending:
        print("\nwaiting for targets (only `algobench set-targets NAME --out DIR` runs them):")
        for e in pending:
            print(f"  {e['name']:<{name_w}}{(e['base'] or '-'):<{base_w}}{e['metric']}")
    else:
        print("\nwaiting for targets: none")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    frameworks = [args.framework] if args.framework else None
    problems, ruleset = loader.check_submission(args.submission, frameworks)
    for problem in problems:
        print(f"algobench check: {problem}", file=sys.stderr)
    if problems:
        return 2
    shipped = frameworks or loader.frameworks_of(args.submission)
    print(f"{args.submission}: ok ({', '.join(shipped)}; {ruleset})")
    return 0


def cmd_new(args: argparse.Namespace) -> int:
    """Write a submission package from harness/templates, with every function's contract."""
    import re

    if not re.fullmatch(r"[a-z][a-z0-9_]*", args.name):
        return fail(f"{args.name!r}: a submission name is lower case letters, digits and _ "
                     "(it becomes a folder and a module name)")
    folder = Path(args.dir) / args.name
    if folder.exists():
        return fail(f"{folder}: already exists; choose another name or --dir (nothing was written)")
    templates = Path(__file__).resolve().parents[1] / "harness" / "templates"
    folder.mkdir(parents=True)
    for template in sorted(templates.iterdir()):
        if template.is_file():
            (folder / template.name).write_text(template.read_text().replace("{name}", args.name))
    print(f"wrote {folder}/: submission_pytorch.py, submission_jax.py, tuning_search_space.json, "
          f"README.md\nnext: fill in init_optimizer_state and update_params, then "
          f"`algobench check {folder}` (docs/submitting.md walks through the rest)")
    return 0


def cmd_set_targets(args: argparse.Namespace) -> int:
    from harness.logs import read_json
    from algobench.targets import TARGETS_FILE, set_targets, unfinished

    if not Path(args.submission).is_dir():  # the default is relative to the repository's root
        return fail(f"{loader.no_such_folder(args.submission)} (give --submission DIR)")
    try:
        spec = get_spec(args.workload, pending_ok=True)
        if args.dry_run:
            from algobench.targets import describe_plan

            print(f"set-targets {args.workload} with {args.submission}:")
            print("\n".join(describe_plan(
                spec, args.submission, split_names(args.framework), trials=args.trials,
                seeds=args.seeds, budget_sec=args.budget, step_hint=args.step_hint,
                max_steps=args.max_steps, parallel=args.parallel)))
            print("dry run: nothing was run or written")
            return 0
        if args.out is None:
            raise ValueError("set-targets keeps its runs as evidence: give --out DIR")
        if args.from_runs:
            from algobench.targets import targets_from_runs

            Path(args.out).mkdir(parents=True, exist_ok=True)
            targets = targets_from_runs(spec, args.submission, args.from_runs, args.out,
                                        resolution=args.resolution)
        else:
            targets = set_targets(
                spec, args.submission, split_names(args.framework), args.out, trials=args.trials,
                seeds=args.seeds, budget_sec=args.budget, step_hint=args.step_hint,
                max_steps=args.max_steps, resolution=args.resolution, base_seed=args.seed,
                parallel=args.parallel, threads=args.threads)
    except (loader.SubmissionError, SearchSpaceError, UnknownWorkloadError, ValueError,
            ImportError) as err:
        return fail(str(err))
    print(f"\ntargets for {args.workload} (runs and targets.json in {args.out}); paste into its spec:")
    print(targets.spec_fields())
    for line in unfinished(read_json(Path(args.out) / TARGETS_FILE)):
        print(f"warning: {line}", file=sys.stderr)
    return 0


# Commands that train or inspect; they skip importing scoring (pandas, matplotlib) to start fast.
LIGHT_COMMANDS = ("run", "workloads", "check", "new", "set-targets", "tune")


def build_parser(with_scoring: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="algobench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run one trial of a submission on a workload")
    run.add_argument("submission", help="submission folder (e.g. submissions/nadamw)")
    run.add_argument("--workload", default=DEFAULT_WORKLOADS[0])
    run.add_argument("--framework", choices=FRAMEWORKS, required=True)
    run.add_argument("--out", default="results", help="results folder (default: results)")
    run.add_argument("--seed", type=int, default=0, help="base seed (default: 0)")
    run.add_argument("--study", type=int, default=0)
    run.add_argument("--trial", type=int, default=0, help="trial index: the search-space point")
    run.add_argument("--hparams", help="JSON file of hyperparameter values (overrides --trial)")
    run.add_argument("--threads", type=int, help="CPU cores to use (default: all)")
    run.add_argument("--data-dir", help="where the workload's data files live (e.g. Fashion-MNIST)")
    run.add_argument("--no-keep-checkpoint", action="store_true",
                     help="delete the trial's checkpoint when it ends")
    run.add_argument("--eval-schedule", choices=EVAL_SCHEDULES, default=EVAL_SCHEDULES[0],
                     help="'algoperf': every split at every eval, an eval every budget/30, no "
                     "snapshots, to measure what this project's schedule changes (docs/scoring.md"
                     "#measurement-resolution); its times are not comparable with the default's")
    run.set_defaults(func=cmd_run)

    register_plan_commands(sub)  # `tune` and `leaderboard`

    workloads = sub.add_parser("workloads", help="list the workload registry")
    workloads.add_argument("--json", action="store_true", help="machine-readable output")
    workloads.set_defaults(func=cmd_workloads)

    check = sub.add_parser("check", help="validate a submission without training")
    check.add_argument("submission")
    check.add_argument("--framework", choices=FRAMEWORKS)
    check.set_defaults(func=cmd_check)

    targets = sub.add_parser(
        "set-targets", help="run the target-setting procedure (docs/targets.md) for a workload",
        description="Tune the reference submission at a budget, confirm its best point over seeds "
        "in every framework, and print the validation/test targets, step hint, budget and eval "
        "period to paste into the workload's spec. Runs are kept under --out as evidence.")
    targets.add_argument("workload")
    targets.add_argument("--submission", default="submissions/nadamw",
                         help="the reference submission (default: submissions/nadamw)")
    targets.add_argument("--framework", nargs="+", default=list(FRAMEWORKS))
    targets.add_argument("--trials", type=int, default=5, help="search-space points to tune (default 5)")
    targets.add_argument("--seeds", type=int, default=2,
                         help="confirmation runs of the best point per framework (default 2)")
    targets.add_argument("--budget", type=float, help="seconds per run (default: the spec's budget)")
    targets.add_argument("--step-hint", type=int, help="schedule length (default: the spec's)")
    targets.add_argument("--max-steps", type=int,
                         help="steps per run, besides --budget (default: 1.2 x the step hint)")
    targets.add_argument("--resolution", type=float, default=0.005,
                         help="targets are rounded to this, in the safe direction (default 0.005)")
    targets.add_argument("--from-runs", nargs="+", metavar="DIR",
                         help="run nothing: derive the targets from the completed runs of the "
                              "submission's one point under these folders (e.g. the seeds of "
                              "benchmarks/min_detectable_speedup.py)")
    targets.add_argument("--parallel", type=int, default=1, help="runs at a time (default 1)")
    targets.add_argument("--threads", type=int,
                         help="cores per run (default: the cores / --parallel)")
    targets.add_argument("--dry-run", action="store_true",
                         help="print the runs and their estimated time, run and write nothing")
    targets.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    targets.add_argument("--out", help="where the runs and targets.json go (required but with --dry-run)")
    targets.set_defaults(func=cmd_set_targets)

    new = sub.add_parser("new", help="write a new submission package from the template")
    new.add_argument("name", help="the submission's name (its folder name)")
    new.add_argument("--dir", default="submissions", help="where to write it (default: submissions)")
    new.set_defaults(func=cmd_new)

    from algobench.audit import register as register_audit  # `audit` (docs/integrity.md#audit)

    register_audit(sub)
    if with_scoring:
        from scoring.cli import register  # `score` and `report`

        register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(with_scoring=not argv or argv[0] not in LIGHT_COMMANDS).parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
