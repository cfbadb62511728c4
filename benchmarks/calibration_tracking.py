"""Does the host calibration track the host's speed? Calibrations and training steps alternated.

On a shared virtual host the speed of a core wanders within minutes, so repeated calibrations
spread as much as the host does, and their spread alone cannot tell a noisy measurement from a
faithful one. This benchmark tells them apart: in one process, set up as a trial is, it alternates
`--rounds` times a calibration (harness/calibration.py; and the median of all its blocks)
with `--steps` training steps of the reference baseline on a workload
(benchmarks/step_time.py's `Training`), and prints per round the calibration and the seconds per
step, then the spread (coefficient of variation) over the rounds of each, and of seconds per step
divided by each calibration statistic. A calibration that tracks the host leaves a ratio that
spreads less than the step time itself; the statistic whose ratio spreads least is the better
predictor of a trial's speed.

    .venv/bin/python benchmarks/calibration_tracking.py --workload cnn --framework pytorch
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))  # this folder's scripts

from step_time import Training  # noqa: E402
from harness import calibration  # noqa: E402
from harness.backends import FRAMEWORKS  # noqa: E402


def cv(values: list[float]) -> float:
    return statistics.stdev(values) / statistics.mean(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", default="cnn")
    parser.add_argument("--framework", default="pytorch", choices=FRAMEWORKS)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--steps", type=int, default=20, help="training steps per round")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--out", help="write the rounds as JSON")
    args = parser.parse_args()
    training = Training.set_up("submissions/nadamw", args.workload, args.framework, args.threads)
    for step in range(3):  # compile and warm up
        training.step(step)
    rounds, step = [], 3
    for r in range(args.rounds):
        summary = calibration.summary(calibration.measure_cores(time.perf_counter))
        start = time.perf_counter()
        for _ in range(args.steps):
            training.step(step)
            step += 1
        per_step = (time.perf_counter() - start) / args.steps
        rounds.append({"calibration": summary["seconds"],
                       "median": summary["seconds"] * summary["median_over_seconds"],
                       "step": per_step})
        print(f"round {r:2d}: calibration {1e3 * rounds[-1]['calibration']:.3f} ms, median block "
              f"{1e3 * rounds[-1]['median']:.3f} ms; {1e3 * per_step:.1f} ms/step", flush=True)
    steps = [x["step"] for x in rounds]
    print(f"\n{args.workload} {args.framework}, {args.rounds} rounds of a calibration and "
          f"{args.steps} steps (host {calibration.host_id()}):")
    print("| series | CV over the rounds |\n|---|---|")
    print(f"| s/step | {cv(steps):.1%} |")
    for name in ("calibration", "median"):
        values = [x[name] for x in rounds]
        print(f"| {name} | {cv(values):.1%} |")
        print(f"| s/step / {name} | {cv([s / v for s, v in zip(steps, values)]):.1%} |")
    if args.out:
        Path(args.out).write_text(json.dumps({"workload": args.workload, "framework": args.framework,
                                              "host_id": calibration.host_id(), "rounds": rounds},
                                             indent=1) + "\n")


if __name__ == "__main__":
    main()
