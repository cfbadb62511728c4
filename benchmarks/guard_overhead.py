"""What the run-time guards cost, relative to a trial's submission time on the default workload.

Two measurements, side by side in one run:
1. per-call cost: each guard timed over many calls on the real workload's parameters, multiplied by
   how often a trial calls it (after every submission call; before every eval), divided by the
   trial's submission time;
2. A/B: the same trial (NAdamW, fixed submission-time budget) with guards on and off, for
   `--repeats` pairs, the order within a pair alternating (and garbage collected before each
   trial) so that neither setting always runs first: median times per step of each.

    .venv/bin/python benchmarks/guard_overhead.py --framework pytorch --repeats 5
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import statistics
import tempfile
import time
from pathlib import Path

from harness import backends, loader, search_space
from harness.backends import FRAMEWORKS
from harness.guards import Guards
from harness.runner import TrialRunner
from harness.task import make_task
from workloads.registry import DEFAULT_WORKLOADS, get_spec
from workloads.sources import load_source

SUBMISSION = "submissions/nadamw"


def trial(framework, backend, module, splits, folder, guards, steps_budget_sec):
    spec = dataclasses.replace(get_spec(DEFAULT_WORKLOADS[0]), validation_target=1.01,
                               test_target=1.01, max_runtime_sec=steps_budget_sec)
    hp = search_space.trial_point(search_space.load(Path(SUBMISSION) / loader.SEARCH_SPACE_FILE), 0, 0)
    task = make_task(SUBMISSION, spec.name, framework, folder, ruleset="external",
                     hyperparameters=hp, keep_checkpoint=False)
    return TrialRunner(task, spec, module, backend, splits=splits, guards=guards).run()["final"]


def per_call_cost(backend, calls: int = 2000) -> tuple[float, float]:
    workload = backend.make_workload(get_spec(DEFAULT_WORKLOADS[0]))
    params, _ = workload.init_model_fn(backend.make_rng(0))
    guards = Guards(workload, params)
    start = time.perf_counter()
    for _ in range(calls):
        guards.after_submission_call("update_params")
    per_step = (time.perf_counter() - start) / calls
    start = time.perf_counter()
    for _ in range(calls // 10):
        guards.before_eval(params)
    per_eval = (time.perf_counter() - start) / (calls // 10)
    return per_step, per_eval


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--framework", choices=FRAMEWORKS, default="pytorch")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--budget", type=float, default=20.0, help="submission seconds per trial")
    args = parser.parse_args()
    backend = backends.load_backend(args.framework)
    backend.configure_threads(len(backends.pin_cores(None)))
    module = loader.load_submission(SUBMISSION, args.framework)
    splits = load_source(get_spec(DEFAULT_WORKLOADS[0]).data_source)

    per_step, per_eval = per_call_cost(backend)
    runs = {True: [], False: []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            for guards in ((True, False) if i % 2 == 0 else (False, True)):
                gc.collect()
                final = trial(args.framework, backend, module, splits, Path(tmp) / f"{guards}_{i}",
                              guards, args.budget)
                runs[guards].append(final)
                print(f"repeat {i} guards {'on ' if guards else 'off'}: {final['global_step']} steps, "
                      f"{1000 * final['accumulated_submission_time'] / final['global_step']:.2f} ms "
                      f"submission/step, {1000 * final['total_duration'] / final['global_step']:.2f} ms wall/step",
                      flush=True)
    on = runs[True]
    steps = statistics.median(r["global_step"] for r in on)
    submission = statistics.median(r["accumulated_submission_time"] for r in on)
    evals = submission / get_spec(DEFAULT_WORKLOADS[0]).eval_period_sec + 1
    guard_time = per_step * steps + per_eval * evals
    print(f"\nper call: {1e6 * per_step:.2f} us after each submission call, "
          f"{1e6 * per_eval:.1f} us before each eval")
    print(f"guards per trial: {1000 * guard_time:.2f} ms over {steps:.0f} steps and {evals:.0f} evals = "
          f"{100 * guard_time / submission:.3f}% of {submission:.1f} s submission time")
    for label, key in (("submission", "accumulated_submission_time"), ("wall", "total_duration")):
        per_step = {g: statistics.median(r[key] / r["global_step"] for r in runs[g]) for g in runs}
        print(f"A/B {label} time per step, median of {args.repeats}: on {1000 * per_step[True]:.2f} ms, "
              f"off {1000 * per_step[False]:.2f} ms, ratio {per_step[True] / per_step[False]:.3f}")


if __name__ == "__main__":
    main()
