"""docs/scoring.md's measurement-resolution table, from recorded results: per workload and
framework, before and after the eval schedule of docs/scoring.md#measurement-resolution.

Reads the results trees that benchmarks/min_detectable_speedup.py wrote (`--before`: run with
`--repo` at a checkout before the change; `--after`: this checkout) and prints, per workload,
framework and tree: the eval period, the evals up to the one that detected the reference target,
the resolution (the submission time between the evaluation that met the target and the one before
it, as a share of the time to target), what one eval of the validation split alone cost (the
facts' `validation_eval_sec`; "-" in records made before stop 46), the evals' share of the trial's wall time, the run-to-run
spread of the time to target and the minimum detectable speedup (all medians over the runs).
With `--write`, the table replaces the one between the markers in docs/scoring.md. With
`--write-reference-times`, the `--after` runs timed on the reference host (the host of
workloads/calibration_reference.json) give workloads/reference_times.json: per workload the
smaller of the frameworks' median times to target, which sizes the eval schedule
(workloads/spec.py).

    .venv/bin/python benchmarks/resolution_table.py --before results/noise_before \
        --after results/noise --write
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # this folder's scripts

from min_detectable_speedup import percent, read_facts, summarize  # noqa: E402

from algobench.doc_sections import write_section  # noqa: E402
from harness.calibration import REFERENCE_FILE  # noqa: E402
from workloads.spec import REFERENCE_TIMES_FILE  # noqa: E402

DOC = Path(__file__).resolve().parents[1] / "docs" / "scoring.md"
START, END = "<!-- resolution table: start -->", "<!-- resolution table: end -->"


def rows(label: str, summary: dict) -> list[str]:
    out = []
    for (workload, framework), s in summary.items():
        ttt = s["time_to_target"]
        resolution = s["resolution_sec"] / ttt if ttt and s["resolution_sec"] is not None else None
        period = "-" if s["eval_period_sec"] is None else f"{s['eval_period_sec']:.2f}"
        evals = "-" if s["evals_to_target"] is None else f"{s['evals_to_target']:g}"
        mds = "-" if s["min_detectable_speedup"] is None else f"{s['min_detectable_speedup']:.3f}x"
        target = "-" if s.get("validation_target") is None else f"{s['validation_target']:g}"
        cost = "-" if s.get("validation_eval_sec") is None else f"{s['validation_eval_sec']:.3f}"
        out.append(f"| `{workload}` | {framework} | {label} | {target} | {s['runs']} ({s['reached']}) | "
                   f"{'-' if ttt is None else f'{ttt:.1f}'} | {period} | {evals} | "
                   f"{percent(resolution)} | {cost} | {percent(s['eval_share'])} | {percent(s['spread_cv'])} | "
                   f"{mds} |")
    return out


def table(before: dict | None, after: dict, others: list[tuple[str, dict]] = (),
          labels: tuple[str, str] = ("before", "after")) -> str:
    """Per workload and framework: the `before` row, the `after` row, then one row per labelled
    further run (`--run`: the same schedule measured again, or a later one)."""
    labelled = [(labels[0], before or {}), (labels[1], after), *others]
    lines = ["| workload | framework | schedule | validation target | runs (reached) | time to target, s | "
             "eval period, s | evals to target | resolution | validation eval, s | eval share of wall time | "
             "spread (CV) | min. detectable speedup |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for pair in sorted(set().union(*(summary for _, summary in labelled))):
        for label, summary in labelled:
            if pair in summary:
                lines += rows(label, {pair: summary[pair]})
    return "\n".join(lines)


def write(doc: Path, text: str) -> None:
    """Replace the table between the resolution table's markers of `doc` with `text`."""
    write_section(doc, text, START, END)


def reference_times(facts: list[dict], reference_host: str, sources: list[str]) -> dict:
    """workloads/reference_times.json's record: per workload, the smaller of the frameworks'
    median times to target over the runs timed on `reference_host` in which every run reached it
    (seconds on the reference host, as budgets are)."""
    summary = summarize([f for f in facts if f["host_id"] == reference_host])
    workloads = {}
    for (workload, framework), s in summary.items():
        if s["time_to_target"] is None or s["reached"] < s["runs"]:
            continue
        if workload not in workloads or s["time_to_target"] < workloads[workload]["seconds"]:
            workloads[workload] = {"seconds": round(s["time_to_target"], 3), "framework": framework,
                                   "runs": s["runs"], "validation_target": s["validation_target"]}
    return {"host_id": reference_host, "submission": "nadamw", "sources": sources,
            "workloads": dict(sorted(workloads.items()))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", help="results tree (or facts record) of the schedule before "
                                         "(optional)")
    parser.add_argument("--after", required=True, nargs="+", help="results trees (or facts "
                        "records that min_detectable_speedup.py --facts-json wrote) of this "
                        "checkout's schedule")
    parser.add_argument("--run", nargs="+", action="append", default=[], metavar=("LABEL", "FACTS"),
                        help="a further labelled run's results trees or facts records (repeatable)")
    parser.add_argument("--labels", nargs=2, default=("before", "after"), metavar=("BEFORE", "AFTER"),
                        help="the schedule column's names of the --before and --after rows")
    parser.add_argument("--submission", default="nadamw")
    parser.add_argument("--write", action="store_true", help=f"replace the table in {DOC.name}")
    parser.add_argument("--doc", default=str(DOC))
    parser.add_argument("--write-reference-times", action="store_true",
                        help=f"write {REFERENCE_TIMES_FILE.name} from the --after runs on the reference host")
    parser.add_argument("--reference-times-file", default=str(REFERENCE_TIMES_FILE))
    parser.add_argument("--calibration-reference", default=str(REFERENCE_FILE),
                        help="the reference host's calibration record (its host_id)")
    args = parser.parse_args()
    facts_of = lambda sources: [f for source in sources for f in read_facts(source, args.submission)]  # noqa: E731
    after_facts = facts_of(args.after)
    after = summarize(after_facts)
    before = summarize(facts_of([args.before])) if args.before else None
    if not after:
        sys.exit(f"{' '.join(args.after)}: no trials of {args.submission}")
    others = [(label, summarize(facts_of(sources))) for label, *sources in args.run]
    text = table(before, after, others, tuple(args.labels))
    print(text)
    if args.write:
        write(Path(args.doc), text)
        print(f"wrote the table into {args.doc}")
    if args.write_reference_times:
        host = json.loads(Path(args.calibration_reference).read_text())["host_id"]
        record = reference_times(after_facts, host, args.after)
        if not record["workloads"]:
            sys.exit(f"{' '.join(args.after)}: no runs of {args.submission} on the reference host {host}")
        Path(args.reference_times_file).write_text(json.dumps(record, indent=1) + "\n")
        print(f"wrote {args.reference_times_file}: "
              + ", ".join(f"{w} {e['seconds']:.1f} s" for w, e in record["workloads"].items()))


if __name__ == "__main__":
    main()
