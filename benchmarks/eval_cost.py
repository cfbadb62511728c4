"""What one eval costs, split by split, against a training step: where an eval's share of a trial's
wall time goes (issue 20's bound: evals at most 15% of it).

Each measurement is a fresh process per (workload, framework), set up as a trial is (the step-time
benchmark's `Training`): `--warmup` training steps (JAX compiles there), then `--steps` timed steps,
then each eval split evaluated `--evals` times as the harness evaluates it (`harness.evaluation`:
the model's outputs batch by batch, then the metric once over the split), the first call of each
split untimed (JAX compiles its eval there, as the calibration's warm-up does in a trial). Prints,
per workload and framework, the median over `--repeats` processes of: milliseconds per training
step, seconds per eval of each split, the metric's share of the validation eval, and a validation
eval's cost in training steps.

`--eval-batch-size N` evaluates with batches of N instead of the spec's (a cheaper-eval probe);
frameworks alternate inside every repeat, so machine noise hits both alike. `--compare-eval-batch-sizes
N M ...` also times the validation split with each of those batch sizes in the same process, the
sizes alternating eval by eval (side by side), and prints each size's seconds over the first's.

    .venv/bin/python benchmarks/eval_cost.py --workloads unet lm --repeats 3
    .venv/bin/python benchmarks/eval_cost.py --workloads unet lm --repeats 3 --compare-eval-batch-sizes 500 250 64
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from harness import host_load, process_control
from harness.calibration import host_id
from harness.backends import FRAMEWORKS

sys.path.insert(0, str(Path(__file__).resolve().parent))
from step_time import Training  # noqa: E402  (a sibling benchmark module)

REPO = Path(__file__).resolve().parents[1]
SPLITS = ("validation", "train", "test")


def measure(workload: str, framework: str, steps: int, warmup: int, evals: int,
            eval_batch_size: int | None, compare_sizes: tuple[int, ...] = ()) -> dict:
    """Seconds per training step and per eval of each split (median of `evals` timed calls), and
    the seconds the metric took of a validation eval, in this process."""
    import numpy as np

    from harness.evaluation import evaluate
    from harness.trial_setup import eval_sets
    from workloads.metrics import METRICS
    from workloads.sources import load_source

    training = Training.set_up("submissions/nadamw", workload, framework, None)
    for step in range(warmup):
        training.step(step)
    training.sync()
    start = time.perf_counter()
    for step in range(warmup, warmup + steps):
        training.step(step)
    seconds_per_step = (time.perf_counter() - start) / steps

    spec, wl = training.spec, training.workload
    source = load_source(spec.data_source)
    sets = eval_sets(source, eval_batch_size or spec.eval_batch_size)
    metric_fn = METRICS[spec.metrics]
    # the harness evaluates canonical parameters handed over by the submission side
    params, model_state = wl.from_canonical(wl.to_canonical(training.params, training.model_state))
    result = {"seconds_per_step": seconds_per_step, "examples": {s: sum(len(b["targets"]) for b in sets[s])
                                                                 for s in SPLITS}}
    for split in SPLITS:
        evaluate(wl, params, model_state, {split: sets[split]}, metric_fn)  # warm-up (compiles)
        times = []
        for _ in range(evals):
            start = time.perf_counter()
            evaluate(wl, params, model_state, {split: sets[split]}, metric_fn)
            times.append(time.perf_counter() - start)
        result[split] = statistics.median(times)
    outputs = np.concatenate([wl.eval_outputs(params, model_state, b) for b in sets["validation"]])
    whole = {k: np.concatenate([b[k] for b in sets["validation"]]) for k in sets["validation"][0]}
    times = []
    for _ in range(evals):
        start = time.perf_counter()
        metric_fn(outputs, whole)
        times.append(time.perf_counter() - start)
    result["metric"] = statistics.median(times)
    if compare_sizes:
        by_size = {size: eval_sets(source, size)["validation"] for size in compare_sizes}
        for size, batches in by_size.items():  # warm-up (JAX compiles each batch shape)
            evaluate(wl, params, model_state, {"validation": batches}, metric_fn)
        times = {size: [] for size in compare_sizes}
        for i in range(evals):
            for size in (compare_sizes if i % 2 == 0 else compare_sizes[::-1]):
                start = time.perf_counter()
                evaluate(wl, params, model_state, {"validation": by_size[size]}, metric_fn)
                times[size].append(time.perf_counter() - start)
        result["validation_by_batch_size"] = {str(size): statistics.median(t) for size, t in times.items()}
    return result


def run_child(args, workload: str, framework: str) -> dict:
    command = [sys.executable, str(REPO / "benchmarks" / "eval_cost.py"), "--child", workload,
               framework, "--steps", str(args.steps), "--warmup", str(args.warmup),
               "--evals", str(args.evals)]
    if args.eval_batch_size:
        command += ["--eval-batch-size", str(args.eval_batch_size)]
    if args.compare_eval_batch_sizes:
        command += ["--compare-eval-batch-sizes", *map(str, args.compare_eval_batch_sizes)]
    # malloc's thresholds fixed as in a trial (harness/process_control.py)
    env = process_control.fixed_allocator_environment(dict(os.environ))
    meter = host_load.StealMeter(None)
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, env=env)
    if done.returncode:
        sys.exit(f"{workload} {framework} failed:\n{done.stderr[-3000:]}")
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "host_steal": meter.fraction()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", nargs="+", default=["unet"])
    parser.add_argument("--frameworks", nargs="+", default=list(FRAMEWORKS), choices=FRAMEWORKS)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--evals", type=int, default=3, help="timed evals of each split per process")
    parser.add_argument("--eval-batch-size", type=int, default=None)
    parser.add_argument("--compare-eval-batch-sizes", type=int, nargs="+", default=[],
                        help="also time the validation split with each of these batch sizes, alternating")
    parser.add_argument("--out", help="write every measurement to this JSON file")
    parser.add_argument("--child", nargs=2, metavar=("WORKLOAD", "FRAMEWORK"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(*args.child, args.steps, args.warmup, args.evals, args.eval_batch_size,
                                 tuple(args.compare_eval_batch_sizes))))
        return
    results = {(w, f): [] for w in args.workloads for f in args.frameworks}
    for i in range(args.repeats):
        for workload in args.workloads:
            for framework in (args.frameworks if i % 2 == 0 else args.frameworks[::-1]):
                child = run_child(args, workload, framework)
                results[workload, framework].append(child)
                print(f"repeat {i} {workload:12} {framework:8} step {1000 * child['seconds_per_step']:.1f} ms, "
                      + ", ".join(f"{s} {child[s]:.3f} s" for s in SPLITS)
                      + f", metric {child['metric']:.3f} s; {host_load.describe(child['host_steal']) or 'quiet'}",
                      flush=True)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({
            "host_id": host_id(), "steps": args.steps, "warmup": args.warmup, "evals": args.evals,
            "eval_batch_size": args.eval_batch_size, "compare_eval_batch_sizes": args.compare_eval_batch_sizes,
            "measurements": [{"workload": w, "framework": f, "values": v}
                             for (w, f), v in results.items()]}, indent=1) + "\n")
    print(f"\nNAdamW, medians over {args.repeats} processes; eval batch size "
          f"{args.eval_batch_size or 'the spec'}'s")
    print("| workload | framework | ms/step | validation s | train s | test s | metric share of validation | "
          "validation eval in steps |\n|---|---|---|---|---|---|---|---|")
    for (workload, framework), values in results.items():
        med = {k: statistics.median(v[k] for v in values)
               for k in ("seconds_per_step", "metric", *SPLITS)}
        print(f"| {workload} | {framework} | {1000 * med['seconds_per_step']:.1f} | "
              f"{med['validation']:.3f} | {med['train']:.3f} | {med['test']:.3f} | "
              f"{med['metric'] / med['validation']:.0%} | {med['validation'] / med['seconds_per_step']:.1f} |")
    if args.compare_eval_batch_sizes:
        sizes = [str(size) for size in args.compare_eval_batch_sizes]
        print(f"\nvalidation split, seconds by eval batch size (alternating in each process; medians "
              f"over {args.repeats} processes), and each over the first ({sizes[0]}):")
        for (workload, framework), values in results.items():
            med = {size: statistics.median(v["validation_by_batch_size"][size] for v in values) for size in sizes}
            print(f"{workload:12} {framework:8} " + ", ".join(
                f"{size}: {med[size]:.3f} s ({med[size] / med[sizes[0]]:.3f})" for size in sizes))


if __name__ == "__main__":
    main()
