"""What a trial's step costs on the clock beyond the submission's own work, part by part, against
the step itself (issue 28's goal: the harness within 2% of a bare loop).

`benchmarks/harness_overhead.py` compares whole trials with a bare loop; on a host whose speed
wanders between minutes (docs/scoring.md#the-host-speed-record) its ratios cannot resolve 2%.
Here each part is timed on its own over `--calls` calls, the parts and `--steps` training steps
taking turns in `--rounds` rounds (the order reversed every other round), in one process set up as
a trial is (benchmarks/step_time.py's `Training`: cores, JAX host devices, the reference baseline,
its batch stream). The parts are what `harness.submission_side.SubmissionSide.step` does around
the submission's `data_selection` and `update_params`:

- `keys`: the step's two random keys (`backend.make_rng`, data selection's and update's);
- `train_state`: the read-only `TrainState` over the step's copy of the harness's state;
- `marker`: the marker queued behind the step and the wait for the step before's
  (`backend.step_marker`, `backend.wait`; here on a finished step: the calls' own cost);
- `pull`: the batch the submission's `data_selection` pulls (`InputQueue`: assembled from the
  stream and moved to the device), on the clock and charged to the submission by the rules, as
  in AlgoPerf; shown apart from the harness's own.

The step is a trial's step as the side runs it: the baseline's `data_selection` (with its pull) and
`update_params`, their keys, and the marker, with at most two steps in flight. Prints per workload and framework each part's microseconds per step (median over
the rounds), the step's milliseconds, and the harness's own parts and the pull as shares of the
step. A round trip to the submission process is per call of several steps, not per step:
benchmarks/process_split_overhead.py measures it.

    .venv/bin/python benchmarks/step_parts.py --frameworks jax pytorch --out results/step_parts.json
    .venv/bin/python benchmarks/step_parts.py --table docs/data/step_parts_stop47.json --write
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
from algobench.doc_sections import add_table_options, printed_recorded_table  # noqa: E402
from harness.backends import FRAMEWORKS  # noqa: E402
from harness.calibration import host_id  # noqa: E402
from workloads.registry import BASE_WORKLOADS  # noqa: E402

DOC = REPO / "docs" / "performance.md"
MARKERS = ("<!-- step parts table: start -->", "<!-- step parts table: end -->")
HARNESS_PARTS = ("keys", "train_state", "marker")
PARTS = (*HARNESS_PARTS, "pull")
TRAIN_STATE = {"accumulated_submission_time": 12.5, "max_allowed_runtime_sec": 100.0,
               "remaining_time": 87.5, "last_eval_time": 10.0, "next_eval_time": 15.0,
               "validation_goal_reached": False, "test_goal_reached": False,
               "training_complete": False, "global_step": 0}


def part_calls(training: Training, queue) -> dict:
    """One call of each part, as `SubmissionSide.step` makes it."""
    from harness.spec import TrainState

    backend = training.backend

    def keys(i):
        return backend.make_rng(2 * i), backend.make_rng(2 * i + 1)

    def train_state(i):
        return TrainState(dict(TRAIN_STATE, global_step=i, accumulated_submission_time=12.5 + i))

    def marker(i):
        backend.wait(backend.step_marker(training.params))

    def pull(i):
        return next(queue)

    return {"keys": keys, "train_state": train_state, "marker": marker, "pull": pull}


def measure(workload: str, framework: str, rounds: int, calls: int, steps: int) -> dict:
    from harness.seeds import derive_seed
    from harness.submission_side import InputQueue
    from workloads.data import TrainStream
    from workloads.sources import load_source

    training = Training.set_up("submissions/nadamw", workload, framework, None)
    batch_size = int(training.module.get_batch_size(workload_name=training.spec.base_name))
    stream = TrainStream(load_source(training.spec.data_source)["train"], batch_size, derive_seed(0, "data"))
    calls_of = part_calls(training, InputQueue(stream, training.workload.to_device))
    backend = training.backend

    def step_round(n: int) -> float:
        training.sync()
        start, previous = time.perf_counter(), None
        for step in range(n):
            training.dispatch(step)
            marker = backend.step_marker(training.params)
            backend.wait(previous)  # the step before: two in flight, as in a trial
            previous = marker
        training.sync()
        return 1e3 * (time.perf_counter() - start) / n

    def part_round(name: str) -> float:
        call = calls_of[name]
        start = time.perf_counter()
        for i in range(calls):
            result = call(i)
        if name in ("keys", "pull"):
            backend.sync(result)  # their transfers to the device count
        return 1e6 * (time.perf_counter() - start) / calls

    us = {name: [] for name in PARTS}
    step_ms = []
    order = [*PARTS, "step"]
    for i in range(rounds + 1):  # round 0 warms everything up (JAX compiles there), untimed
        for name in (order if i % 2 == 0 else order[::-1]):
            value = step_round(steps) if name == "step" else part_round(name)
            if i:
                (step_ms if name == "step" else us[name]).append(value)
    return {"workload": workload, "framework": framework, "batch_size": batch_size,
            "us": {name: statistics.median(v) for name, v in us.items()}, "rounds_us": us,
            "step_ms": statistics.median(step_ms), "rounds_step_ms": step_ms}


def table(record: dict) -> str:
    lines = [f"On {record['host_id']}, {record['rounds']} rounds of {record['calls']} calls of each "
             f"part and {record['steps']} steps (medians over the rounds):", "",
             "| workload | framework | " + " | ".join(f"{p}, µs" for p in PARTS)
             + " | step, ms | harness's parts / step | pull / step |", "|---|---|" + "---|" * (len(PARTS) + 3)]
    for r in record["results"]:
        own = sum(r["us"][p] for p in HARNESS_PARTS) / 1e3 / r["step_ms"]
        lines.append(f"| `{r['workload']}` | {r['framework']} | "
                     + " | ".join(f"{r['us'][p]:.1f}" for p in PARTS)
                     + f" | {r['step_ms']:.2f} | {100 * own:.2f}% | "
                     f"{100 * r['us']['pull'] / 1e3 / r['step_ms']:.2f}% |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", nargs="+", default=list(BASE_WORKLOADS))
    parser.add_argument("--frameworks", nargs="+", choices=FRAMEWORKS, default=list(FRAMEWORKS))
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--out", help="write the results as JSON")
    add_table_options(parser, DOC)
    parser.add_argument("--child", nargs=2, metavar=("WORKLOAD", "FRAMEWORK"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if printed_recorded_table(args, DOC, MARKERS, table):
        return
    if args.child:  # one (workload, framework) in this process: JAX's host devices are set once
        print(json.dumps(measure(*args.child, args.rounds, args.calls, args.steps)))
        return
    import subprocess

    results = []
    for workload in args.workloads:
        for framework in args.frameworks:
            done = subprocess.run([sys.executable, __file__, "--child", workload, framework,
                                   "--rounds", str(args.rounds), "--calls", str(args.calls),
                                   "--steps", str(args.steps)], capture_output=True, text=True, check=True)
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(f"{workload} {framework}: step {results[-1]['step_ms']:.2f} ms", flush=True)
    record = {"host_id": host_id(), "rounds": args.rounds, "calls": args.calls, "steps": args.steps,
              "results": results}
    print(table(record))
    if args.out:
        Path(args.out).write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
