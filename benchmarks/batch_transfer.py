"""What moving a training batch to JAX's devices costs: `JaxWorkload.to_device` (one
`jax.device_put` for the whole batch) against one `jax.device_put` per array (the way before stop
46), side by side.

Per workload, in one process set up as a JAX trial is (one host device per core), the reference
baseline's training batches are taken from the workload's stream and moved both ways, the two
alternating call by call, `--calls` times each after a warm-up; every call waits for the arrays to
arrive. Prints, per workload, the median milliseconds of each way and the one-call way over the
per-array way. The transfer is on the clock (`data_selection` pulls the batch), so it is part of
the harness's cost that benchmarks/harness_overhead.py measures as a whole.

    .venv/bin/python benchmarks/batch_transfer.py --workloads gnn unet cnn
    .venv/bin/python benchmarks/batch_transfer.py --table docs/data/batch_transfer_stop46.json --write

`--table JSON` prints the table of a recorded run (`--out`) instead of measuring; `--write` puts
it into docs/performance.md between its batch-transfer markers.
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

from algobench.doc_sections import add_table_options, printed_recorded_table  # noqa: E402
from harness import backends  # noqa: E402
from harness.calibration import host_id  # noqa: E402
from workloads.registry import BASE_WORKLOADS  # noqa: E402


def per_array(workload, batch: dict) -> dict:
    """One `jax.device_put` per array, as `to_device` did before."""
    import jax

    return {k: jax.device_put(batch[k], sharding) for k, sharding in workload.batch_shardings(batch).items()}


def measure(name: str, calls: int, warmup: int) -> dict:
    import jax

    from harness import loader
    from workloads.data import TrainStream
    from workloads.registry import get_spec
    from workloads.sources import load_source

    spec = get_spec(name)
    workload = backends.load_backend("jax").make_workload(spec)
    batch_size = int(loader.load_submission(str(REPO / "submissions" / "nadamw"), "jax")
                     .get_batch_size(workload_name=spec.base_name))
    stream = TrainStream(load_source(spec.data_source)["train"], batch_size, 0)
    ways = {"per array": lambda b: per_array(workload, b), "one call": workload.to_device}
    times = {way: [] for way in ways}
    for i in range(warmup + calls):
        batch = next(stream)
        for way in (list(ways) if i % 2 == 0 else list(ways)[::-1]):
            start = time.perf_counter()
            jax.block_until_ready(ways[way](batch))
            if i >= warmup:
                times[way].append(time.perf_counter() - start)
    medians = {way: statistics.median(t) for way, t in times.items()}
    return {"workload": name, "batch_size": batch_size, "arrays": len(batch),
            "megabytes": sum(v.nbytes for v in batch.values()) / 1e6,
            "ms": {way: 1e3 * m for way, m in medians.items()},
            "one_call_over_per_array": medians["one call"] / medians["per array"]}


DOC = REPO / "docs" / "performance.md"
MARKERS = ("<!-- batch transfer table: start -->", "<!-- batch transfer table: end -->")


def table(record: dict) -> str:
    lines = [f"On {record['host_id']}, {record['calls']} calls of each way a workload:", "",
             "| workload | batch | arrays | MB | per array, ms | one call, ms | one call / per array |",
             "|---|---|---|---|---|---|---|"]
    for r in record["results"]:
        lines.append(f"| `{r['workload']}` | {r['batch_size']} | {r['arrays']} | {r['megabytes']:.2f} | "
                     f"{r['ms']['per array']:.3f} | {r['ms']['one call']:.3f} | "
                     f"{r['one_call_over_per_array']:.3f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", nargs="+", default=list(BASE_WORKLOADS))
    parser.add_argument("--calls", type=int, default=200, help="timed calls of each way per workload")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--out", help="write the results as JSON")
    add_table_options(parser, DOC)
    args = parser.parse_args()
    if printed_recorded_table(args, DOC, MARKERS, table):
        return
    backends.use_jax_host_devices(len(backends.pin_cores(None)))
    record = {"host_id": host_id(), "calls": args.calls,
              "results": [measure(name, args.calls, args.warmup) for name in args.workloads]}
    print(table(record))
    if args.out:
        Path(args.out).write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
