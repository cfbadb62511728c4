"""The host calibration's reference seconds and its own spread on one host.

Each calibration (harness/calibration.py: the median over rounds and cores of the fastest block of
a fixed one-thread product, on the cores a trial gets) runs in a fresh process, `--calibrations`
times. Every result is appended to `--out` (a JSON list), and calibrations already there for this
host and thread count count towards the number asked for, so an interrupted run continues where
it stopped. Prints the median seconds, the spread of the calibrations over processes (coefficient
of variation, the figure issue 20 bounds at 3%, and (max - min) / median), how disturbed the host
was (median block over the calibration), and what one calibration cost in wall time.

`--write-doc` writes the spread table of this host's records in `--out` into docs/scoring.md
(between its calibration-table markers); `--write-reference` also writes
workloads/calibration_reference.json (harness/calibration.py reads it: trials are then scaled)
from them, the median of the calibrations. Write the reference only from a calibration whose
spread is within the bound. `--host HOST_ID` takes another host's records in `--out` for both
(the reference host need not be the machine writing the file).

    .venv/bin/python benchmarks/calibrate.py --out results/calibration.json
    .venv/bin/python benchmarks/calibrate.py --out results/calibration.json --write-reference
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

from algobench.doc_sections import write_section  # noqa: E402
from harness import calibration  # noqa: E402

DOC = REPO / "docs" / "scoring.md"
DOC_MARKERS = ("<!-- calibration table: start -->", "<!-- calibration table: end -->")
DESIGN = "cores"  # records of this design; the earlier ones (per framework, per workload) differ


def one(threads: int | None) -> dict:
    """One calibration in this process (the `--one` mode), as the record `--out` keeps."""
    start = time.perf_counter()
    groups = calibration.measure_host(threads)
    measured = time.perf_counter() - start
    return {"design": DESIGN, "threads": threads, "host_id": calibration.host_id(),
            **calibration.summary(groups), "calibration_sec": measured,
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def one_in_a_fresh_process(threads: int | None) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--one"]
    if threads:
        command += ["--threads", str(threads)]
    done = subprocess.run(command, cwd=REPO, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def spread(values: list[float]) -> tuple[float, float]:
    """(coefficient of variation, (max - min) / median) of calibrations."""
    if len(values) < 2:
        return float("nan"), float("nan")
    return (statistics.stdev(values) / statistics.mean(values),
            (max(values) - min(values)) / statistics.median(values))


def mine(records: list[dict], host: str, threads: int | None) -> list[dict]:
    return [r for r in records if r.get("design") == DESIGN and r["host_id"] == host
            and r["threads"] == threads]


def table(records: list[dict]) -> str:
    seconds = [r["seconds"] for r in records]
    cv, width = spread(seconds)
    disturbance = statistics.median(r["median_over_seconds"] for r in records)
    cost = statistics.median(r["calibration_sec"] for r in records)
    return ("| calibrations | median s | spread (CV) | (max-min)/median | host disturbance (median "
            "block / calibration) | one calibration, s |\n|---|---|---|---|---|---|\n"
            f"| {len(records)} | {statistics.median(seconds):.6f} | {cv:.1%} | {width:.1%} | "
            f"{disturbance:.2f} | {cost:.2f} |")


def write_reference(records: list[dict], path: Path) -> dict:
    seconds = [r["seconds"] for r in records]
    reference = {
        "seconds": statistics.median(seconds), "calibrations": len(records),
        "spread_cv": spread(seconds)[0], "host_id": records[0]["host_id"],
        "threads": records[0]["threads"], "measured_at": max(r["measured_at"] for r in records),
        "matrix_size": calibration.MATRIX_SIZE, "calls_per_block": calibration.CALLS_PER_BLOCK,
        "blocks_per_round": calibration.BLOCKS_PER_ROUND, "rounds": calibration.ROUNDS}
    path.write_text(json.dumps(reference, indent=1, sort_keys=True) + "\n")
    return reference


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calibrations", type=int, default=10, help="default 10")
    parser.add_argument("--threads", type=int, help="CPU cores (default: all, as a trial)")
    parser.add_argument("--out", default="results/calibration.json",
                        help="the records, appended and reused (default results/calibration.json)")
    parser.add_argument("--write-doc", action="store_true",
                        help="write the spread table of this host's records in --out into docs/scoring.md")
    parser.add_argument("--write-reference", action="store_true",
                        help="also write the reference file from them (trials are then scaled)")
    parser.add_argument("--reference", default=str(calibration.REFERENCE_FILE))
    parser.add_argument("--host", help="with --write-doc/--write-reference: the records of this "
                        "host id (default: this host), e.g. the host the targets were set on")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.threads)))
        return
    out = Path(args.out)
    try:
        records = json.loads(out.read_text()) if out.exists() else []
    except json.JSONDecodeError:
        sys.exit(f"{out}: not valid JSON; move it away to start afresh")
    host = calibration.host_id()
    if args.write_reference or args.write_doc:
        host = args.host or host
        chosen = mine(records, host, args.threads)
        if not chosen:
            sys.exit(f"{out}: no calibrations of host {host!r} at --threads {args.threads}; "
                     "run without --write-doc on that host first")
        if args.write_reference:
            write_reference(chosen, Path(args.reference))
            print(f"wrote {args.reference} from {len(chosen)} calibrations")
        first, last = min(r["measured_at"] for r in chosen), max(r["measured_at"] for r in chosen)
        text = (f"On {host}, {args.threads or 'all'} threads, {first} to {last}:\n\n{table(chosen)}")
        write_section(DOC, text, *DOC_MARKERS)
        print(f"wrote the table in {DOC} from {len(chosen)} calibrations")
        print(table(chosen))
        return
    for i in range(len(mine(records, host, args.threads)), args.calibrations):
        record = one_in_a_fresh_process(args.threads)
        records.append(record)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(records, indent=1) + "\n")
        print(f"#{i}: {record['seconds']:.6f} s (median block / calibration "
              f"{record['median_over_seconds']:.2f}, slowest group "
              f"{record['slowest_group_over_seconds']:.2f})", flush=True)
    print(f"host: {host}; threads: {args.threads or 'all'}")
    print(table(mine(records, host, args.threads)))


if __name__ == "__main__":
    main()
