"""What a shorter host calibration would measure, against the trial's own, side by side in one
process: calibrations of each design (rounds x blocks per round, harness/calibration.py's
`measure_cores`) take turns, `--pairs` times, on the cores a trial would get.

A trial pays for its calibration in its setup (issue 28: about 0.45 s of a 20-90 s trial on a
2-core host). A design with fewer blocks costs less; it is only as good as the trial's if it
measures the same seconds (the shipped reference, workloads/calibration_reference.json, was
measured with the trial's design) and spreads no more. Prints per design: its median seconds,
the median of its paired ratio to the first design (the bias a switch would bring into every
speed factor), the spread of those ratios (10th to 90th percentile), its own spread over the
run (CV), and its wall time.

    .venv/bin/python benchmarks/calibration_length.py --designs 5x40 5x16 5x8 --pairs 20 \
        --out docs/data/calibration_length.json
    .venv/bin/python benchmarks/calibration_length.py --table docs/data/calibration_length_stop48.json --write
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: the repository's packages come first
    sys.path.insert(0, str(REPO))

from algobench.doc_sections import add_table_options, printed_recorded_table  # noqa: E402
from harness import backends, calibration, clock  # noqa: E402
from harness.host_load import StealMeter  # noqa: E402

DOC = REPO / "docs" / "scoring.md"
MARKERS = ("<!-- calibration length table: start -->", "<!-- calibration length table: end -->")


def parse_design(text: str) -> tuple[int, int]:
    """"ROUNDSxBLOCKS" -> (rounds, blocks per round)."""
    try:
        rounds, blocks = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"design {text!r}: write it ROUNDSxBLOCKS, as 5x40") from None
    if rounds < 1 or blocks < 1:
        raise argparse.ArgumentTypeError(f"design {text!r}: rounds and blocks must be at least 1")
    return rounds, blocks


def one(rounds: int, blocks: int) -> dict:
    """One calibration of this design: its seconds (the trial's summary) and its wall time."""
    start = time.perf_counter()
    groups = calibration.measure_cores(clock.perf_counter, rounds=rounds, blocks=blocks)
    return {"seconds": calibration.summary(groups)["seconds"], "wall_sec": time.perf_counter() - start}


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def compare(designs: list[tuple[int, int]], pairs: int) -> dict[str, list[dict]]:
    """`pairs` rounds in which every design calibrates once, in turn (the order rotating)."""
    results: dict[str, list[dict]] = {f"{r}x{b}": [] for r, b in designs}
    for i in range(pairs):
        for k in range(len(designs)):
            rounds, blocks = designs[(i + k) % len(designs)]
            results[f"{rounds}x{blocks}"].append(one(rounds, blocks))
    return results


def summarize(results: dict[str, list[dict]]) -> list[dict]:
    first = next(iter(results.values()))
    rows = []
    for name, runs in results.items():
        seconds = [r["seconds"] for r in runs]
        ratios = [r["seconds"] / f["seconds"] for r, f in zip(runs, first)]
        rows.append({"design": name, "median_sec": statistics.median(seconds),
                     "ratio_median": statistics.median(ratios), "ratio_q10": quantile(ratios, 0.1),
                     "ratio_q90": quantile(ratios, 0.9),
                     "cv": statistics.stdev(seconds) / statistics.mean(seconds) if len(seconds) > 1 else float("nan"),
                     "wall_sec": statistics.median(r["wall_sec"] for r in runs)})
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| design (rounds x blocks) | median s | paired ratio to the first, median [q10, q90] | "
             "spread (CV) | wall s |", "|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['design']} | {row['median_sec']:.6f} | {row['ratio_median']:.3f} "
                     f"[{row['ratio_q10']:.3f}, {row['ratio_q90']:.3f}] | {row['cv']:.1%} | "
                     f"{row['wall_sec']:.2f} |")
    return "\n".join(lines)


def recorded_table(record: dict) -> str:
    """The doc's table of a recorded run (`--out`), with its host, time and steal."""
    steal = record["host_steal_fraction"]
    return (f"On {record['host']}, {record['pairs']} calibrations per design, {record['started_at']} to "
            f"{record['finished_at']}, host steal " + ("not counted" if steal is None else f"{steal:.2%}")
            + ":\n\n" + table(record["summary"]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--designs", nargs="+", type=parse_design,
                        default=[(calibration.ROUNDS, calibration.BLOCKS_PER_ROUND), (5, 16), (5, 8)],
                        help="ROUNDSxBLOCKS each; the first is the one the others are compared with")
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--threads", type=int, help="CPU cores (default: all, as a trial)")
    parser.add_argument("--out", help="write the calibrations and the summary to this JSON file")
    add_table_options(parser, DOC)
    args = parser.parse_args(argv)
    if printed_recorded_table(args, DOC, MARKERS, recorded_table):
        return 0
    backends.pin_cores(args.threads)
    steal = StealMeter()
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    results = compare(args.designs, args.pairs)
    rows = summarize(results)
    stolen = steal.fraction()
    print(f"on {calibration.host_id()}, {args.pairs} calibrations per design, host steal "
          + ("not counted" if stolen is None else f"{stolen:.2%}"))
    print(table(rows))
    if args.out:
        record = {"host": calibration.host_id(), "started_at": started,
                  "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "pairs": args.pairs,
                  "threads": args.threads, "host_steal_fraction": stolen,
                  "calls_per_block": calibration.CALLS_PER_BLOCK, "summary": rows, "calibrations": results}
        Path(args.out).write_text(json.dumps(record, indent=1) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
