"""docs/performance.md's table of where real trials' wall time went, from the trial logs of
leaderboard runs (each trial's meta.json `final` accounts, docs/log_format.md), so that the
harness's own share is read from the trials the leaderboard scores, not from a short benchmark.

    .venv/bin/python scripts/accounts_table.py                    # print the table of RECORDED
    .venv/bin/python scripts/accounts_table.py --write            # put it in docs/performance.md
    .venv/bin/python scripts/accounts_table.py --check            # exit 1 if the doc differs (CI)
    .venv/bin/python scripts/accounts_table.py results/leaderboard  # any folders of trials

A trial's wall time here is its `total_duration`: the sum of its accounts (submission, eval,
setup, checkpoint, logging, other), from the first line of the runner to the last; the process's
launch and imports before it are not timed by the harness (the host calibration is in setup).
One row per folder, workload and framework, over every trial that ran steps: the median share of
each account, and of the harness's own accounts together (setup, checkpoint, logging and other:
issue 28's goal is under 3%) its median and largest. Evaluation is reported apart: issue 20 bounds it (15%).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository's packages

from algobench.doc_sections import write_or_check  # noqa: E402
from harness.logs import TIME_ACCOUNTS, CorruptLogError, find_trial_folders, read_json  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "performance.md"
START, END = "<!-- trial accounts table: start -->", "<!-- trial accounts table: end -->"
# the leaderboard runs, and stop 47's trials before and after the hand-off in a memory file
RECORDED = ["docs/data/pilot", "reference_results", "docs/data/trials_stop47", "docs/data/trials_stop47_after",
            "docs/data/trials_stop48"]
SHOWN = TIME_ACCOUNTS  # every account of a trial's ledger (harness/clock.py)
HARNESS = tuple(a for a in SHOWN if a not in ("submission", "eval"))  # the harness's own


def trial_accounts(folder: Path) -> dict | None:
    """(workload, framework, {account: seconds}) of one trial folder; None when it ran no step."""
    meta = read_json(folder / "meta.json")
    final = meta.get("final") or {}
    if not final.get("global_step") or not final.get("total_duration"):
        return None
    return {"workload": meta["workload"], "framework": meta["framework"],
            "seconds": {a: float(final[f"accumulated_{a}_time"]) for a in SHOWN},
            "total": float(final["total_duration"])}


def rows(root: Path) -> list[dict]:
    """One row per (workload, framework) of the trials under `root`."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for folder in find_trial_folders(root):
        try:
            trial = trial_accounts(folder)
        except (CorruptLogError, KeyError) as err:
            sys.exit(f"{folder}: unreadable trial log ({err}); leave it out of the folders given")
        if trial:
            groups.setdefault((trial["workload"], trial["framework"]), []).append(trial)
    out = []
    for (workload, framework), trials in sorted(groups.items()):
        shares = {a: [t["seconds"][a] / t["total"] for t in trials] for a in SHOWN}
        harness = [sum(t["seconds"][a] for a in HARNESS) / t["total"] for t in trials]
        out.append({"workload": workload, "framework": framework, "trials": len(trials),
                    "wall": statistics.median(t["total"] for t in trials),
                    "shares": {a: statistics.median(v) for a, v in shares.items()},
                    "harness": statistics.median(harness), "harness_max": max(harness)})
    return out


def table(roots: list[Path]) -> str:
    """The markdown table over the folders `roots`, in order."""
    def pct(x: float) -> str:
        return f"{100 * x:.1f}%"

    lines = ["| folder | workload | framework | trials | median wall time | "
             + " | ".join(f"{a} share" for a in SHOWN)
             + " | harness's own share (" + " + ".join(HARNESS) + "), median [largest] |",
             "|---|---|---|---|---|" + "---|" * (len(SHOWN) + 1)]
    for root in roots:
        name = root.resolve().relative_to(REPO) if root.resolve().is_relative_to(REPO) else root
        for r in rows(root):
            lines.append(f"| `{name}` | `{r['workload']}` | {r['framework']} | {r['trials']} | "
                         f"{r['wall']:.0f} s | " + " | ".join(pct(r["shares"][a]) for a in SHOWN)
                         + f" | {pct(r['harness'])} [{pct(r['harness_max'])}] |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="*", help="folders of trial logs (default: the recorded "
                                                   "leaderboard runs that exist, RECORDED)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help=f"replace the table in {DOC.name}")
    mode.add_argument("--check", action="store_true", help=f"exit 1 if {DOC.name} differs")
    args = parser.parse_args(argv)
    roots = [Path(f) for f in args.folders] or [REPO / f for f in RECORDED if (REPO / f).is_dir()]
    for root in roots:
        if not root.is_dir():
            sys.exit(f"{root}: no such folder; give folders of trial logs (an `algobench leaderboard --out`)")
    body = table(roots)
    if not (args.write or args.check):
        print(body)
        return 0
    source = " ".join(str(r) for r in roots)
    return write_or_check(DOC, body, START, END, write=args.write, what="trial accounts table",
                          source=source, fix="scripts/accounts_table.py --write")


if __name__ == "__main__":
    sys.exit(main())
