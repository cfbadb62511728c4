"""The host calibration's reference seconds and its own spread, per workload and framework.

Each calibration (harness/calibration.py: the workload's eval forward on its first validation
batch, one warm-up and 3 timed calls, their median) runs in a fresh process, set up as a trial is,
`--calibrations` times per (workload, framework), alternating frameworks. Every result is appended
to `--out` (a JSON list), and pairs that already have their calibrations there for this host and
thread count are skipped, so an interrupted run continues where it stopped. Prints, per pair, the
median seconds, the spread of the calibrations (coefficient of variation and (max - min) / median)
and what one calibration cost in wall time.

`--write-reference` then writes workloads/calibration_reference.json (harness/calibration.py reads
it) from the records of this host in `--out`: per pair, the median of its calibrations, keeping
pairs of other workloads already in the file.

    .venv/bin/python benchmarks/calibrate.py --workloads cnn vit --out results/calibration.json
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

from harness import calibration  # noqa: E402

BASE_WORKLOADS = ("cnn", "vit", "unet", "gnn", "dlrm", "lm", "translate", "conformer", "deepspeech")
from harness.backends import FRAMEWORKS  # noqa: E402


def one(workload: str, framework: str, threads: int | None) -> dict:
    """One calibration in this process (the `--one` mode), as the record `--out` keeps."""
    from workloads.registry import get_spec

    start = time.perf_counter()
    repeats = calibration.measure_host(get_spec(workload), framework, threads)
    return {"workload": workload, "framework": framework, "threads": threads,
            "host_id": calibration.host_id(), "seconds": statistics.median(repeats),
            "repeats": repeats, "process_wall_sec": time.perf_counter() - start,
            "calibration_sec": sum(repeats) * (1 + 1 / len(repeats)),  # the repeats and warm-up
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def one_in_a_fresh_process(workload: str, framework: str, threads: int | None) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--one", workload, framework]
    if threads:
        command += ["--threads", str(threads)]
    done = subprocess.run(command, cwd=REPO, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def spread(values: list[float]) -> tuple[float, float]:
    """(coefficient of variation, (max - min) / median) of a pair's calibrations."""
    if len(values) < 2:
        return float("nan"), float("nan")
    return (statistics.stdev(values) / statistics.mean(values),
            (max(values) - min(values)) / statistics.median(values))


def mine(records: list[dict], host: str, threads: int | None) -> list[dict]:
    return [r for r in records if r["host_id"] == host and r["threads"] == threads]


def table(records: list[dict]) -> str:
    pairs = sorted({(r["workload"], r["framework"]) for r in records})
    lines = ["| workload | framework | calibrations | median s | spread (CV) | (max-min)/median | "
             "one calibration, s |", "|---|---|---|---|---|---|---|"]
    for workload, framework in pairs:
        rows = [r for r in records if (r["workload"], r["framework"]) == (workload, framework)]
        seconds = [r["seconds"] for r in rows]
        cv, width = spread(seconds)
        cost = statistics.median(r["calibration_sec"] for r in rows)
        lines.append(f"| `{workload}` | {framework} | {len(rows)} | {statistics.median(seconds):.4f} | "
                     f"{cv:.1%} | {width:.1%} | {cost:.2f} |")
    return "\n".join(lines)


def write_reference(records: list[dict], path: Path) -> dict:
    reference = calibration.load_reference(path)
    for workload, framework in sorted({(r["workload"], r["framework"]) for r in records}):
        rows = [r for r in records if (r["workload"], r["framework"]) == (workload, framework)]
        seconds = [r["seconds"] for r in rows]
        reference.setdefault(workload, {})[framework] = {
            "seconds": statistics.median(seconds), "calibrations": len(rows),
            "spread_cv": spread(seconds)[0], "host_id": rows[0]["host_id"],
            "threads": rows[0]["threads"], "measured_at": max(r["measured_at"] for r in rows)}
    path.write_text(json.dumps(reference, indent=1, sort_keys=True) + "\n")
    return reference


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", nargs="+", default=list(BASE_WORKLOADS))
    parser.add_argument("--frameworks", nargs="+", default=list(FRAMEWORKS), choices=FRAMEWORKS)
    parser.add_argument("--calibrations", type=int, default=10, help="per pair (default 10)")
    parser.add_argument("--threads", type=int, help="CPU cores (default: all, as a trial)")
    parser.add_argument("--out", default="results/calibration.json",
                        help="the records, appended and reused (default results/calibration.json)")
    parser.add_argument("--write-reference", action="store_true",
                        help="write the reference file from this host's records in --out")
    parser.add_argument("--reference", default=str(calibration.REFERENCE_FILE))
    parser.add_argument("--one", nargs=2, metavar=("WORKLOAD", "FRAMEWORK"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(*args.one, args.threads)))
        return
    out = Path(args.out)
    try:
        records = json.loads(out.read_text()) if out.exists() else []
    except json.JSONDecodeError:
        sys.exit(f"{out}: not valid JSON; move it away to start afresh")
    host = calibration.host_id()
    if args.write_reference:
        chosen = [r for r in mine(records, host, args.threads)
                  if r["workload"] in args.workloads and r["framework"] in args.frameworks]
        if not chosen:
            sys.exit(f"{out}: no calibrations of this host ({host}) at --threads {args.threads}; "
                     "run without --write-reference first")
        write_reference(chosen, Path(args.reference))
        print(f"wrote {args.reference} from {len(chosen)} calibrations")
        print(table(chosen))
        return
    for i in range(args.calibrations):
        for workload in args.workloads:
            for framework in (args.frameworks if i % 2 == 0 else args.frameworks[::-1]):
                have = [r for r in mine(records, host, args.threads)
                        if (r["workload"], r["framework"]) == (workload, framework)]
                if len(have) > i:
                    continue
                record = one_in_a_fresh_process(workload, framework, args.threads)
                records.append(record)
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_text(json.dumps(records, indent=1) + "\n")
                print(f"{workload} {framework} #{i}: {record['seconds']:.4f} s", flush=True)
    chosen = [r for r in mine(records, host, args.threads)
              if r["workload"] in args.workloads and r["framework"] in args.frameworks]
    print(f"host: {host}; threads: {args.threads or 'all'}")
    print(table(chosen))


if __name__ == "__main__":
    main()
