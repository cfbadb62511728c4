"""docs/targets.md's tables of the targets re-derived from recorded runs.

Each file of `docs/data/targets/` is a `targets.json` that `algobench set-targets WORKLOAD
--from-runs DIR --out OUT` wrote (one per workload): the runs it counted, each with its best
validation and test metric, and the targets it derived. This script writes one table per
workload between the markers of docs/targets.md, so the figures there cannot drift from the
records.

    .venv/bin/python scripts/targets_tables.py --write
    .venv/bin/python scripts/targets_tables.py --check   # CI: exit 1 when the doc differs
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: the repository's packages come first
    sys.path.insert(0, str(REPO))

from algobench.doc_sections import write_or_check  # noqa: E402

DOC = REPO / "docs" / "targets.md"
RECORDS = REPO / "docs" / "data" / "targets"
START, END = "<!-- re-derived targets: start -->", "<!-- re-derived targets: end -->"


def _value(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def table(record: dict) -> str:
    """One workload's runs and the targets derived from them."""
    metric, targets = record["metric"], record["targets"]
    direction = "lower" if record["lower_is_better"] else "higher"
    lines = [f"#### `{record['workload']}` ({metric}, {direction} is better)", "",
             "| framework | study (seed) | best validation (to 1.2 step hints) | best test | steps | ended by |",
             "|---|---|---|---|---|---|"]
    for run in sorted(record["confirmation"], key=lambda r: (r["framework"], r["study"])):
        lines.append(f"| {run['framework']} | {run['study']} | {_value(run['best_validation'])} | "
                     f"{_value(run['best_test'])} | {run['steps']} | {run['stop_reason']} |")
    lines += ["", f"Derived: validation target {targets['validation_target']:g}, test target "
                  f"{targets['test_target']:g}."]
    return "\n".join(lines)


def render(records: Path) -> str:
    files = sorted(records.glob("*.json"))
    if not files:
        return f"No records in {records} yet."
    return "\n\n".join(table(json.loads(f.read_text())) for f in files)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="rewrite the tables in the doc")
    mode.add_argument("--check", action="store_true", help="exit 1 when the doc differs")
    parser.add_argument("--records", default=str(RECORDS))
    parser.add_argument("--doc", default=str(DOC))
    args = parser.parse_args(argv)
    return write_or_check(args.doc, render(Path(args.records)), START, END, write=args.write,
                          what="the re-derived targets' tables", source=args.records,
                          fix=".venv/bin/python scripts/targets_tables.py --write")

if __name__ == "__main__":
    sys.exit(main())
