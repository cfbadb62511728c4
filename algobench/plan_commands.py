"""The `algobench` commands that run a plan of trials through an executor: `tune` (a study plan:
one submission on workloads x frameworks x studies x trials) and `leaderboard` (the baselines
under a named protocol, then scored). Both are resumable: the same command again skips finished
trials and resumes interrupted ones."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from algobench.arguments import fail, not_a_folder, split_names
from harness import loader
from harness.logs import DiskFullError, is_disk_full, read_json
from harness.search_space import SearchSpaceError
from workloads.registry import BASE_WORKLOADS, DEFAULT_WORKLOADS, UnknownWorkloadError


def register(sub) -> None:
    """Add the `tune` and `leaderboard` subcommands to an argparse subparsers object."""
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
                            "under its protocol; the reference baseline runs too, to measure this "
                            "host against the reference's on each workload")
    board.add_argument("--no-anchor", action="store_true",
                       help="with --compare: do not add the reference baseline to the run; host "
                            "speed then comes from the host calibration (a larger error)")
    _add_run_options(board)
    board.set_defaults(func=cmd_leaderboard)


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
    from harness.submitit_executor import SubmititExecutor  # imports submitit: only here

    return SubmititExecutor(
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

    if not_a_folder(args.out):
        return fail(not_a_folder(args.out))
    try:
        plan = study.build_plan(
            args.submission, split_names(args.workloads), split_names(args.framework),
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
        return fail(str(DiskFullError(args.out, err)))
    except (loader.SubmissionError, SearchSpaceError, UnknownWorkloadError, ValueError,
            ImportError) as err:
        return fail(str(err))
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


def _with_anchor(submissions: list[str], reference: Path) -> list[str]:
    """Compare mode's submissions with the anchor (the reference baseline) added where the
    reference ran it and they lack it: its seconds per step, here and in the reference, are what
    put this run's times on the reference's hosts (scoring.hosts.host_factors)."""
    from algobench.leaderboard import LEADERBOARD_FILE
    from scoring.hosts import ANCHOR

    ran = {name for invocation in read_json(reference / LEADERBOARD_FILE)["invocations"]
           for name in invocation["submissions"]}
    if ANCHOR not in ran or ANCHOR in {Path(s).name for s in submissions}:
        return submissions
    print(f"compare mode: {ANCHOR} runs beside the submissions: its seconds per step here and in "
          f"{reference} measure this host against the reference's on each workload (--no-anchor: "
          "the host calibration instead)")
    return [*submissions, *_submission_dirs([ANCHOR])]


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from algobench import leaderboard
    from harness import study

    reference = Path(args.compare) if args.compare else None
    if not_a_folder(args.out):
        return fail(not_a_folder(args.out))
    try:
        protocol = leaderboard.PROTOCOLS[args.protocol]
        if reference is not None:
            recorded = leaderboard.read_protocol(reference)
            if recorded is None:
                raise study.PlanError(f"{reference}: no {leaderboard.LEADERBOARD_FILE}; --compare "
                                      "takes a folder `algobench leaderboard` wrote, e.g. reference_results")
            protocol = recorded
        submissions = (_submission_dirs(split_names(args.submissions)) if args.submissions
                       else [str(p) for p in leaderboard.shipped_baselines()])
        if reference is not None and not args.no_anchor:
            submissions = _with_anchor(submissions, reference)
        workloads = split_names(args.workloads) if args.workloads else list(BASE_WORKLOADS)
        plan = leaderboard.build(submissions, workloads, split_names(args.framework), protocol,
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
        return fail(str(err))
    code, _ = _run_plan(executor, plan)
    if code == 130:
        return code
    return max(code, _score_leaderboard(plan.out, reference))


def _score_leaderboard(out: Path, reference: Path | None) -> int:
    """The end of `algobench leaderboard`: score, write trials.csv and the reports; with a
    reference, how the run agrees with it (OUT/compare.csv)."""
    from algobench import leaderboard
    from scoring.leaderboard_output import leaderboard_text
    from scoring.noise import NoiseFileError
    from scoring.scoreboard import ScoringInputError
    from scoring.tables import load_results

    results = load_results([out])
    try:
        boards = leaderboard.score(results)
    except ScoringInputError as err:
        return fail(f"{out}: {err}")
    except NoiseFileError as err:  # names the noise file and the fix
        return fail(str(err))
    print("\n".join(leaderboard_text(b) for b in boards), end="")
    for path in leaderboard.write_outputs(out, boards, results):
        print(f"wrote {path}")
    if reference is None:
        return 0
    cells, scores = leaderboard.compare(load_results([reference]), results)
    cells.to_csv(out / "compare.csv", index=False)
    print(leaderboard.compare_text(cells, scores, leaderboard.normalization_notes()))
    print(f"wrote {out / 'compare.csv'}")
    return 0
