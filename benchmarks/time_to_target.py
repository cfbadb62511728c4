"""Time-to-target of submissions on workloads in PyTorch and JAX, measured side by side.

Runs every (submission, workload) pair `--repeats` times per framework with the search space's
point `--trial` (self-tuning submissions need none), alternating frameworks so that machine noise
hits both alike, each run in a fresh process (and a fresh output folder, unless `--out` keeps
them all in one results tree that `algobench score` reads). Prints one line per run,
then a Markdown table with, per pair and framework, the median [min, max] time-to-target, steps and
submission time per step, the JAX/PyTorch ratio of the median times, and the largest host CPU
steal of the runs (harness/host_load.py; a run with over 5% is flagged where it is printed: its time
measured the host's neighbours too). A run that misses the target counts as infinitely slow (`-`).

    .venv/bin/python benchmarks/time_to_target.py --workloads cnn --repeats 5
    .venv/bin/python benchmarks/time_to_target.py --submissions submissions/adamw submissions/lion
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from harness import host_load
from harness.backends import FRAMEWORKS

REPO = Path(__file__).resolve().parents[1]


def one_run(submission: str, workload: str, framework: str, out: Path, seed: int, trial: int,
            study: int, threads: int | None) -> dict:
    threads_arg = ["--threads", str(threads)] if threads else []
    subprocess.run([sys.executable, "-m", "algobench.cli", "run", submission, "--workload", workload,
                    "--framework", framework, "--out", str(out), "--seed", str(seed),
                    "--study", str(study), "--trial", str(trial), "--no-keep-checkpoint", *threads_arg],
                   cwd=REPO, check=True, capture_output=True)
    folder = f"{Path(submission).name}/*/{framework}/{workload}/study_{study}/trial_{trial}/meta.json"
    meta = json.loads(next(out.glob(folder)).read_text())
    final = meta["final"]
    ttt = final["time_to_target"]
    return {"time_to_target": math.inf if ttt is None else ttt, "steps": final["global_step"],
            "step_time": final["accumulated_submission_time"] / max(1, final["global_step"]),
            "stop_reason": meta.get("stop_reason"), "host_steal": host_load.of_trial(meta),
            "eval_share": final["accumulated_eval_time"] / final["total_duration"],
            "host": (meta.get("calibration") or {}).get("host_id") or meta["hardware"]["cpu"]}


def steal_note(fraction: float | None) -> str:
    note = host_load.describe(fraction)
    return f"; {note}" if note else ""


def summary(values: list[float], digits: int = 1) -> str:
    if all(math.isinf(v) for v in values):
        return "-"
    fmt = lambda v: "-" if math.isinf(v) else f"{v:.{digits}f}"  # noqa: E731
    return f"{fmt(statistics.median(values))} [{fmt(min(values))}, {fmt(max(values))}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", nargs="+", default=["submissions/nadamw"])
    parser.add_argument("--workloads", nargs="+", default=["cnn"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--trial", type=int, default=0, help="search-space point (default 0)")
    parser.add_argument("--vary-seed", action="store_true", help="seed i for repeat i (default: seed 0)")
    parser.add_argument("--threads", type=int, help="CPU cores per run (default: all)")
    parser.add_argument("--out", help="keep the runs' logs here, repeat i as study i (a finished "
                                      "run found there is reused); default: a temporary folder")
    parser.add_argument("--json", help="also write every run's result to this JSON file "
                                       "(scripts/workloads_table.py reads it)")
    args = parser.parse_args()
    pairs = [(s, w) for s in args.submissions for w in args.workloads]
    results: dict[tuple, list[dict]] = {(s, w, f): [] for s, w in pairs for f in FRAMEWORKS}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            for submission, workload in pairs:
                for framework in (FRAMEWORKS if i % 2 == 0 else FRAMEWORKS[::-1]):
                    if args.out:  # one results tree; the study index varies the seed
                        out, seed, study = Path(args.out), 0, i
                    else:  # a fresh folder per run
                        out, study = Path(tmp) / f"{len(list(Path(tmp).iterdir()))}", 0
                        seed = i if args.vary_seed else 0
                    run = one_run(submission, workload, framework, out, seed, args.trial, study,
                                  args.threads)
                    results[submission, workload, framework].append(run)
                    print(f"repeat {i} {Path(submission).name} {workload} {framework:8} "
                          f"time-to-target {run['time_to_target']:.1f} s, {run['steps']} steps, "
                          f"{1000 * run['step_time']:.1f} ms/step ({run['stop_reason']})"
                          f"{steal_note(run['host_steal'])}", flush=True)
    if args.json:
        rows = [{"submission": Path(s).name, "workload": w, "framework": f, **run,
                 "time_to_target": None if math.isinf(run["time_to_target"]) else run["time_to_target"]}
                for (s, w, f), runs in results.items() for run in runs]
        Path(args.json).write_text(json.dumps(rows, indent=1))
    print(f"\n{args.repeats} repeat(s), point {args.trial}: median [min, max]; '-' = target not reached")
    print("| submission | workload | framework | time-to-target (s) | steps | ms/step | JAX/PyTorch "
          "| max host steal |")
    print("|---|---|---|---|---|---|---|---|")
    for submission, workload in pairs:
        medians = {}
        for framework in FRAMEWORKS:
            runs = results[submission, workload, framework]
            ttt = [r["time_to_target"] for r in runs]
            medians[framework] = statistics.median(ttt)
            ratio = ""
            if framework == "jax":
                a, b = medians["jax"], medians["pytorch"]
                ratio = f"{a / b:.2f}x" if math.isfinite(a) and math.isfinite(b) else "-"
            print(f"| {Path(submission).name} | {workload} | {framework} | {summary(ttt)} | "
                  f"{summary([r['steps'] for r in runs], 0)} | "
                  f"{summary([1000 * r['step_time'] for r in runs])} | {ratio} | "
                  f"{host_load.largest(r['host_steal'] for r in runs)} |")


if __name__ == "__main__":
    main()
