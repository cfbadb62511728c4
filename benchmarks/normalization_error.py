"""How well the host calibration predicts speed: the same trials under two configurations (by
default `--threads 1` against `--threads 2`), the ratio the calibrations predict against the
ratios measured, side by side in one run.

Runs the reference baseline (NAdamW point 0) with `--seeds` seeds per workload and framework under
each of `--configs` thread counts, alternating them, each trial in a fresh process through
`algobench run`, into `--out/threads_N` (a trial that already ended there is reused, so the script
resumes). Per (workload, framework, seed), with c the calibration seconds of each trial
(meta.json `calibration.seconds`):

- predicted: c_A / c_B, the speed factor between the two configurations;
- measured: the ratio of submission seconds per step, and the ratio of times to target;
- error: predicted / measured - 1, for each.

`score --normalize` divides a trial's time by its speed factor; its error on a pair of trials is
this error. Prints every row and the median and largest absolute error.

    .venv/bin/python benchmarks/normalization_error.py --workloads cnn lm --out results/normalization
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: the repository's packages come first
    sys.path.insert(0, str(REPO))

from harness.logs import find_trial_folders, read_trial  # noqa: E402

BASE_WORKLOADS = ("cnn", "vit", "unet", "gnn", "dlrm", "lm", "translate", "conformer", "deepspeech")
from harness.backends import FRAMEWORKS  # noqa: E402


def run_trials(args) -> None:
    for seed in range(args.seeds):
        for workload in args.workloads:
            for framework in args.frameworks:
                configs = args.configs if seed % 2 == 0 else args.configs[::-1]
                for threads in configs:
                    out = Path(args.out).resolve() / f"threads_{threads}"
                    command = [sys.executable, "-m", "algobench.cli", "run",
                               str(REPO / "submissions" / "nadamw"), "--workload", workload,
                               "--framework", framework, "--out", str(out), "--study", str(seed),
                               "--trial", "0", "--threads", str(threads), "--no-keep-checkpoint"]
                    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
                    status = "ok" if done.returncode == 0 else f"failed: {done.stderr.strip()[-300:]}"
                    print(f"seed {seed} {workload} {framework} threads {threads}: {status}", flush=True)


def trials_of(folder: Path) -> dict[tuple, dict]:
    """(workload, framework, study) -> meta.json of the ended trials under `folder`."""
    found = {}
    for trial_folder in find_trial_folders(folder):
        meta = read_trial(trial_folder)["meta"]
        if meta.get("status") == "completed" and meta.get("calibration"):
            found[meta["workload"], meta["framework"], meta["study"]] = meta
    return found


def seconds_per_step(meta: dict) -> float:
    return meta["final"]["accumulated_submission_time"] / max(1, meta["final"]["global_step"])


def compare(a: dict, b: dict) -> dict:
    """Predicted and measured ratios of trial `a` to trial `b`, and the errors."""
    predicted = a["calibration"]["seconds"] / b["calibration"]["seconds"]
    step_ratio = seconds_per_step(a) / seconds_per_step(b)
    ta, tb = a["final"]["time_to_target"], b["final"]["time_to_target"]
    ttt_ratio = ta / tb if ta and tb else None
    return {"predicted": predicted, "step_ratio": step_ratio, "ttt_ratio": ttt_ratio,
            "step_error": predicted / step_ratio - 1,
            "ttt_error": predicted / ttt_ratio - 1 if ttt_ratio else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", nargs="+", default=list(BASE_WORKLOADS))
    parser.add_argument("--frameworks", nargs="+", default=list(FRAMEWORKS), choices=FRAMEWORKS)
    parser.add_argument("--configs", nargs=2, type=int, default=[1, 2], metavar=("THREADS_A", "THREADS_B"))
    parser.add_argument("--seeds", type=int, default=2, help="trials per pair and config (default 2)")
    parser.add_argument("--out", default="results/normalization")
    parser.add_argument("--no-run", action="store_true", help="only compare what --out holds")
    parser.add_argument("--record", help="write the time-to-target error to this JSON file (e.g. "
                        "scoring/normalization.json, which `algobench leaderboard --compare` states)")
    args = parser.parse_args()
    if not args.no_run:
        run_trials(args)
    a_threads, b_threads = args.configs
    first, second = (trials_of(Path(args.out) / f"threads_{t}") for t in args.configs)
    keys = sorted(k for k in first.keys() & second.keys()
                  if k[0] in args.workloads and k[1] in args.frameworks)
    if not keys:
        sys.exit(f"{args.out}: no pair of calibrated trials under threads_{a_threads} and "
                 f"threads_{b_threads}; run without --no-run")
    print(f"ratios of --threads {a_threads} to --threads {b_threads}; error = predicted / measured - 1")
    print("| workload | framework | seed | predicted (calibration) | measured s/step | error | "
          "measured time to target | error |")
    print("|---|---|---|---|---|---|---|---|")
    rows = []
    for key in keys:
        row = compare(first[key], second[key])
        rows.append(row)
        ttt = "-" if row["ttt_ratio"] is None else f"{row['ttt_ratio']:.3f}"
        ttt_error = "-" if row["ttt_error"] is None else f"{row['ttt_error']:+.1%}"
        print(f"| `{key[0]}` | {key[1]} | {key[2]} | {row['predicted']:.3f} | {row['step_ratio']:.3f} | "
              f"{row['step_error']:+.1%} | {ttt} | {ttt_error} |")
    summaries = {}
    for name in ("step_error", "ttt_error"):
        errors = [abs(r[name]) for r in rows if r[name] is not None]
        if errors:
            summaries[name] = {"median_abs_error": statistics.median(errors),
                               "max_abs_error": max(errors), "trials": len(errors)}
            print(f"{name}: median |error| {statistics.median(errors):.1%}, largest {max(errors):.1%} "
                  f"({len(errors)} pairs)")
    if args.record and "ttt_error" in summaries:
        record = {**summaries["ttt_error"], "configurations": (
            f"time to target, --threads {a_threads} against {b_threads}, "
            f"{', '.join(sorted({k[0] for k in keys}))}")}
        Path(args.record).write_text(json.dumps(record, indent=1) + "\n")
        print(f"wrote {args.record}")


if __name__ == "__main__":
    main()
