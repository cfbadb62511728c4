"""What the training batches' queue costs a step: the batch moved to the device at the pull (the
harness's `InputQueue`), one batch ahead (the candidate `OneAhead`, as AlgoPerf's JAX input
pipelines prefetch to the device), and already on the device (the bare loop of
benchmarks/harness_overhead.py), side by side.

Per workload and framework, in one process set up as a trial is (benchmarks/step_time.py's
`Training`: cores, JAX host devices, the reference baseline, the trial's batch stream), the three
ways take turns, `--rounds` rounds of `--steps` steps each (the order reversed every other round),
the steps dispatched as a trial dispatches them (no sync between steps; one at the end of the
round). Prints the median milliseconds per step of each way, each over "on the device", and the
median over the rounds of one ahead over at the pull in the same round (paired: the host's speed
wanders between rounds).

    .venv/bin/python benchmarks/input_queue.py --workloads gnn unet cnn
    .venv/bin/python benchmarks/input_queue.py --table docs/data/input_queue_stop46.json --write
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
from algobench.doc_sections import add_table_options, labelled_runs, printed_recorded_table  # noqa: E402
from harness.backends import FRAMEWORKS  # noqa: E402
from harness.calibration import host_id  # noqa: E402
from workloads.registry import BASE_WORKLOADS  # noqa: E402

DOC = REPO / "docs" / "performance.md"
MARKERS = ("<!-- input queue table: start -->", "<!-- input queue table: end -->")
WAYS = ("at the pull", "one ahead", "on the device")
ON_DEVICE = 40  # batches placed before the round, reused in turn


class OneAhead:
    """The queue moving one batch ahead: a pull hands over the batch moved at the previous pull
    and moves the next (both in the pull, on the clock)."""

    def __init__(self, stream, to_device):
        self.stream, self.to_device, self.ahead = stream, to_device, None

    def __iter__(self):
        return self

    def __next__(self):
        batch = self.to_device(next(self.stream)) if self.ahead is None else self.ahead
        self.ahead = self.to_device(next(self.stream))
        return batch


def queue(way: str, training: Training, stream):
    from harness.submission_side import InputQueue

    to_device = training.workload.to_device
    if way == "at the pull":
        return InputQueue(stream, to_device)
    if way == "one ahead":
        return OneAhead(stream, to_device)
    placed = [to_device(next(stream)) for _ in range(ON_DEVICE)]
    return (placed[i % ON_DEVICE] for i in range(10**9))


def measure(workload: str, framework: str, rounds: int, steps: int) -> dict:
    from harness.seeds import derive_seed
    from workloads.data import TrainStream
    from workloads.sources import load_source

    training = Training.set_up("submissions/nadamw", workload, framework, None)
    batch_size = int(training.module.get_batch_size(workload_name=training.spec.base_name))
    split = load_source(training.spec.data_source)["train"]
    times = {way: [] for way in WAYS}
    for i in range(rounds + 1):  # round 0 warms every way up, untimed
        for way in (WAYS if i % 2 == 0 else WAYS[::-1]):
            training.queue = queue(way, training, TrainStream(split, batch_size, derive_seed(i, "data")))
            training.dispatch(0)
            training.sync()
            start = time.perf_counter()
            for step in range(steps):
                training.dispatch(step)
            training.sync()
            if i:
                times[way].append((time.perf_counter() - start) / steps)
    ms = {way: 1e3 * statistics.median(t) for way, t in times.items()}
    return {"workload": workload, "framework": framework, "batch_size": batch_size, "ms": ms,
            "rounds_ms": {way: [1e3 * t for t in ts] for way, ts in times.items()},
            "over_on_device": {way: ms[way] / ms["on the device"] for way in WAYS}}


def table(record: dict) -> str:
    lines = [f"On {record['host_id']}, {record['rounds']} rounds of {record['steps']} steps a way:", "",
             "| workload | framework | " + " | ".join(f"{w}, ms/step" for w in WAYS)
             + " | at the pull / on the device | one ahead / on the device | one ahead / at the pull, "
             "paired (rounds below 1) |", "|---|---|" + "---|" * (len(WAYS) + 3)]
    for r in record["results"]:
        rounds = r.get("rounds_ms")  # absent from the first recorded run
        paired = "-"
        if rounds:
            ratios = [b / a for a, b in zip(rounds["at the pull"], rounds["one ahead"])]
            paired = f"{statistics.median(ratios):.3f} ({sum(x < 1 for x in ratios)} of {len(ratios)})"
        lines.append(f"| `{r['workload']}` | {r['framework']} | "
                     + " | ".join(f"{r['ms'][w]:.2f}" for w in WAYS)
                     + f" | {r['over_on_device']['at the pull']:.3f} | {r['over_on_device']['one ahead']:.3f}"
                     f" | {paired} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", nargs="+", default=list(BASE_WORKLOADS))
    parser.add_argument("--frameworks", nargs="+", choices=FRAMEWORKS, default=["jax"])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--out", help="write the results as JSON")
    add_table_options(parser, DOC)
    args = parser.parse_args()
    if printed_recorded_table(args, DOC, MARKERS, labelled_runs(table)):
        return
    if len(args.frameworks) > 1:
        raise SystemExit("one framework per run: each sets up its process (JAX's host devices) once")
    record = {"host_id": host_id(), "rounds": args.rounds, "steps": args.steps,
              "results": [measure(w, args.frameworks[0], args.rounds, args.steps) for w in args.workloads]}
    print(table(record))
    if args.out:
        Path(args.out).write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
