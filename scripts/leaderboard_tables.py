"""docs/leaderboard.md's tables, from the shipped reference leaderboard (reference_results/) and
from the pilot (docs/data/pilot: a smaller run of the same command, `--section pilot`).

Scores the folder exactly as `algobench leaderboard` does (algobench/leaderboard.py: times as
measured, each workload's trials on one host) and writes, between the markers in
docs/leaderboard.md: the run (protocol, command, hosts, cost), every scoreboard (one per ruleset
and framework), which pairs of entries the suite separates (in the score and per workload), the
rank agreement with AlgoPerf's published leaderboards (scoring/algoperf_published.json), and the
split of each entry's time difference to NAdamW into per-step cost and steps. Every leaderboard
figure in the docs comes from here, so the docs cannot disagree with reference_results/.

    .venv/bin/python scripts/leaderboard_tables.py --write   # after a new reference run
    .venv/bin/python scripts/leaderboard_tables.py --check   # CI: exit 1 when the docs differ
    .venv/bin/python scripts/leaderboard_tables.py --section pilot --write   # after a pilot chunk
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: the repository's packages come first
    sys.path.insert(0, str(REPO))

from algobench.doc_sections import write_or_check  # noqa: E402

DOC = REPO / "docs" / "leaderboard.md"
RESULTS = REPO / "reference_results"
START, END = "<!-- reference leaderboard: start -->", "<!-- reference leaderboard: end -->"
# each section: its default folder and its markers in the doc
SECTIONS = {"reference": (RESULTS, (START, END)),
            "pilot": (REPO / "docs" / "data" / "pilot",
                      ("<!-- pilot leaderboard: start -->", "<!-- pilot leaderboard: end -->"))}
BASELINE = "nadamw"
NOT_PRODUCED = ("reference_results/ has not been produced yet: the reference run is pending. "
                "Until then compare mode takes any folder `algobench leaderboard` wrote.")


def _table(headers: list[str], rows: list[list[str]]) -> str:
    from scoring.leaderboard_output import markdown_table

    return markdown_table(headers, rows)


def _fmt(value: float, spec: str = ".3f") -> str:
    return "-" if value is None or (isinstance(value, float) and not math.isfinite(value)) else format(value, spec)


def run_section(results_dir: Path, results) -> str:
    from harness.logs import read_json

    record = read_json(results_dir / "leaderboard.json")
    trials = results.trials
    wall = 0.0
    for path in trials["path"]:
        meta = read_json(Path(path) / "meta.json")
        wall += float((meta.get("final") or {}).get("total_duration") or 0.0)
    hosts = sorted(h for h in set(trials["host_id"]) if h) or ["uncalibrated"]
    rows = [["protocol", f"`{record['protocol']['name']}`: {record['protocol']['summary']}"],
            ["commands", "<br>".join(f"`{i['command']}` ({i['started_at']})" for i in record["invocations"])],
            ["trials", str(len(trials))],
            ["frameworks", ", ".join(sorted(set(trials["framework"])))],
            ["workloads", ", ".join(sorted(set(trials["workload"])))],
            ["hosts", "; ".join(f"`{h}`" for h in hosts)],
            ["wall time of the trials", f"{wall / 3600:.1f} h"]]
    return "### The run\n\n" + _table(["", ""], rows)


def separation_section(board) -> str:
    from scoring import analysis

    pairs = analysis.score_separation(board)
    per_workload = analysis.workload_separation(board)
    lines = [f"Separated in the score (95% bootstrap interval of the score difference excludes 0): "
             f"{int(pairs['separated'].sum())} of {len(pairs)} pairs.\n"]
    lines.append(_table(["a", "b", "score a", "score b", "difference [95% interval]", "separated"],
                        [[p.a, p.b, _fmt(p.score_a), _fmt(p.score_b),
                          f"{p.difference:+.3f} [{p.difference_ci_low:+.3f}, {p.difference_ci_high:+.3f}]",
                          "yes" if p.separated else "no"] for p in pairs.itertuples(index=False)]))
    lines.append("\nPer workload, pairs whose time ratio's interval excludes 1:\n")
    lines.append(_table(["workload", "pairs", "separated", "both unsolved", "share separated"],
                        [[w.workload, str(w.pairs), str(w.separated), str(w.both_unsolved),
                          _fmt(w.share_separated, ".0%")] for w in per_workload.itertuples(index=False)]))
    return "\n".join(lines)


def fidelity_section(board) -> str:
    from scoring import analysis

    rows = []
    for name, published in analysis.load_published().items():
        result = analysis.fidelity(board, published)
        discordant = ", ".join(f"{a} > {b}" for a, b in result["discordant"]) or "none"
        rows.append([name, ", ".join(result["algorithms"]) or "-",
                     f"{_fmt(result['tau'], '.2f')} [{_fmt(result['tau_ci_low'], '.2f')}, "
                     f"{_fmt(result['tau_ci_high'], '.2f')}]", discordant])
    return _table(["AlgoPerf leaderboard", "algorithms in both", "Kendall tau [95% interval]",
                   "published order we reverse"], rows)


def step_cost_section(board) -> str:
    from scoring import analysis

    entries = board.leaderboard["entry"].tolist()
    baseline = next((e for e in entries if e.split(" (")[0] == BASELINE), None)
    if baseline is None:
        return f"No `{BASELINE}` entry to compare with."
    table = analysis.step_cost_decomposition(board, baseline)
    rows = [[t.entry, t.workload, _fmt(t.time_ratio), _fmt(t.step_time_ratio), _fmt(t.steps_ratio),
             _fmt(t.step_cost_share, ".0%")] for t in table.itertuples(index=False)]
    return (f"Against `{baseline}`, best trials (time ratio = s/step ratio x steps ratio):\n\n"
            + _table(["entry", "workload", "time ratio", "s/step ratio", "steps ratio",
                      "share from per-step cost"], rows))


def render(results_dir: Path = RESULTS) -> str:
    """The generated part of docs/leaderboard.md."""
    if not (results_dir / "leaderboard.json").exists():
        return NOT_PRODUCED
    from algobench import leaderboard
    from scoring.leaderboard_output import leaderboard_markdown
    from scoring.tables import load_results

    results = load_results([results_dir])
    boards = leaderboard.score(results)
    parts = [run_section(results_dir, results)]
    for board in boards:
        body = leaderboard_markdown(board).replace("\n# ", "\n#### ").replace("# ", "#### ", 1)
        parts += [body, "##### Which entries it separates\n", separation_section(board),
                  "\n##### Agreement with AlgoPerf\n", fidelity_section(board),
                  "\n##### Per-step cost against steps to target\n", step_cost_section(board)]
    return "\n\n".join(part.rstrip("\n") for part in parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="rewrite the tables in the doc")
    mode.add_argument("--check", action="store_true", help="exit 1 when the doc differs")
    parser.add_argument("--section", choices=list(SECTIONS), default="reference",
                        help="which tables: the reference leaderboard's (default) or the pilot's")
    parser.add_argument("--results", help="default: reference_results/, or docs/data/pilot for the pilot")
    parser.add_argument("--doc", default=str(DOC))
    args = parser.parse_args(argv)
    folder, (start, end) = SECTIONS[args.section]
    results = args.results or str(folder)
    option = "" if args.section == "reference" else f" --section {args.section}"
    return write_or_check(args.doc, render(Path(results)), start, end, write=args.write,
                          what=f"the {args.section} leaderboard tables", source=results,
                          fix=f".venv/bin/python scripts/leaderboard_tables.py{option} --write")


if __name__ == "__main__":
    sys.exit(main())
