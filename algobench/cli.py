"""The `algobench` command line."""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
from pathlib import Path

from harness import host_load, loader
from harness.backends import FRAMEWORKS
from harness.logs import DiskFullError, is_disk_full
from harness.search_space import SearchSpaceError
try:
    from workloads.registry import (BASE_WORKLOADS, DEFAULT_WORKLOADS, PENDING, REGISTRY,
                                    UnknownWorkloadError, get_spec)
except ValueError as err:  # a malformed workload spec: one line naming it, not a traceback
    sys.exit(f"algobench: error: {err}")


def _fail(message: str) -> int:
    print(f"algobench: error: {message}", file=sys.stderr)
    return 2


def _progress_printer(framework: str, workload: str, metric: str, target: float):
    def on_eval(row: dict) -> None:
        value, test = row[f"validation/{metric}"], row[f"test/{metric}"]
        # the test split is measured once the validation target is met (docs/scoring.md)
        shown = "not measured yet" if math.isnan(test) else f"{test:.4f}"
        print(f"[{framework} {workload}] step {row['global_step']:>6}  "
              f"submission time {row['score']:8.1f}s  validation {metric} {value:.4f} "
              f"(target {target})  test {shown}", flush=True)

    return on_eval


def _not_a_folder(out: str) -> str | None:
    """Why `--out` cannot hold results (it, or a folder above it, is a file), or None."""
    for path in (Path(out), *Path(out).parents):
        if path.exists():
            return None if path.is_dir() else (
                f"--out {out}: {path} is a file, not a folder; give a folder for the results "
                "(it is made if missing)")
    return None


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
        return _fail(loader.no_such_folder(submission))
    if _not_a_folder(args.out):
        return _fail(_not_a_folder(args.out))
    try:
        cores = backends.pin_cores(args.threads)
        if args.framework == "jax":  # before JAX starts: its host devices, one per core
            backends.use_jax_host_devices(len(cores))
        hparams = (_read_hparams(args.hparams, submission, ruleset_of(submission))
                   if args.hparams else None)
        task = make_task(submission, args.workload, args.framework, args.out,
                         base_seed=args.seed, study=args.study, trial=args.trial,
                         hyperparameters=hparams, data_dir=args.data_dir,
                         keep_checkpoint=not args.no_keep_checkpoint)
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
        return _fail(str(err))
    except KeyboardInterrupt:
        print(f"interrupted: the trial in {folder} stopped and resumes from its last checkpoint; "
              "run the same command again to finish it", file=sys.stderr)
        return 130
    except DiskFullError as err:
        print(f"algobench: error: {err}", file=sys.stderr)
        return 1
    return _print_result(meta)


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


def _split_names(values: list[str]) -> list[str]:
    """`--workloads a b` and `--workloads a,b` alike."""
    return [name for value in values for name in value.split(",") if name]


def _executor(args: argparse.Namespace, tasks):
    """The executor `--executor` names, checked against the trials (study.PlanError)."""
    from harness import executors, study

    if args.executor == "local":
        executor = executors.LocalExecutor(1 if args.parallel is None else args.parallel, args.threads)
        executor.check(tasks)
        return executor
    if args.executor == "slurm" and shutil.which("sbatch") is None:
        raise study.PlanError("--executor slurm needs Slurm's sbatch on the PATH; "
                              "use --executor local on this machine")
    return executors.SubmititExecutor(
        Path(args.out) / "submitit", cluster="local" if args.executor == "submitit-local"
        else "slurm", parallel=args.parallel, threads=args.threads,
        timeout_min=args.timeout_min, slurm_partition=args.slurm_partition,
        gpus_per_trial=args.gpus_per_trial)


def _run_plan(executor, plan) -> tuple[int, object]:
    """Run a plan's trials (a study plan, or a leaderboard's plans), with progress lines; SIGTERM
    and Ctrl-C stop them resumable. Returns (exit code, progress)."""
    import signal

    from harness import study
    from scoring.progress import best_so_far

    progress = study.Progress(plan, results=best_so_far)

    def terminate(signum, frame):  # SIGTERM like Ctrl-C: stop the trials, keep them resumable
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        executor.run(plan.tasks, progress)
    except KeyboardInterrupt:
        print(f"interrupted: {progress.status_line()}; run the same command again to finish "
              "(finished trials are kept, interrupted ones resume)", file=sys.stderr)
        return 130, progress
    except OSError as err:  # the executor's own writes (worker.log, meta.json) on a full disk
        if not is_disk_full(err):
            raise
        print(f"algobench: error: {DiskFullError(plan.out, err)}", file=sys.stderr)
        return 1, progress
    finally:
        signal.signal(signal.SIGTERM, previous)
    return (1 if progress.counts()["failed"] else 0), progress


def cmd_tune(args: argparse.Namespace) -> int:
    from harness import study

    if _not_a_folder(args.out):
        return _fail(_not_a_folder(args.out))
    try:
        plan = study.build_plan(
            args.submission, _split_names(args.workloads), _split_names(args.framework),
            out=args.out, ruleset=args.ruleset, studies=args.studies, trials=args.trials,
            base_seed=args.seed, devices=args.devices, data_dir=args.data_dir,
            keep_checkpoint=not args.no_keep_checkpoint)
        executor = _executor(args, plan.tasks)
        if args.dry_run:
            print(f"plan: {plan.describe()}")
            print("\n".join(study.estimate_plan(plan, 1 if args.parallel is None else args.parallel)))
            print("dry run: nothing was run or written")
            return 0
        path = study.write_plan(plan)
    except OSError as err:
        if not is_disk_full(err):
            raise
        return _fail(str(DiskFullError(args.out, err)))
    except (loader.SubmissionError, SearchSpaceError, UnknownWorkloadError, ValueError,
            ImportError) as err:
        return _fail(str(err))
    print(f"plan: {plan.describe()}\nplan written to {path}", flush=True)
    code, progress = _run_plan(executor, plan)
    if code != 130:
        from scoring.progress import study_medians

        print("\n".join([f"plan: {plan.describe()}", *study_medians(progress.metas.values()),
                         progress.counts_line()]))
    return code




def _submission_dirs(names: list[str]) -> list[str]:
    """`nadamw` names submissions/nadamw; a path names itself."""
    from algobench.leaderboard import SHIPPED

    return [name if Path(name).is_dir() or "/" in name else str(SHIPPED / name) for name in names]


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from algobench import leaderboard
    from harness import study

    reference = Path(args.compare) if args.compare else None
    if _not_a_folder(args.out):
        return _fail(_not_a_folder(args.out))
    try:
        protocol = leaderboard.PROTOCOLS[args.protocol]
        if reference is not None:
            recorded = leaderboard.read_protocol(reference)
            if recorded is None:
                raise study.PlanError(f"{reference}: no {leaderboard.LEADERBOARD_FILE}; --compare "
                                      "takes a folder `algobench leaderboard` wrote, e.g. reference_results")
            protocol = recorded
        submissions = (_submission_dirs(_split_names(args.submissions)) if args.submissions
                       else [str(p) for p in leaderboard.shipped_baselines()])
        workloads = _split_names(args.workloads) if args.workloads else list(BASE_WORKLOADS)
        plan = leaderboard.build(submissions, workloads, _split_names(args.framework), protocol,
                                 args.out, base_seed=args.seed, data_dir=args.data_dir)
        executor = _executor(args, plan.tasks)
        print(f"leaderboard: {plan.describe()}")
        parallel = 1 if args.parallel is None else args.parallel
        print("\n".join(study.estimate(plan.tasks, plan.out, parallel)), flush=True)
        if args.dry_run:
            print("dry run: nothing was run or written")
            return 0
        plan.write()
    except (loader.SubmissionError, SearchSpaceError, UnknownWorkloadError, ValueError,
            ImportError) as err:
        return _fail(str(err))
    code, _ = _run_plan(executor, plan)
    if code == 130:
        return code
    return max(code, _score_leaderboard(plan.out, reference))


def _score_leaderboard(out: Path, reference: Path | None) -> int:
    """The end of `algobench leaderboard`: score, write trials.csv and the reports; with a
    reference, how the run agrees with it (OUT/compare.csv)."""
    from algobench import leaderboard
    from scoring.leaderboard import ScoringInputError, leaderboard_text
    from scoring.tables import load_results

    results = load_results([out])
    try:
        boards = leaderboard.score(results)
    except ScoringInputError as err:
        return _fail(f"{out}: {err}")
    print("\n".join(leaderboard_text(b) for b in boards), end="")
    for path in leaderboard.write_outputs(out, boards, results):
        print(f"wrote {path}")
    if reference is None:
        return 0
    cells, scores = leaderboard.compare(load_results([reference]), results)
    cells.to_csv(out / "compare.csv", index=False)
    normalized = bool(results.trials["speed_factor"].notna().all())
    print(leaderboard.compare_text(cells, scores, normalized, leaderboard.normalization_note()))
    print(f"wrote {out / 'compare.csv'}")
    return 0


def cmd_new(args: argparse.Namespace) -> int:
    """Write a submission package from harness/templates, with every function's contract."""
    import re

    if not re.fullmatch(r"[a-z][a-z0-9_]*", args.name):
        return _fail(f"{args.name!r}: a submission name is lower case letters, digits and _ "
                     "(it becomes a folder and a module name)")
    folder = Path(args.dir) / args.name
    if folder.exists():
        return _fail(f"{folder}: already exists; choose another name or --dir (nothing was written)")
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
        return _fail(f"{loader.no_such_folder(args.submission)} (give --submission DIR)")
    try:
        spec = get_spec(args.workload, pending_ok=True)
        if args.dry_run:
            from algobench.targets import describe_plan

            print(f"set-targets {args.workload} with {args.submission}:")
            print("\n".join(describe_plan(
                spec, args.submission, _split_names(args.framework), trials=args.trials,
                seeds=args.seeds, budget_sec=args.budget, step_hint=args.step_hint,
                max_steps=args.max_steps, parallel=args.parallel)))
            print("dry run: nothing was run or written")
            return 0
        if args.out is None:
            raise ValueError("set-targets keeps its runs as evidence: give --out DIR")
        targets = set_targets(
            spec, args.submission, _split_names(args.framework), args.out, trials=args.trials,
            seeds=args.seeds, budget_sec=args.budget, step_hint=args.step_hint,
            max_steps=args.max_steps, resolution=args.resolution, base_seed=args.seed,
            parallel=args.parallel, threads=args.threads)
    except (loader.SubmissionError, SearchSpaceError, UnknownWorkloadError, ValueError,
            ImportError) as err:
        return _fail(str(err))
    print(f"\ntargets for {args.workload} (runs and targets.json in {args.out}); paste into its spec:")
    print(targets.spec_fields())
    for line in unfinished(read_json(Path(args.out) / TARGETS_FILE)):
        print(f"warning: {line}", file=sys.stderr)
    return 0


# Commands that train or inspect; they skip importing scoring (pandas, matplotlib) to start fast.
LIGHT_COMMANDS = ("run", "workloads", "check", "new", "set-targets", "tune")


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    """Where and how the trials of `tune` and `leaderboard` run."""
    parser.add_argument("--executor", choices=("local", "slurm", "submitit-local"), default="local",
                        help="local processes, Slurm through submitit, or submitit's local backend")
    parser.add_argument("--parallel", type=int,
                        help="trials at a time (local default 1: each trial gets all cores; "
                             "slurm: the job array's parallelism)")
    parser.add_argument("--threads", type=int,
                        help="cores per trial (local default: cores / --parallel; slurm default 2)")
    parser.add_argument("--out", default="results", help="results folder (default: results)")
    parser.add_argument("--seed", type=int, default=0, help="base seed (default: 0)")
    parser.add_argument("--data-dir", help="where the workloads' data files live")
    parser.add_argument("--slurm-partition", help="Slurm partition (--executor slurm)")
    parser.add_argument("--timeout-min", type=int,
                        help="job time limit in minutes (--executor slurm; default: 3x budget + 10)")
    parser.add_argument("--gpus-per-trial", type=int, default=0,
                        help="GPUs per Slurm job (--executor slurm)")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the plan and its estimated time, run and write nothing")


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
    run.set_defaults(func=cmd_run)

    tune = sub.add_parser(
        "tune", help="run a study plan: workloads x frameworks x studies x trials",
        description="Run every trial of a plan (submission x workloads x frameworks x ruleset x "
        "studies x trials), each in its own process; OUT/plan.json lists the trials and their "
        "hyperparameters before any starts. Re-running the same command skips finished trials "
        "and resumes interrupted ones. Exit code 1 when a trial failed.")
    tune.add_argument("submission", help="submission folder (e.g. submissions/nadamw)")
    tune.add_argument("--workloads", nargs="+", default=list(DEFAULT_WORKLOADS),
                      help="workload names, space- or comma-separated (default: the default set)")
    tune.add_argument("--framework", nargs="+", required=True, help="pytorch and/or jax")
    tune.add_argument("--ruleset", choices=("external", "self"),
                      help="default: external when the package has a search space, else self")
    tune.add_argument("--studies", type=int, help="studies per workload (default: 3)")
    tune.add_argument("--trials", type=int,
                      help="trials per study (default: 5 external; self-tuning runs 1)")
    tune.add_argument("--devices", type=int, default=1,
                      help="data-parallel devices per trial: torchrun processes (PyTorch) or mesh "
                           "devices (JAX; without a GPU, JAX gets one host device per core "
                           "anyway, or this many if more) (default 1)")
    tune.add_argument("--no-keep-checkpoint", action="store_true",
                      help="delete each trial's checkpoint when it ends")
    _add_run_options(tune)
    tune.set_defaults(func=cmd_tune)

    board = sub.add_parser(
        "leaderboard", help="run the baselines' leaderboard under a protocol, score it, report it",
        description="Run submissions (default: every shipped baseline) on the base workloads under "
        "a named protocol (docs/leaderboard.md), workload by workload; resumable like tune; then "
        "score them (one leaderboard per ruleset and framework) and write trials.csv and the "
        "report under --out. --compare re-runs a subset against a reference leaderboard folder.")
    board.add_argument("--protocol", choices=("quick", "full", "tiny"), default="quick",
                       help="quick: first search-space point, 3 studies (default); full: 5 x 3; tiny: 2 studies, for tests")
    board.add_argument("--submissions", nargs="+",
                       help="names under submissions/ or package folders (default: every baseline)")
    board.add_argument("--workloads", nargs="+",
                       help="workload names (default: the nine base workloads)")
    board.add_argument("--framework", nargs="+", default=["pytorch"], help="pytorch and/or jax "
                       "(default: pytorch)")
    board.add_argument("--compare", metavar="REFERENCE_DIR",
                       help="a leaderboard folder (e.g. reference_results) to compare this run with, "
                            "under its protocol")
    _add_run_options(board)
    board.set_defaults(func=cmd_leaderboard)

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
