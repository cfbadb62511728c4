"""The reference leaderboard: shipped baselines x base workloads x frameworks under a named protocol.

A leaderboard run is one study plan per submission (harness/study.py), all written into one output
folder, whose trials run in an order that keeps one workload's trials of every submission close
together in time (so that they share a host, whose speed drifts between days), through the same
executors as `tune`. It is resumable like `tune`: finished trials are skipped, interrupted ones
resume. `leaderboard.json` at the folder's root records the protocol and the command, and a second
run into the same folder must use the same protocol.

Protocols (docs/leaderboard.md):
- `quick`: each baseline's first search-space point (self-tuning baselines as they are) in 3
  studies that differ by seed: a development-sized run, labelled as such wherever it is reported,
  that fits a night on the reference machine in one framework.
- `full`: AlgoPerf's external tuning, 5 trials x 3 studies (self-tuning: 3 studies): for a cluster
  or a GPU machine.
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from harness import loader, study
from harness.backends import FRAMEWORKS
from harness.logs import atomic_write_json, read_json
from harness.study import Plan, PlanError
from harness.task import TrialTask, ruleset_of

LEADERBOARD_FILE = "leaderboard.json"
REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "submissions"


@dataclass(frozen=True)
class Protocol:
    """How many studies, and trials per study for externally tuned submissions."""

    name: str
    studies: int
    external_trials: int
    summary: str

    def trials_for(self, ruleset: str) -> int:
        return 1 if ruleset == "self" else self.external_trials


PROTOCOLS = {
    "quick": Protocol("quick", studies=3, external_trials=1,
                      summary="each baseline's first search-space point (self-tuning baselines as "
                              "they are), 3 studies; development-sized (the rules ask for 5 "
                              "trials per study)"),
    "tiny": Protocol("tiny", studies=2, external_trials=1,
                     summary="each baseline's first search-space point, 2 studies: for tests and a "
                             "first look (development-sized; two studies say little about noise)"),
    "full": Protocol("full", studies=3, external_trials=5,
                     summary="external tuning as AlgoPerf runs it: 5 trials x 3 studies "
                             "(self-tuning: 3 studies)"),
}


def shipped_baselines(root: Path = SHIPPED) -> list[Path]:
    """Every baseline package under submissions/: a folder with a submission module."""
    return sorted(p for p in root.iterdir()
                  if p.is_dir() and any(loader.module_path(p, f).exists() for f in FRAMEWORKS))


@dataclass
class LeaderboardPlan:
    """One study plan per submission under one protocol, run as one list of trials."""

    protocol: Protocol
    out: Path
    plans: list[Plan]

    @property
    def tasks(self) -> list[TrialTask]:
        """Every plan's trials, workload by workload (in the order the workloads were given),
        then study by study, every submission and framework of a (workload, study) side by side:
        an interrupted run has whole workloads done, and one workload's trials meet one host."""
        workloads = list(dict.fromkeys(w for p in self.plans for w in p.workloads))
        submissions = [p.submission_dir for p in self.plans]
        frameworks = list(FRAMEWORKS)
        tasks = [t for p in self.plans for t in p.tasks]
        return sorted(tasks, key=lambda t: (workloads.index(t.workload), t.study, t.trial,
                                            submissions.index(t.submission_dir),
                                            frameworks.index(t.framework)))

    def describe(self) -> str:
        names = ", ".join(Path(p.submission_dir).name for p in self.plans)
        first = self.plans[0]
        return (f"{len(self.tasks)} trials, protocol {self.protocol.name} "
                f"({self.protocol.summary}): {names} on {', '.join(first.workloads)} in "
                f"{'/'.join(first.frameworks)}")

    def write(self) -> Path:
        """Write every plan's plan.json, and OUT/leaderboard.json: the protocol and every
        invocation. Another protocol into the same folder is refused (PlanError): its trials
        would be scored as one leaderboard."""
        path = self.out / LEADERBOARD_FILE
        recorded = read_json(path) if path.exists() else {
            "format": 1, "protocol": asdict(self.protocol), "invocations": []}
        if recorded["protocol"]["name"] != self.protocol.name:
            raise PlanError(f"{path}: this folder holds the {recorded['protocol']['name']!r} "
                            f"protocol; use --protocol {recorded['protocol']['name']} or another --out")
        for plan in self.plans:
            study.write_plan(plan)
        recorded["invocations"].append({
            "command": " ".join(sys.argv), "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "submissions": [Path(p.submission_dir).name for p in self.plans],
            "workloads": self.plans[0].workloads, "frameworks": self.plans[0].frameworks})
        atomic_write_json(path, recorded)
        return path


def build(submissions: Sequence[str | Path], workloads: Sequence[str], frameworks: Sequence[str],
          protocol: Protocol, out: str | Path, *, base_seed: int = 0, data_dir: str | None = None,
          load_modules: bool = True) -> LeaderboardPlan:
    """One plan per submission, each checked before anything runs (study.build_plan); trials
    keep no checkpoint once they end (a leaderboard folder is kept, its checkpoints are not)."""
    if not submissions:
        raise PlanError("no submission given; name packages with --submissions")
    plans = []
    for submission in submissions:
        ruleset = ruleset_of(submission)
        plans.append(study.build_plan(
            submission, workloads, frameworks, out=out, ruleset=ruleset, studies=protocol.studies,
            trials=protocol.trials_for(ruleset), base_seed=base_seed, data_dir=data_dir,
            keep_checkpoint=False, load_modules=load_modules, protocol=protocol.name))
    return LeaderboardPlan(protocol, Path(out).resolve(), plans)


def read_protocol(out: str | Path) -> Protocol | None:
    """The protocol a leaderboard folder was run under, or None for a folder of other trials."""
    path = Path(out) / LEADERBOARD_FILE
    return Protocol(**read_json(path)["protocol"]) if path.exists() else None


# -- scoring a leaderboard folder, and comparing one with another ------------------------------
def score(results, *, normalize: bool = False, **options) -> list:
    """Every ruleset's per-framework scoreboards (scoring.leaderboard.score_frameworks). Times are
    as measured unless `normalize` (reference-host seconds): a leaderboard runs each workload's
    trials together on one host, and a score compares times within a workload only, so a common
    host factor cancels, while dividing each trial by its own calibration would add that
    calibration's error (docs/scoring.md#how-well-normalization-works). Speedups are marked
    against the recorded noise (scoring/noise.json), as `algobench score` marks them, unless
    `noise` is given."""
    from scoring.leaderboard import score_frameworks
    from scoring.noise import load_noise

    trials = results.trials
    options.setdefault("noise", load_noise())
    return [board for ruleset in sorted(trials["ruleset"].unique())
            for board in score_frameworks(results, ruleset=ruleset, normalize=normalize, **options)]


def write_outputs(out: str | Path, boards: list, results) -> list[Path]:
    """OUT/trials.csv (one row per trial), and per ruleset OUT/scores/<ruleset>/: the tables, the
    profile and curve plots, and report.html (scoring.report.write_report)."""
    from scoring.report import write_report

    out = Path(out)
    columns = [c for c in results.trials.columns if c not in ("error",)]
    results.trials[columns].to_csv(out / "trials.csv", index=False)
    written = [out / "trials.csv"]
    for ruleset in dict.fromkeys(b.ruleset for b in boards):
        mine = [b for b in boards if b.ruleset == ruleset]
        written.append(write_report(mine, out / "scores" / ruleset, results=results))
    return written


COMPARE_COLUMNS = ["ruleset", "framework", "entry", "workload", "reference_time", "reference_low",
                   "reference_high", "time", "ratio", "inside", "host_factor", "normalization"]


def compare(reference, reproduction, *, anchor: str | None = None, **options):
    """How a reproduction agrees with a reference leaderboard (both `scoring.tables.Results`).

    The reproduction's times are first put on the reference's hosts, workload by workload: divided
    by the host factor of their (framework, workload) (`scoring.hosts.host_factors`: the `anchor`
    submission, default the reference baseline `scoring.hosts.ANCHOR`: its seconds per step here
    over the reference's where both ran it; else the host calibrations' ratio). The reference stays as measured: it ran each workload on one host.
    Per (ruleset, framework, entry, workload) the reproduction has: the reference's median time
    and bootstrap interval, the reproduction's median, their ratio, whether the reproduction falls
    inside the interval, and the host factor with how it was found. Per entry: its score in the
    reference, and its score when the reproduction's trials replace the reference's for the cells
    it ran (an entry the reference does not have, a new submission, is scored against the
    reference's others).

    Returns (cells, scores): two pandas DataFrames."""
    import pandas as pd

    from scoring.hosts import ANCHOR, host_factors, on_reference_hosts
    from scoring.tables import Results

    factors = host_factors(reference.trials, reproduction.trials, anchor or ANCHOR)
    trials, curves = on_reference_hosts(reproduction.trials, reproduction.curves, factors)
    reproduction = Results(trials=trials, curves=curves, problems=reproduction.problems,
                           invocations=reproduction.invocations)
    ref_boards = score(reference, **options)
    rep_boards = score(reproduction, **options)
    key = ["ruleset", "framework", "entry", "workload"]

    def times(boards):
        return pd.concat([b.workload_times.assign(ruleset=b.ruleset, framework=b.scope)
                          for b in boards], ignore_index=True)

    ref, rep = times(ref_boards), times(rep_boards)
    cells = rep[key + ["time"]].merge(
        ref[key + ["time", "time_ci_low", "time_ci_high"]].rename(columns={
            "time": "reference_time", "time_ci_low": "reference_low",
            "time_ci_high": "reference_high"}), on=key, how="left")
    cells["ratio"] = cells["time"] / cells["reference_time"]
    cells["inside"] = ((cells["time"] >= cells["reference_low"])
                       & (cells["time"] <= cells["reference_high"]))
    # a cell that neither solved agrees: both infinite
    unsolved = ~np.isfinite(cells["time"]) & ~np.isfinite(cells["reference_time"])
    cells.loc[unsolved, "inside"] = True
    cells = cells.merge(factors, on=["framework", "workload"], how="left")

    cell_key = ["submission", "ruleset", "framework", "workload"]
    replaced = reproduction.trials[cell_key].drop_duplicates()
    kept = reference.trials.merge(replaced, on=cell_key, how="left", indicator=True)
    kept = kept[kept["_merge"] == "left_only"].drop(columns="_merge")
    merged = Results(
        trials=pd.concat([kept, reproduction.trials], ignore_index=True),
        curves=pd.concat([reference.curves, reproduction.curves], ignore_index=True),
        problems=pd.concat([reference.problems, reproduction.problems], ignore_index=True),
        invocations=pd.concat([reference.invocations, reproduction.invocations], ignore_index=True))
    merged_boards = score(merged, **options)

    def scores(boards):
        return pd.concat([b.leaderboard[["entry", "score", "score_ci_low", "score_ci_high"]]
                         .assign(ruleset=b.ruleset, framework=b.scope) for b in boards])

    ref_scores = scores(ref_boards).rename(columns={
        "score": "reference_score", "score_ci_low": "reference_low", "score_ci_high": "reference_high"})
    new_entries = set(zip(rep["ruleset"], rep["framework"], rep["entry"]))
    table = scores(merged_boards).merge(ref_scores, on=["ruleset", "framework", "entry"], how="left")
    table = table[[k in new_entries for k in zip(table["ruleset"], table["framework"], table["entry"])]]
    table["difference"] = table["score"] - table["reference_score"]
    return cells[COMPARE_COLUMNS].reset_index(drop=True), table.reset_index(drop=True)


NORMALIZATIONS = {  # how a cell's host factor was found (scoring.hosts.host_factors), in words
    "anchor": "the anchor's (the reference baseline's) seconds per step here over the reference's",
    "calibration": "the host calibrations' ratio",
    "as measured": "none: no anchor run and no calibration on both sides, times as measured",
}


def compare_text(cells, scores, error_notes: dict[str, str]) -> str:
    """The compare mode's report: per cell inside/outside, per entry the score difference; the
    reproduction's times on the reference's hosts, each cell's host factor and how it was found,
    with that method's measured error (`error_notes`, from `normalization_notes`)."""
    methods = list(dict.fromkeys(cells["normalization"]))
    lines = ["times in seconds of the reference's host of each workload: the reproduction's divided "
             "by that workload's host factor"]
    lines += [f"  host factor by {NORMALIZATIONS[m]} ({error_notes.get(m, 'error: not measured')})"
              if m != "as measured" else f"  host factor 1: {NORMALIZATIONS[m]}" for m in methods]
    for row in cells.itertuples(index=False):
        verdict = "inside" if row.inside else "OUTSIDE"
        lines.append(
            f"  {row.framework} {row.entry} on {row.workload}: {row.time:.3g} against reference "
            f"{row.reference_time:.3g} [{row.reference_low:.3g}, {row.reference_high:.3g}]: "
            f"{verdict} (ratio {row.ratio:.3f}; host factor {row.host_factor:.3f}, {row.normalization})")
    agree = int(cells["inside"].sum())
    lines.append(f"{agree} of {len(cells)} cells inside the reference's interval")
    for row in scores.itertuples(index=False):
        ref = "new entry" if np.isnan(row.reference_score) else (
            f"reference {row.reference_score:.3f} [{row.reference_low:.3f}, {row.reference_high:.3f}]"
            f", difference {row.difference:+.3f}")
        lines.append(f"  score {row.framework} {row.entry}: {row.score:.3f} with the reproduction ({ref})")
    return "\n".join(lines)


NORMALIZATION_FILE = REPO / "scoring" / "normalization.json"


def normalization_notes(path: Path = NORMALIZATION_FILE) -> dict[str, str]:
    """The measured error of each way of normalizing hosts (`anchor`, `calibration`), as
    benchmarks/normalization_error.py records it; a method without a record has no note."""
    if not path.exists():
        return {}
    notes = {}
    for method, record in read_json(path).items():
        notes[method] = (f"error measured on {record['what']}: median {record['median_abs_error']:.1%}, "
                         f"largest {record['max_abs_error']:.1%} over {record['trials']} pairs "
                         f"({record['configurations']})")
    return notes
