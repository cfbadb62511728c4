"""Time-to-target of one submission on one workload in PyTorch and JAX, measured side by side.

Runs the trial `--repeats` times per framework, alternating frameworks so that machine noise hits
both alike, each in a fresh process and a fresh output folder, and prints per framework the
median / min / max of time-to-target, steps, and submission time per step, and the JAX/PyTorch
ratios of the medians.

    .venv/bin/python benchmarks/time_to_target.py --workload cnn --repeats 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def one_run(submission: str, workload: str, framework: str, out: Path, seed: int) -> dict:
    subprocess.run([sys.executable, "-m", "harness.cli", "run", submission, "--workload", workload,
                    "--framework", framework, "--out", str(out), "--seed", str(seed),
                    "--no-keep-checkpoint"], cwd=REPO, check=True, capture_output=True)
    meta_path = next(out.rglob("meta.json"))
    meta = json.loads(meta_path.read_text())
    final = meta["final"]
    return {"time_to_target": final["time_to_target"], "steps": final["global_step"],
            "step_time": final["accumulated_submission_time"] / max(1, final["global_step"]),
            "wall": final["total_duration"]}


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):8.2f} [{min(values):.2f}, {max(values):.2f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submission", default="submissions/nadamw")
    parser.add_argument("--workload", default="cnn")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--vary-seed", action="store_true", help="seed i for repeat i (default: seed 0)")
    args = parser.parse_args()
    results: dict[str, list[dict]] = {"pytorch": [], "jax": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            for framework in results:
                run = one_run(args.submission, args.workload, framework, Path(tmp) / f"{framework}_{i}",
                              i if args.vary_seed else 0)
                results[framework].append(run)
                print(f"repeat {i} {framework:8} time-to-target {run['time_to_target']} s, "
                      f"{run['steps']} steps, {1000 * run['step_time']:.1f} ms/step", flush=True)
    print(f"\n{args.submission} on {args.workload}, {args.repeats} repeats: median [min, max]")
    medians = {}
    for framework, runs in results.items():
        ttt = [r["time_to_target"] if r["time_to_target"] is not None else float("inf") for r in runs]
        medians[framework] = {k: statistics.median(v) for k, v in
                              (("ttt", ttt), ("step", [r["step_time"] for r in runs]))}
        print(f"{framework:8} time-to-target s {summary(ttt)}   steps {summary([r['steps'] for r in runs])}"
              f"   ms/step {summary([1000 * r['step_time'] for r in runs])}")
    print(f"JAX / PyTorch: time-to-target {medians['jax']['ttt'] / medians['pytorch']['ttt']:.2f}x, "
          f"submission time per step {medians['jax']['step'] / medians['pytorch']['step']:.2f}x")


if __name__ == "__main__":
    main()
