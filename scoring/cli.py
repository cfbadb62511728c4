"""The `algobench score` and `algobench report` subcommands.

`register(subparsers)` adds both to the `algobench` command's argparse subparsers:

    algobench score RESULTS_DIR... [--ruleset external|self] [--out DIR] [--variant-rule]
                    [--baseline NAME] [--tau-max 4] [--bootstrap 1000] [--seed 0]
                    [--cross-framework] [--normalize] [--noise FILE] [--log-x]
    algobench score --times TIMES.csv
    algobench report RESULTS_DIR... --out DIR [same options as score]

Each framework's entries are scored among their own (one leaderboard and profile per framework);
`--cross-framework` puts every entry in one labelled profile instead. With `--out`, each
scoreboard's tables and plots go to DIR/<framework> (or DIR/cross-framework).

Each handler returns the exit code: 0 on success, 2 on bad input (a missing folder, no trials,
a malformed times CSV or noise file, an unknown ruleset or baseline, --normalize on logs without
a calibration), with one line on stderr that names the file and the fix.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from scoring.bootstrap import N_BOOTSTRAP
from scoring.leaderboard import score_frameworks
from scoring.leaderboard_output import leaderboard_text, write_tables
from scoring.noise import NOISE_FILE, NoiseFileError, load_noise
from scoring.profiles import TAU_MAX
from scoring.scoreboard import ScoringInputError
from scoring.tables import load_results
from scoring.times_csv import TimesTableError, score_times_csv

BAD_INPUT = 2


def _fail(command: str, message: str) -> int:
    print(f"algobench {command}: error: {message}", file=sys.stderr)
    return BAD_INPUT


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", nargs="*", metavar="RESULTS_DIR",
                        help="folders holding trial logs (as written by algobench run/tune --out)")
    parser.add_argument("--ruleset", choices=["external", "self"], default=None,
                        help="which ruleset to score (default: the only one in the results)")
    parser.add_argument("--variant-rule", action="store_true",
                        help="AlgoPerf v0.5 rule: a base workload is unsolved where one of its variants is")
    parser.add_argument("--baseline", metavar="NAME", default=None,
                        help="entry to report geometric-mean speedups against")
    parser.add_argument("--tau-max", type=float, default=TAU_MAX,
                        help="ratios above this count as unsolved (default %(default)g)")
    parser.add_argument("--bootstrap", type=int, default=N_BOOTSTRAP, metavar="N",
                        help="bootstrap replicates over studies (default %(default)d)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default %(default)d)")
    parser.add_argument("--cross-framework", action="store_true",
                        help="put every framework's entries in one profile (labelled as such); by "
                             "default each framework is scored among its own entries")
    parser.add_argument("--normalize", action="store_true",
                        help="express every time in reference-host seconds (time / the trial's "
                             "calibration speed factor); needs calibrated trials")
    parser.add_argument("--noise", type=Path, default=None, metavar="FILE",
                        help=f"recorded minimum detectable speedups (default: {NOISE_FILE.name} in scoring/)")
    parser.add_argument("--log-x", action="store_true", help="training curves on a log x axis")


def register(subparsers) -> None:
    """Add the `score` and `report` subcommands to an argparse subparsers object."""
    score = subparsers.add_parser(
        "score", help="score trial logs: leaderboard, performance profile, intervals",
        description="Score trial logs (or a table of times) and print the leaderboard.",
    )
    _add_common(score)
    score.add_argument("--out", type=Path, default=None,
                       help="write CSV/Markdown tables and PNG/SVG plots here")
    score.add_argument("--times", type=Path, default=None, metavar="TIMES.csv",
                       help="score a CSV of per-workload times (name, one column per workload, inf "
                            "for unsolved) instead of logs; prints one name,score line each")
    score.set_defaults(func=run_score)
    report = subparsers.add_parser(
        "report", help="write a self-contained HTML report (and everything score writes)",
        description="Score trial logs and write report.html, tables and plots under --out.",
    )
    _add_common(report)
    report.add_argument("--out", type=Path, required=True, help="folder for report.html and the rest")
    report.set_defaults(func=run_report)


def _bad_option(args: argparse.Namespace) -> str:
    """What is wrong with --tau-max or --bootstrap, or ""."""
    if args.tau_max <= 1:
        return f"--tau-max {args.tau_max:g} must be greater than 1"
    if args.bootstrap < 1:
        return f"--bootstrap {args.bootstrap} must be at least 1"
    return ""


def _score_logs(args: argparse.Namespace, command: str):
    """Load and score the logs named by `args`; returns (scoreboard, None) or (None, exit code)."""
    if not args.results:
        return None, _fail(command, "no RESULTS_DIR given; pass the folder written by algobench run --out")
    try:
        results = load_results(args.results)
    except FileNotFoundError as err:
        return None, _fail(command, f"{err}; pass the folder written by algobench run --out")
    if results.trials.empty:
        where = ", ".join(str(r) for r in args.results)
        corrupt = len(results.problems)
        detail = f" ({corrupt} unreadable: {results.problems['message'].iloc[0]})" if corrupt else ""
        return None, _fail(command, f"{where}: no readable trial logs (meta.json){detail}; "
                                    "pass the folder written by algobench run --out")
    try:
        noise = load_noise(args.noise)
    except NoiseFileError as err:
        return None, _fail(command, str(err))
    try:
        boards = score_frameworks(results, ruleset=args.ruleset, cross_framework=args.cross_framework,
                                  variant_rule=args.variant_rule, baseline=args.baseline,
                                  tau_max=args.tau_max, n_bootstrap=args.bootstrap, seed=args.seed,
                                  normalize=args.normalize, noise=noise)
    except ScoringInputError as err:
        return None, _fail(command, f"{', '.join(str(r) for r in args.results)}: {err}")
    return (boards, results), None


def run_score(args: argparse.Namespace) -> int:
    """`algobench score`: print the leaderboard; with --out write tables and plots too."""
    if message := _bad_option(args):
        return _fail("score", message)
    if args.times is not None:
        if args.results:
            return _fail("score", "--times scores a CSV of times; drop the RESULTS_DIR arguments")
        if args.variant_rule or args.baseline:
            return _fail("score", "--variant-rule and --baseline need trial logs, not --times")
        try:
            scores = score_times_csv(args.times, args.tau_max)
        except TimesTableError as err:
            return _fail("score", str(err))
        for name, value in scores:
            print(f"{name},{value:.6f}")
        return 0
    scored, code = _score_logs(args, "score")
    if scored is None:
        return code
    boards, _ = scored
    print("\n".join(leaderboard_text(b, max_problems=None if args.out is None else 20) for b in boards), end="")
    if args.out is not None:
        from scoring.plots import write_plots  # matplotlib only when plots are asked for

        for board in boards:
            write_tables(board, args.out / board.scope)
            write_plots(board, args.out / board.scope, args.log_x)
        print(f"wrote tables and plots to {', '.join(str(args.out / b.scope) for b in boards)}")
    return 0


def run_report(args: argparse.Namespace) -> int:
    """`algobench report`: everything `score --out` writes, plus a self-contained report.html."""
    if message := _bad_option(args):
        return _fail("report", message)
    scored, code = _score_logs(args, "report")
    if scored is None:
        return code
    boards, results = scored
    from scoring.report import write_report

    print("\n".join(leaderboard_text(b) for b in boards), end="")
    path = write_report(boards, args.out, log_x=args.log_x, results=results)
    print(f"wrote {path}")
    return 0
