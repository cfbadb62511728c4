"""Write docs/baselines.md's time-to-target table of Muon and AdEMAMix beside NAdamW from the
recorded JSON of one `benchmarks/time_to_target.py --json` run (docs/data/), so that the table
cannot drift from the measurement.

    .venv/bin/python scripts/baselines_table.py docs/data/time_to_target_muon_ademamix.json --write
    .venv/bin/python scripts/baselines_table.py docs/data/time_to_target_muon_ademamix.json --check

The table sits between two marker comments in docs/baselines.md; `--check` exits 1 when the doc
differs from what the JSON gives (a test runs it).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: the repository's packages come first
    sys.path.insert(0, str(REPO))

from algobench.doc_sections import replaced  # noqa: E402

DOC = REPO / "docs" / "baselines.md"
START, END = "<!-- time-to-target table: start -->", "<!-- time-to-target table: end -->"


def cell(runs: list[dict]) -> tuple[str, float]:
    """'40 s, 1,332 steps, 30.1 ms' from the medians of the runs (a missed target counts as
    infinitely slow), and the median time."""
    time = statistics.median(math.inf if r["time_to_target"] is None else r["time_to_target"]
                             for r in runs)
    if math.isinf(time):
        return f"target not reached ({len(runs)} runs)", time
    steps = statistics.median(r["steps"] for r in runs)
    ms = statistics.median(1000 * r["step_time"] for r in runs)
    return f"{time:.1f} s, {steps:,.0f} steps, {ms:.1f} ms", time


def table(rows: list[dict]) -> str:
    runs: dict[tuple[str, str], dict[str, list[dict]]] = {}
    for r in rows:
        runs.setdefault((r["workload"], r["submission"]), {}).setdefault(r["framework"], []).append(r)
    repeats = max(len(v) for by in runs.values() for v in by.values())
    hosts = sorted({r.get("host", "host not recorded") for r in rows})
    runs_per_cell = f"{repeats} run" if repeats == 1 else f"Medians over {repeats} runs"
    lines = [f"{runs_per_cell} per cell, point 0, on {'; '.join(hosts)}:",
             "", "| workload | baseline | PyTorch: time to target, steps, ms/step | "
             "JAX: time to target, steps, ms/step | JAX/PyTorch |", "|---|---|---|---|---|"]
    for (workload, submission), by in sorted(runs.items()):
        (torch_cell, t), (jax_cell, j) = cell(by.get("pytorch", [])), cell(by.get("jax", []))
        ratio = f"{j / t:.2f}" if math.isfinite(t) and math.isfinite(j) else "-"
        lines.append(f"| `{workload}` | `{submission}` | {torch_cell} | {jax_cell} | {ratio} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("json", type=Path, help="benchmarks/time_to_target.py --json output")
    parser.add_argument("--write", action="store_true", help="rewrite the table in docs/baselines.md")
    parser.add_argument("--check", action="store_true", help="exit 1 when docs/baselines.md differs")
    args = parser.parse_args(argv)
    body = table(json.loads(args.json.read_text()))
    doc = DOC.read_text()
    if args.check:
        if replaced(doc, body, START, END, DOC) != doc:
            print(f"{DOC}: the table differs from {args.json}; run scripts/baselines_table.py "
                  f"{args.json} --write", file=sys.stderr)
            return 1
        return 0
    if args.write:
        DOC.write_text(replaced(doc, body, START, END, DOC))
    print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
