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
            ["host calibration spread: 90th / 10th percentile - 1 (slowest / fastest - 1)",
             calibration_spreads(trials)],
            ["wall time of the trials", f"{wall / 3600:.1f} h"]]
    return "### The run\n\n" + _table(["", ""], rows)


def calibration_spreads(trials) -> str:
    """Per (framework, workload): how far its trials' host calibrations spread (scoring/hosts.py)."""
    import numpy as np

    from scoring.hosts import percentile_spread

    cells = []
    for (framework, workload), group in trials.groupby(["framework", "workload"], sort=True):
        seconds = group["calibration_sec"].to_numpy(dtype=float)
        seconds = seconds[np.isfinite(seconds)]
        if len(seconds) < 2:
            continue
        cells.append(f"{workload}/{framework} {percentile_spread(seconds):.0%} "
                     f"({seconds.max() / seconds.min() - 1:.0%})")
    return ", ".join(cells) or "-"


def board_analysis(board) -> dict:
    """scoring/analysis.py's results for one board, computed once for every section below:
    `pairs`, `per_workload`, `fidelity` ({published leaderboard: result}), `baseline` (the
    `nadamw` entry, or None) and `step_cost` (its decomposition, or None)."""
    from scoring import analysis

    entries = board.leaderboard["entry"].tolist()
    baseline = next((e for e in entries if e.split(" (")[0] == BASELINE), None)
    return {"pairs": analysis.score_separation(board),
            "per_workload": analysis.workload_separation(board),
            "fidelity": {name: analysis.fidelity(board, published)
                         for name, published in analysis.load_published().items()},
            "baseline": baseline,
            "step_cost": analysis.step_cost_decomposition(board, baseline) if baseline else None}


def _tau(result: dict) -> str:
    return (f"{_fmt(result['tau'], '.2f')} [{_fmt(result['tau_ci_low'], '.2f')}, "
            f"{_fmt(result['tau_ci_high'], '.2f')}]")


def _reversed(result: dict) -> str:
    return ", ".join(f"{a} > {b}" for a, b in result["discordant"]) or "none"


def separation_section(facts: dict) -> str:
    pairs, per_workload = facts["pairs"], facts["per_workload"]
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


def fidelity_section(facts: dict) -> str:
    rows = [[name, ", ".join(result["algorithms"]) or "-", _tau(result), _reversed(result)]
            for name, result in facts["fidelity"].items()]
    return _table(["AlgoPerf leaderboard", "algorithms in both", "Kendall tau [95% interval]",
                   "published order we reverse"], rows)


def step_cost_section(facts: dict) -> str:
    if facts["baseline"] is None:
        return f"No `{BASELINE}` entry to compare with."
    rows = [[t.entry, t.workload, _fmt(t.time_ratio), _fmt(t.step_time_ratio), _fmt(t.steps_ratio),
             _fmt(t.step_cost_share, ".0%")] for t in facts["step_cost"].itertuples(index=False)]
    return (f"Against `{facts['baseline']}`, best trials (time ratio = s/step ratio x steps ratio):\n\n"
            + _table(["entry", "workload", "time ratio", "s/step ratio", "steps ratio",
                      "share from per-step cost"], rows))


def summary_section(board, facts: dict) -> str:
    """The analysis's figures in a few sentences (the tables below hold them all): the order with
    the pairs it does not separate, the agreement with AlgoPerf, and per entry the geometric mean
    over workloads of its seconds per step and steps to target against `nadamw`'s."""
    import numpy as np

    ranked = board.leaderboard.sort_values(["score", "entry"], ascending=[False, True])
    pairs, per_workload = facts["pairs"], facts["per_workload"]
    unseparated = [f"{p.a} / {p.b}" for p in pairs.itertuples(index=False) if not p.separated]
    shares = per_workload.dropna(subset=["share_separated"])
    lines = ["- Order: " + " > ".join(f"{e} {s:.2f}" for e, s in zip(ranked["entry"], ranked["score"]))
             + f"; {int(pairs['separated'].sum())} of {len(pairs)} pairs separated in the score"
             + (f" (not: {', '.join(unseparated)})." if unseparated else ".")]
    if len(shares):
        low, high = shares.loc[shares["share_separated"].idxmin()], shares.loc[shares["share_separated"].idxmax()]
        lines.append(f"- Per workload, {int(per_workload['separated'].sum())} of {int(per_workload['pairs'].sum())} "
                     f"pairs separated: from {low.share_separated:.0%} of the comparable pairs on `{low.workload}` "
                     f"to {high.share_separated:.0%} on `{high.workload}`.")
    for name, result in facts["fidelity"].items():
        if len(result["algorithms"]) >= 2:
            lines.append(f"- Against AlgoPerf's `{name}` ({len(result['algorithms'])} algorithms): Kendall tau "
                         f"{_tau(result)}; published orders we reverse: {_reversed(result)}.")
    if facts["baseline"] is not None:
        table, cells = facts["step_cost"], []
        for entry in ranked["entry"]:
            rows = table[table["entry"] == entry]
            if len(rows):
                step, steps = (float(np.exp(np.log(rows[c]).mean())) for c in ("step_time_ratio", "steps_ratio"))
                cells.append(f"{entry} {step:.2f}x the seconds per step, {steps:.2f}x the steps "
                             f"({len(rows)} workloads)")
        if cells:
            lines.append(f"- Against `{facts['baseline']}`, geometric mean over the workloads both met: "
                         + "; ".join(cells) + ".")
    return "\n".join(lines)


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
        if len(board.leaderboard) < 2:
            parts += [body, f"One entry in this ruleset ({', '.join(board.leaderboard['entry'])}): "
                            "no pair to separate, no order to compare with AlgoPerf's."]
            continue
        facts = board_analysis(board)
        parts += [body, "##### In short\n", summary_section(board, facts),
                  "\n##### Which entries it separates\n", separation_section(facts),
                  "\n##### Agreement with AlgoPerf\n", fidelity_section(facts),
                  "\n##### Per-step cost against steps to target\n", step_cost_section(facts)]
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
