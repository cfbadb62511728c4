"""What a process's imports cost, side by side: fresh Python processes importing each set of
modules in turn, `--repeats` times, and the median wall seconds of each set with its ratio to the
first set. A trial starts three processes that import a framework (the trial's, the submission's
and the batch-size process, harness/submission_process.py), so an import the harness's own
process does not need is paid on every trial.

    .venv/bin/python benchmarks/import_cost.py --sets harness.pytorch_backend \
        harness.pytorch_backend,torch._dynamo --repeats 8
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: the repository's packages come first
    sys.path.insert(0, str(REPO))

from harness.calibration import host_id  # noqa: E402


def import_seconds(modules: str) -> float:
    """Wall seconds of a fresh interpreter that imports `modules` (comma-separated) and exits."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", f"import {modules}"], cwd=REPO, check=True)
    return time.perf_counter() - start


def compare(sets: list[str], repeats: int) -> dict[str, list[float]]:
    """`repeats` rounds, each set imported once a round, the order rotating."""
    seconds: dict[str, list[float]] = {s: [] for s in sets}
    for i in range(repeats):
        for k in range(len(sets)):
            modules = sets[(i + k) % len(sets)]
            seconds[modules].append(import_seconds(modules))
    return seconds


def table(seconds: dict[str, list[float]]) -> str:
    first = statistics.median(next(iter(seconds.values())))
    lines = ["| imports | median [min, max] s | this / the first |", "|---|---|---|"]
    for modules, times in seconds.items():
        median = statistics.median(times)
        lines.append(f"| `{modules}` | {median:.2f} [{min(times):.2f}, {max(times):.2f}] | {median / first:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", required=True, help="comma-separated modules, per set")
    parser.add_argument("--repeats", type=int, default=8)
    parser.add_argument("--out", help="write the timings to this JSON file")
    args = parser.parse_args(argv)
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    seconds = compare(args.sets, args.repeats)
    print(f"On {host_id()}, {args.repeats} rounds, {started}:\n")
    print(table(seconds))
    if args.out:
        Path(args.out).write_text(json.dumps({"host": host_id(), "started_at": started, "repeats": args.repeats,
                                              "seconds": seconds}, indent=1) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
