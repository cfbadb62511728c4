"""Wall-clock of a small study plan with the local executor at parallelism 1 and K, side by side.

The plan (default: NAdamW on `smoke`, JAX, 1 study x 4 trials) runs `--repeats` times per setting,
alternating the settings so that machine noise hits both alike, each time into a fresh folder
through `algobench tune` (the executor, one process per trial, as a user runs it). Printed per
setting: the plan's wall-clock (median / min / max), the median time to target of its trials and
the mean cores per trial, and the ratios to parallelism 1. At parallelism K each trial gets 1/K of
the cores, so per-trial times to target change too: parallel plans trade measurement fidelity for
throughput, and the two must not be compared with each other. A plan cannot end before its longest
trial (printed with the sum of the trials' own wall-clock, process start-up excluded), which bounds
the speed-up.

    .venv/bin/python benchmarks/plan_parallelism.py --repeats 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: the repository's packages come first
    sys.path.insert(0, str(REPO))

from harness.backends import FRAMEWORKS  # noqa: E402


def one_plan(args: argparse.Namespace, parallel: int, out: Path) -> dict:
    command = [sys.executable, "-m", "algobench.cli", "tune", args.submission, "--workloads",
               args.workload, "--framework", args.framework, "--studies", "1", "--trials",
               str(args.trials), "--parallel", str(parallel), "--out", str(out),
               "--no-keep-checkpoint"]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if result.returncode not in (0, 1):
        sys.exit(f"plan_parallelism: `{' '.join(command)}` failed:\n{result.stderr}")
    metas = [json.loads(p.read_text()) for p in out.rglob("meta.json")]
    times = [m["final"]["time_to_target"] for m in metas if m["final"]["time_to_target"] is not None]
    durations = [m["final"]["total_duration"] for m in metas]
    return {"wall": wall, "trials": len(metas),
            "ttt": statistics.median(times) if times else float("inf"),
            "cores": statistics.mean(m["hardware"]["cores_used"] for m in metas),
            "longest": max(durations), "sum": sum(durations)}


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):7.1f} [{min(values):.1f}, {max(values):.1f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submission", default="submissions/nadamw")
    parser.add_argument("--workload", default="smoke")
    parser.add_argument("--framework", default="jax", choices=FRAMEWORKS)
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--parallel", type=int, default=len(os.sched_getaffinity(0)),
                        help="the parallelism compared with 1 (default: all cores)")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    settings = sorted({1, args.parallel})
    runs: dict[int, list[dict]] = {k: [] for k in settings}
    with tempfile.TemporaryDirectory(prefix="plan_parallelism_") as tmp:
        for repeat in range(args.repeats):
            for k in settings if repeat % 2 == 0 else reversed(settings):
                runs[k].append(one_plan(args, k, Path(tmp) / f"p{k}_r{repeat}"))
                print(f"  parallel {k}, repeat {repeat + 1}: {runs[k][-1]['wall']:.1f} s",
                      file=sys.stderr, flush=True)
    cpu = os.cpu_count()
    print(f"{args.submission} on {args.workload} ({args.framework}), 1 study x {args.trials} "
          f"trials, local executor, {len(os.sched_getaffinity(0))} of {cpu} cores, "
          f"{args.repeats} repeat(s); load average before: {load:.2f}, after: {os.getloadavg()[0]:.2f}")
    print(f"{'parallel':>8} {'plan wall s: median [min, max]':>32} {'vs parallel 1':>14} "
          f"{'cores/trial':>12} {'median time to target s':>24} {'trial walls: sum':>17} "
          f"{'longest':>8}")
    base = statistics.median(r["wall"] for r in runs[1])
    for k in settings:
        walls = [r["wall"] for r in runs[k]]
        ttt = statistics.median(r["ttt"] for r in runs[k])
        print(f"{k:>8} {summary(walls):>32} {statistics.median(walls) / base:>13.2f}x "
              f"{statistics.mean(r['cores'] for r in runs[k]):>12.1f} {ttt:>24.2f} "
              f"{statistics.median(r['sum'] for r in runs[k]):>17.1f} "
              f"{statistics.median(r['longest'] for r in runs[k]):>8.1f}")
    if len(settings) > 1:
        k = settings[-1]
        print(f"speed-up of the plan at parallel {k}: "
              f"{base / statistics.median(r['wall'] for r in runs[k]):.2f}x")


if __name__ == "__main__":
    main()
