"""The host calibration's reference seconds and its own spread on one host, per framework.

Each calibration (harness/calibration.py: the fastest of `BLOCKS` blocks of a fixed matrix
product, in the trial's framework, set up as a trial is) runs in a fresh process, `--calibrations`
times per framework, alternating frameworks. Every result is appended to `--out` (a JSON list), and
frameworks that already have their calibrations there for this host and thread count are skipped,
so an interrupted run continues where it stopped. Prints, per framework, the median seconds, the
spread of the calibrations over processes (coefficient of variation and (max - min) / median, the
figure issue 20 bounds at 3%), how disturbed the host was (median block over fastest), and what one
calibration cost in wall time.

`--write-reference` then writes workloads/calibration_reference.json (harness/calibration.py reads
it) from the records of this host in `--out`: per framework, the median of its calibrations, and
the spread table into docs/scoring.md (between its calibration-table markers).

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

sys.path.insert(0, str(Path(__file__).resolve().parent))  # this folder's scripts

import resolution_table  # noqa: E402
from harness import calibration  # noqa: E402
from harness.backends import FRAMEWORKS  # noqa: E402

DOC = REPO / "docs" / "scoring.md"
DOC_MARKERS = ("<!-- calibration table: start -->", "<!-- calibration table: end -->")


def one(framework: str, threads: int | None) -> dict:
    """One calibration in this process (the `--one` mode), as the record `--out` keeps."""
    start = time.perf_counter()
    blocks = calibration.measure_host(framework, threads)
    return {"framework": framework, "threads": threads, "host_id": calibration.host_id(),
            **calibration.summary(blocks), "process_wall_sec": time.perf_counter() - start,
            "calibration_sec": sum(blocks) * (1 + calibration.WARM_UP_CALLS
                                              / (calibration.BLOCKS * calibration.CALLS_PER_BLOCK)),
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def one_in_a_fresh_process(framework: str, threads: int | None) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--one", framework]
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
    return [r for r in records if r["host_id"] == host and r["threads"] == threads
            and "framework" in r and "workload" not in r]


def table(records: list[dict]) -> str:
    lines = ["| framework | calibrations | median s | spread (CV) | (max-min)/median | "
             "host disturbance (median block / fastest) | one calibration, s |",
             "|---|---|---|---|---|---|---|"]
    for framework in sorted({r["framework"] for r in records}):
        rows = [r for r in records if r["framework"] == framework]
        seconds = [r["seconds"] for r in rows]
        cv, width = spread(seconds)
        disturbance = statistics.median(r["median_over_fastest"] for r in rows)
        cost = statistics.median(r["calibration_sec"] for r in rows)
        lines.append(f"| {framework} | {len(rows)} | {statistics.median(seconds):.6f} | {cv:.1%} | "
                     f"{width:.1%} | {disturbance:.2f} | {cost:.2f} |")
    return "\n".join(lines)


def write_reference(records: list[dict], path: Path) -> dict:
    reference = calibration.load_reference(path)
    for framework in sorted({r["framework"] for r in records}):
        rows = [r for r in records if r["framework"] == framework]
        seconds = [r["seconds"] for r in rows]
        reference[framework] = {
            "seconds": statistics.median(seconds), "calibrations": len(rows),
            "spread_cv": spread(seconds)[0], "host_id": rows[0]["host_id"],
            "threads": rows[0]["threads"], "measured_at": max(r["measured_at"] for r in rows),
            "matrix_size": calibration.MATRIX_SIZE, "calls_per_block": calibration.CALLS_PER_BLOCK,
            "blocks": calibration.BLOCKS}
    path.write_text(json.dumps(reference, indent=1, sort_keys=True) + "\n")
    return reference


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frameworks", nargs="+", default=list(FRAMEWORKS), choices=FRAMEWORKS)
    parser.add_argument("--calibrations", type=int, default=10, help="per framework (default 10)")
    parser.add_argument("--threads", type=int, help="CPU cores (default: all, as a trial)")
    parser.add_argument("--out", default="results/calibration.json",
                        help="the records, appended and reused (default results/calibration.json)")
    parser.add_argument("--write-reference", action="store_true",
                        help="write the reference file from this host's records in --out")
    parser.add_argument("--reference", default=str(calibration.REFERENCE_FILE))
    parser.add_argument("--one", metavar="FRAMEWORK", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.threads)))
        return
    out = Path(args.out)
    try:
        records = json.loads(out.read_text()) if out.exists() else []
    except json.JSONDecodeError:
        sys.exit(f"{out}: not valid JSON; move it away to start afresh")
    host = calibration.host_id()
    if args.write_reference:
        chosen = [r for r in mine(records, host, args.threads) if r["framework"] in args.frameworks]
        if not chosen:
            sys.exit(f"{out}: no calibrations of this host ({host}) at --threads {args.threads}; "
                     "run without --write-reference first")
        write_reference(chosen, Path(args.reference))
        text = f"On {host}, {args.threads or 'all'} threads:\n\n{table(chosen)}"
        resolution_table.write(DOC, text, *DOC_MARKERS)
        print(f"wrote {args.reference} and the table in {DOC} from {len(chosen)} calibrations")
        print(table(chosen))
        return
    for i in range(args.calibrations):
        for framework in (args.frameworks if i % 2 == 0 else args.frameworks[::-1]):
            have = [r for r in mine(records, host, args.threads) if r["framework"] == framework]
            if len(have) > i:
                continue
            record = one_in_a_fresh_process(framework, args.threads)
            records.append(record)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(records, indent=1) + "\n")
            print(f"{framework} #{i}: {record['seconds']:.6f} s (median block / fastest "
                  f"{record['median_over_fastest']:.2f})", flush=True)
    chosen = [r for r in mine(records, host, args.threads) if r["framework"] in args.frameworks]
    print(f"host: {host}; threads: {args.threads or 'all'}")
    print(table(chosen))


if __name__ == "__main__":
    main()
