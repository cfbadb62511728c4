"""What moving a workload's training split costs a trial's setup, the ways before and after
stop 41, side by side in one run, alternating:

- handing it to the submission process: an `.npz` written to a file in the temporary folder and
  read back by another process (before), against the arrays sent through a socket to another
  process, as the harness's commands go (after: harness/submission_process.py `start_training`);
- reading the data cache: one `.npz` (before) against a folder of `.npy` files
  (workloads/data/npy_folder.py, after).

    .venv/bin/python benchmarks/array_files.py --workloads cnn dlrm --repeats 5 --out docs/data/array_files.json

Prints per workload the median [min, max] seconds of each way and the ratio before / after.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from harness.calibration import host_id  # noqa: E402
from workloads.data import npy_folder  # noqa: E402

WAYS = {"handoff": ("file", "socket"), "cache": ("npz", "npy")}


def read_npz(path) -> dict:
    with np.load(path, allow_pickle=False) as saved:
        return {k: saved[k] for k in saved.files}


def receiver(conn) -> None:
    """The other process: read each request (a file to read, or the arrays themselves), answer."""
    while (request := conn.recv()) is not None:
        arrays = read_npz(request) if isinstance(request, str) else request
        conn.send(sum(a.nbytes for a in arrays.values()))


def measure(arrays: dict, folder: Path, repeats: int) -> dict[str, list[float]]:
    """Seconds of each way, `repeats` times, the ways alternating."""
    times: dict[str, list[float]] = {f"{what}_{way}": [] for what, ways in WAYS.items() for way in ways}
    size = sum(a.nbytes for a in arrays.values())
    ours, theirs = multiprocessing.Pipe()
    process = multiprocessing.get_context("spawn").Process(target=receiver, args=(theirs,))
    process.start()

    def timed(key, fn):
        start = time.perf_counter()
        fn()
        times[key].append(time.perf_counter() - start)

    def through(request):
        ours.send(request)
        assert ours.recv() == size

    try:
        np.savez(folder / "cache.npz", **arrays)
        npy_folder.save(folder / "cache", arrays)
        for i in range(repeats):
            split = folder / f"split_{i}.npz"  # a new file each time, as each trial's scratch
            timed("handoff_file", lambda: (np.savez(split, **arrays), through(str(split))))
            timed("handoff_socket", lambda: through(dict(arrays)))
            timed("cache_npz", lambda: read_npz(folder / "cache.npz"))
            timed("cache_npy", lambda: npy_folder.load(folder / "cache"))
    finally:
        ours.send(None)
        process.join()
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", nargs="+", default=["cnn"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", help="write the measurements to this JSON file")
    args = parser.parse_args(argv)
    from workloads.registry import get_spec
    from workloads.sources import load_source

    record = {"host": host_id(), "repeats": args.repeats, "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
              "results": []}
    print("| workload | MB | hand-off: file, s | socket, s | file/socket | cache: npz, s | npy, s | npz/npy |")
    print("|---|---|---|---|---|---|---|---|")
    for workload in args.workloads:
        train = load_source(get_spec(workload).data_source)["train"]
        size = sum(a.nbytes for a in train.values()) / 1e6
        with tempfile.TemporaryDirectory() as folder:
            times = measure(train, Path(folder), args.repeats)
        med = {k: statistics.median(v) for k, v in times.items()}
        record["results"].append({"workload": workload, "megabytes": size, "seconds": times})

        def cell(key):
            return f"{med[key]:.3f} [{min(times[key]):.3f}, {max(times[key]):.3f}]"

        print(f"| `{workload}` | {size:.0f} | {cell('handoff_file')} | {cell('handoff_socket')} | "
              f"{med['handoff_file'] / med['handoff_socket']:.1f} | {cell('cache_npz')} | "
              f"{cell('cache_npy')} | {med['cache_npz'] / med['cache_npy']:.1f} |")
    if args.out:
        Path(args.out).write_text(json.dumps(record, indent=1) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
