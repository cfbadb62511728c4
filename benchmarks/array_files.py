"""What moving a workload's training split costs a trial's setup, the ways before and after
stop 41, side by side in one run, alternating:

- handing it to the submission process: an `.npz` written to a file in the temporary folder and
  read back by another process (before stop 41), the arrays pickled through a socket to another
  process, as the harness's commands go (stops 41-46), and a sealed memory file whose descriptor
  crosses the socket (harness/array_handoff.py, stop 47: harness/submission_process.py
  `start_training`); the other process touches every page of what it got, so that a mapping's
  page faults count;
- reading the data cache: one `.npz` (before) against a folder of `.npy` files
  (workloads/data/npy_folder.py, after);
- reading the cache with its checksums checked, as a trial does: each file hashed, then loaded
  (stops 41-47), against each file read once and hashed on the bytes read, the files on threads
  (`npy_folder.load_checked`, stop 48).

    .venv/bin/python benchmarks/array_files.py --workloads cnn dlrm --repeats 5 --out docs/data/array_files.json
    .venv/bin/python benchmarks/array_files.py --table docs/data/array_files_stop48.json --write

Prints per workload the median [min, max] seconds of each way, and the ratio of the last (today's)
way of its group to it (below 1: today's way is faster).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import mmap
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
from multiprocessing import reduction  # noqa: E402

from algobench.doc_sections import add_table_options, printed_recorded_table  # noqa: E402
from harness import array_handoff  # noqa: E402
from harness.calibration import host_id  # noqa: E402
from workloads.data import npy_folder, sha256_file  # noqa: E402

WAYS = {"handoff": ("file", "socket", "memfd_mapped", "memfd"), "cache": ("npz", "npy"),
        "checked": ("apart", "one_read")}
PAGE = 4096
DOC = REPO / "docs" / "performance.md"
MARKERS = ("<!-- array files table: start -->", "<!-- array files table: end -->")


def read_npz(path) -> dict:
    with np.load(path, allow_pickle=False) as saved:
        return {k: saved[k] for k in saved.files}


def memory_file_by_mapping(arrays: dict) -> tuple[int, list]:
    """Stop 47's `array_handoff.to_memory_file`: the same sealed file, filled through a mapping."""
    layout = array_handoff.layout_of(arrays)
    fd = os.memfd_create("algobench-arrays", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    os.ftruncate(fd, array_handoff.size(layout))
    with mmap.mmap(fd, array_handoff.size(layout)) as memory:
        for name, dtype, shape, start in layout:
            np.ndarray(shape, dtype, buffer=memory, offset=start)[...] = arrays[name]
    fcntl.fcntl(fd, fcntl.F_ADD_SEALS, array_handoff.SEALS)
    return fd, layout


def load_checked_apart(folder: Path, digests: dict) -> dict:
    """The cache's checked read before stop 48: every file hashed, then every file loaded."""
    for name, digest in digests.items():
        if sha256_file(folder / name) != digest:
            raise ValueError(f"checksum mismatch of {name}")
    return npy_folder.load(folder)


def receiver(conn) -> None:
    """The other process: read each request (a file to read, a memory file's layout with its
    descriptor after it, or the arrays themselves), touch every page, answer."""
    while (request := conn.recv()) is not None:
        if isinstance(request, str):
            arrays = read_npz(request)
        elif isinstance(request, list):
            arrays = array_handoff.from_memory_file(reduction.recv_handle(conn), request)
        else:
            arrays = request
        for a in arrays.values():
            np.ascontiguousarray(a).reshape(-1).view(np.uint8)[::PAGE].sum()
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

    def through_memory_file(make=array_handoff.to_memory_file):
        fd, layout = make(arrays)
        try:
            ours.send(layout)
            reduction.send_handle(ours, fd, process.pid)
            assert ours.recv() == size
        finally:
            os.close(fd)

    try:
        np.savez(folder / "cache.npz", **arrays)
        npy_folder.save(folder / "cache", arrays)
        digests = {p.name: sha256_file(p) for p in (folder / "cache").glob("*.npy")}
        for i in range(repeats):
            split = folder / f"split_{i}.npz"  # a new file each time, as each trial's scratch
            timed("handoff_file", lambda: (np.savez(split, **arrays), through(str(split))))
            timed("handoff_socket", lambda: through(dict(arrays)))
            timed("handoff_memfd_mapped", lambda: through_memory_file(memory_file_by_mapping))
            timed("handoff_memfd", through_memory_file)
            timed("cache_npz", lambda: read_npz(folder / "cache.npz"))
            timed("cache_npy", lambda: npy_folder.load(folder / "cache"))
            timed("checked_apart", lambda: load_checked_apart(folder / "cache", digests))
            timed("checked_one_read", lambda: npy_folder.load_checked(folder / "cache", digests))
    finally:
        ours.send(None)
        process.join()
    return times


def table(record: dict) -> str:
    """The doc's table of a recorded run: per workload and way, its median [min, max] seconds and
    how its group's last way compares."""
    lines = [f"On {record['host']}, {record['repeats']} repeats, {record['started_at']}:", "",
             "| workload | MB | what | way | median [min, max] s | the group's last way / this way |",
             "|---|---|---|---|---|---|"]
    for result in record["results"]:
        times = result["seconds"]
        for what, ways in WAYS.items():
            if f"{what}_{ways[-1]}" not in times:  # a record made before this group existed
                continue
            last = statistics.median(times[f"{what}_{ways[-1]}"])
            for way in ways:
                if f"{what}_{way}" in times:
                    seconds = times[f"{what}_{way}"]
                    lines.append(f"| `{result['workload']}` | {result['megabytes']:.0f} | {what} | {way} | "
                                 f"{statistics.median(seconds):.3f} [{min(seconds):.3f}, {max(seconds):.3f}] | "
                                 f"{last / statistics.median(seconds):.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", nargs="+", default=["cnn"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", help="write the measurements to this JSON file")
    add_table_options(parser, DOC)
    args = parser.parse_args(argv)
    if printed_recorded_table(args, DOC, MARKERS, table):
        return 0
    from workloads.registry import get_spec
    from workloads.sources import load_source

    record = {"host": host_id(), "repeats": args.repeats, "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
              "results": []}
    for workload in args.workloads:
        train = load_source(get_spec(workload).data_source)["train"]
        with tempfile.TemporaryDirectory() as folder:
            times = measure(train, Path(folder), args.repeats)
        record["results"].append({"workload": workload, "megabytes": sum(a.nbytes for a in train.values()) / 1e6,
                                  "seconds": times})
    print(table(record))
    if args.out:
        Path(args.out).write_text(json.dumps(record, indent=1) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
