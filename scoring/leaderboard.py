"""Score one ruleset of a set of results: the leaderboard and the tables behind it.

`score_results` turns the trials of one ruleset into per-study best times, per-workload medians,
ratios, profiles and scores (scoring/profiles.py), with bootstrap intervals and timing noise
(scoring/bootstrap.py) and a list of everything missing, failed or excluded
(scoring/completeness.py). An entry of the leaderboard is a submission in one framework; it is
named after the submission, with the framework added in parentheses when the logs hold that
submission in more than one framework.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from scoring.bootstrap import (
    CONFIDENCE,
    N_BOOTSTRAP,
    bootstrap_medians,
    interval,
    pairwise_comparisons,
    timing_noise,
)
from scoring.completeness import RunSize, excluded_trial_problems, missing_problems, problems_table, run_size
from scoring.profiles import (
    TAU_MAX,
    apply_variant_rule,
    base_workloads,
    benchmark_scores,
    geometric_mean_speedups,
    performance_ratios,
    profile_steps,
)
from scoring.tables import Results, problem
from scoring.time_to_target import best_trials, study_time_array


class ScoringInputError(ValueError):
    """The results cannot be scored as asked (no trials, an unknown ruleset or baseline)."""


@dataclass(frozen=True)
class Scoreboard:
    """Everything `score_results` computes for one ruleset.

    Attributes:
      ruleset: `external` or `self`.
      run: the run's size against the rules (its `label` goes into every output).
      settings: tau_max, variant_rule, baseline, n_bootstrap, seed, confidence.
      leaderboard: one row per entry, best score first.
      workload_times: one row per (entry, workload): median time, interval, ratio, noise.
      profile: the corners (tau, rho) of every entry's performance profile.
      pairwise: every pair of entries on every workload: time ratio, interval, verdict.
      problems: everything missing, failed, corrupt, duplicated or excluded.
      trials: the ruleset's trials, with their `entry` and `study_best` (the trial that sets its
        study's time).
      curves: the ruleset's training curves, with their `entry`.
      workloads: every workload with logs (variants included); scored_workloads: those in the score.
      notes: one line each: the run size, the score's definition, the bootstrap, the noise, ...
    """

    ruleset: str
    run: RunSize
    settings: dict
    leaderboard: pd.DataFrame
    workload_times: pd.DataFrame
    profile: pd.DataFrame
    pairwise: pd.DataFrame
    problems: pd.DataFrame
    trials: pd.DataFrame
    curves: pd.DataFrame
    workloads: list[str]
    scored_workloads: list[str]
    notes: list[str]


def entry_names(trials: pd.DataFrame) -> pd.Series:
    """Entry name per trial: the submission, plus ` (framework)` if it ran in several frameworks."""
    frameworks = trials.groupby("submission")["framework"].nunique()
    several = trials["submission"].map(frameworks) > 1
    with_framework = trials["submission"] + " (" + trials["framework"] + ")"
    return with_framework.where(several, trials["submission"])


def choose_ruleset(trials: pd.DataFrame, ruleset: str | None) -> str:
    """The ruleset to score: the one asked for, or the only one present."""
    present = sorted(trials["ruleset"].unique())
    if ruleset is None:
        if len(present) != 1:
            raise ScoringInputError(
                f"the results hold rulesets {', '.join(present)}; pass --ruleset "
                + " or --ruleset ".join(present))
        return present[0]
    if ruleset not in present:
        raise ScoringInputError(
            f"no {ruleset} trials in the results (they hold {', '.join(present)}); pass --ruleset "
            f"{present[0]}"
        )
    return ruleset


def inconsistent_workloads(trials: pd.DataFrame) -> list[dict]:
    """A problem row for every workload whose trials ran under different targets or budgets."""
    columns = ["base_workload", "target_metric", "lower_is_better", "validation_target", "budget_sec"]
    out = []
    for workload, group in trials.groupby("workload", sort=True):
        settings = group[columns].drop_duplicates()
        if len(settings) > 1:
            values = "; ".join(
                ", ".join(f"{c}={v}" for c, v in zip(columns, row))
                for row in settings.itertuples(index=False)
            )
            out.append(problem("inconsistent", f"trials ran under different settings: {values}",
                               workload=workload, ruleset=group["ruleset"].iloc[0]))
    return out


def _noise_note(noise: np.ndarray, entries: list[str], workloads: list[str]) -> str:
    finite = np.isfinite(noise)
    if not finite.any():
        return "timing noise: not measured (no workload was solved in two or more studies)"
    worst = np.unravel_index(np.nanargmax(noise), noise.shape)
    return (
        "timing noise: study-to-study coefficient of variation of the time to target, median "
        f"{np.nanmedian(noise):.1%} over {int(finite.sum())} (entry, workload) cells, max "
        f"{noise[worst]:.1%} ({entries[worst[0]]} on {workloads[worst[1]]})"
    )


def score_results(
    results: Results,
    ruleset: str | None = None,
    variant_rule: bool = False,
    baseline: str | None = None,
    tau_max: float = TAU_MAX,
    n_bootstrap: int = N_BOOTSTRAP,
    seed: int = 0,
    confidence: float = CONFIDENCE,
) -> Scoreboard:
    """Score the trials of one ruleset.

    Args:
      results: what `scoring.tables.load_results` read.
      ruleset: `external` or `self`; None scores the only ruleset present.
      variant_rule: apply the AlgoPerf v0.5 variant rule (scoring/profiles.py:apply_variant_rule).
      baseline: an entry (or submission) name; adds the geometric-mean speedup over it.
      tau_max: ratios above it count as unsolved; the profile is integrated on [1, tau_max].
      n_bootstrap, seed, confidence: the bootstrap over studies.

    Raises:
      ScoringInputError: no readable trials, the ruleset is absent, or the baseline is unknown.
    """
    if results.trials.empty:
        raise ScoringInputError("no readable trial logs")
    ruleset = choose_ruleset(results.trials, ruleset)
    trials = results.trials[results.trials["ruleset"] == ruleset].copy()
    trials.insert(0, "entry", entry_names(trials))
    winners = best_trials(trials)
    winners = winners[np.isfinite(winners["scored_time"])]
    key = ["entry", "workload", "study", "trial"]
    trials["study_best"] = pd.MultiIndex.from_frame(trials[key]).isin(pd.MultiIndex.from_frame(winners[key]))
    entries_table = (
        trials[["entry", "submission", "ruleset", "framework"]].drop_duplicates().sort_values("entry")
    )
    entries = entries_table["entry"].tolist()
    studies = sorted(trials["study"].unique().tolist())
    trial_ids = sorted(trials["trial"].unique().tolist())
    base_of = {w: b for w, b in zip(trials["workload"], trials["base_workload"]) if b}
    workloads = sorted(set(trials["workload"]) | (set(base_of.values()) if variant_rule else set()))
    if baseline is not None:
        by_submission = entries_table.loc[entries_table["submission"] == baseline, "entry"].tolist()
        if baseline not in entries and len(by_submission) == 1:
            baseline = by_submission[0]
        if baseline not in entries:
            raise ScoringInputError(f"baseline {baseline!r} is not an entry; entries: {', '.join(entries)}")
    run = run_size(ruleset, studies, trial_ids)

    def scored(t: np.ndarray) -> np.ndarray:
        """The times that enter the score (the variant rule applied when it is on)."""
        return apply_variant_rule(t, workloads, base_of, tau_max)[0] if variant_rule else t

    scored_workloads = base_workloads(workloads, base_of) if variant_rule else list(workloads)

    # Point estimates, then the same statistics on every bootstrap replicate.
    study_times = study_time_array(trials, entries, workloads, studies)
    times = np.median(study_times, axis=-1)
    ratios = performance_ratios(scored(times), tau_max)
    reps = bootstrap_medians(study_times, entries, workloads, n_bootstrap, seed)
    rep_scores = benchmark_scores(performance_ratios(scored(reps), tau_max), tau_max)
    noise = timing_noise(study_times)

    board = pd.DataFrame({
        "entry": entries,
        "submission": entries_table["submission"].tolist(),
        "framework": entries_table["framework"].tolist(),
        "score": benchmark_scores(ratios, tau_max),
        **dict(zip(["score_ci_low", "score_ci_high"], interval(rep_scores, confidence))),
        "solved": np.isfinite(ratios).sum(axis=-1),
        "workloads": len(scored_workloads),
        "noise_cv_median": [np.nan if np.isnan(row).all() else np.nanmedian(row) for row in noise],
    })
    if baseline is not None:
        b = entries.index(baseline)
        board["speedup_vs_baseline"] = geometric_mean_speedups(scored(times), b, tau_max)
        low, high = interval(geometric_mean_speedups(scored(reps), b, tau_max), confidence)
        board["speedup_ci_low"], board["speedup_ci_high"] = low, high
    board = board.sort_values(["score", "entry"], ascending=[False, True], kind="mergesort")
    board.insert(0, "rank", board["score"].rank(method="min", ascending=False).astype(int))
    board = board.reset_index(drop=True)

    time_low, time_high = interval(reps, confidence)
    own_ratios = performance_ratios(times, tau_max)
    score_ratio = {
        (e, w): ratios[i, j] for i, e in enumerate(entries) for j, w in enumerate(scored_workloads)
    }
    workload_times = pd.DataFrame([
        {
            "entry": e, "workload": w, "base_workload": base_of.get(w, ""),
            "studies": len(studies), "studies_solved": int(np.isfinite(study_times[i, j]).sum()),
            "time": times[i, j], "time_ci_low": time_low[i, j], "time_ci_high": time_high[i, j],
            "ratio": own_ratios[i, j], "score_ratio": score_ratio.get((e, w), math.nan),
            "noise_cv": noise[i, j],
            "study_times": " ".join(f"{t:.6g}" for t in study_times[i, j]),
        }
        for i, e in enumerate(entries) for j, w in enumerate(workloads)
    ])

    profile = pd.DataFrame(
        [{"entry": e, "tau": tau, "rho": rho}
         for i, e in enumerate(entries) for tau, rho in profile_steps(ratios[i], tau_max)],
        columns=["entry", "tau", "rho"],
    )
    pairwise = pairwise_comparisons(times, reps, entries, workloads, len(studies), confidence)

    problem_rows = results.problems[results.problems["ruleset"].isin(["", ruleset])].to_dict("records")
    problem_rows += excluded_trial_problems(trials)
    problem_rows += missing_problems(trials, entries_table, workloads, studies, trial_ids)
    problem_rows += inconsistent_workloads(trials)
    problems = problems_table(problem_rows)

    curves = results.curves[results.curves["ruleset"] == ruleset].merge(
        trials[["entry", "submission", "framework", "workload", "study", "trial"]],
        on=["submission", "framework", "workload", "study", "trial"],
    )

    notes = [
        run.label,
        f"score: exact area under the performance profile on [1, {tau_max:g}] divided by "
        f"{tau_max - 1:g}; ratios above {tau_max:g} count as unsolved",
        f"{confidence:.0%} intervals: percentile bootstrap over studies "
        f"({n_bootstrap} replicates, seed {seed})"
        + ("; with one study they have zero width and say nothing about noise" if len(studies) < 2 else ""),
        _noise_note(noise, entries, workloads),
    ]
    if variant_rule:
        variants = sorted(w for w in workloads if w in base_of)
        notes.append(
            "variant rule on: a base workload counts as unsolved where any of its variants is; "
            f"variants not scored on their own: {', '.join(variants) or 'none'}"
        )
    if baseline is not None:
        notes.append(f"speedup: geometric mean of t[{baseline}] / t[entry] over the workloads both solve")
    if len(problems):
        counts = problems["kind"].value_counts().sort_index()
        notes.append(
            "problems (listed below and in problems.csv; missing, failed, diverged, unfinished, "
            "corrupt and over-budget trials count as unsolved): "
            + ", ".join(f"{n} {kind}" for kind, n in counts.items())
        )
    settings = dict(tau_max=tau_max, variant_rule=variant_rule, baseline=baseline,
                    n_bootstrap=n_bootstrap, seed=seed, confidence=confidence)
    return Scoreboard(
        ruleset=ruleset, run=run, settings=settings, leaderboard=board, workload_times=workload_times,
        profile=profile, pairwise=pairwise, problems=problems, trials=trials, curves=curves,
        workloads=list(workloads), scored_workloads=list(scored_workloads), notes=notes,
    )


# ---------------------------------------------------------------------------------------------
# Formatting


def _fmt(value: float, spec: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if math.isinf(value):
        return "inf"
    return format(value, spec)


def display_rows(board: Scoreboard) -> tuple[list[str], list[list[str]]]:
    """The leaderboard as strings for people: (headers, rows)."""
    level = f"{board.settings['confidence']:.0%} CI"
    headers = ["rank", "entry", "framework", "score", level, "solved", "noise CV"]
    baseline = board.settings["baseline"]
    if baseline is not None:
        headers += [f"speedup vs {baseline}", "speedup CI"]
    rows = []
    for r in board.leaderboard.itertuples(index=False):
        row = [str(r.rank), r.entry, r.framework, _fmt(r.score, ".4f"),
               f"[{_fmt(r.score_ci_low, '.4f')}, {_fmt(r.score_ci_high, '.4f')}]",
               f"{r.solved}/{r.workloads}", _fmt(r.noise_cv_median, ".1%")]
        if baseline is not None:
            row += [_fmt(r.speedup_vs_baseline, ".3f") + "x",
                    f"[{_fmt(r.speedup_ci_low, '.3f')}, {_fmt(r.speedup_ci_high, '.3f')}]"]
        rows.append(row)
    return headers, rows


def title(board: Scoreboard) -> str:
    """E.g. 'algobench leaderboard: external tuning (development run: 1 study x 2 trials; ...)'."""
    ruleset = {"external": "external tuning", "self": "self-tuning"}.get(board.ruleset, board.ruleset)
    return f"algobench leaderboard: {ruleset} ({board.run.label})"


def leaderboard_text(board: Scoreboard, max_problems: int | None = 20) -> str:
    """The leaderboard for a terminal: title, aligned table, notes, and the problems."""
    headers, rows = display_rows(board)
    widths = [max(len(x) for x in column) for column in zip(headers, *rows)]
    lines = [title(board), ""]
    for row in [headers, *rows]:
        lines.append("  ".join(x.ljust(w) for x, w in zip(row, widths)).rstrip())
    lines += [""] + [f"- {note}" for note in board.notes]
    shown = board.problems if max_problems is None else board.problems.head(max_problems)
    for p in shown.itertuples(index=False):
        lines.append(f"  {p.kind}: {problem_text(p)}")
    if len(shown) < len(board.problems):
        lines.append(f"  ... {len(board.problems) - len(shown)} more in problems.csv")
    return "\n".join(lines) + "\n"


def problem_where(p) -> str:
    """Where a problem is: its path, else its submission/ruleset/framework/workload/study/trial."""
    if p.path:
        return p.path
    parts = [p.submission, p.ruleset, p.framework, p.workload]
    parts += [f"study_{p.study}" if p.study else "", f"trial_{p.trial}" if p.trial else ""]
    return "/".join(x for x in parts if x)


def problem_text(p) -> str:
    """'where: message', or the message alone when it already starts with the path."""
    where = problem_where(p)
    return p.message if p.message.startswith(where) else f"{where}: {p.message}"


def markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    """A GitHub-flavoured Markdown table ('|' in cells escaped)."""
    def line(cells):
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"
    return "\n".join([line(headers), line(["---"] * len(headers)), *map(line, rows)]) + "\n"


def leaderboard_markdown(board: Scoreboard) -> str:
    """The leaderboard as Markdown: title, table, notes, problems."""
    headers, rows = display_rows(board)
    parts = [f"# {title(board)}\n", markdown_table(headers, rows)]
    parts.append("".join(f"- {note}\n" for note in board.notes))
    if len(board.problems):
        parts.append("## Problems\n\n" + "".join(
            f"- {p.kind}: {problem_text(p)}\n" for p in board.problems.itertuples(index=False)))
    return "\n".join(parts)


TABLE_FILES = {
    "leaderboard.csv": "leaderboard",
    "workload_times.csv": "workload_times",
    "profile.csv": "profile",
    "pairwise.csv": "pairwise",
    "problems.csv": "problems",
    "trials.csv": "trials",
}


def write_tables(board: Scoreboard, out: Path | str) -> list[Path]:
    """Write the CSV tables and leaderboard.md under `out`; every CSV has a `run` column.

    Returns the paths written. The files depend only on the logs and the settings, so scoring
    the same logs twice writes byte-identical files.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, attribute in TABLE_FILES.items():
        table = getattr(board, attribute).copy()
        table["run"] = board.run.label
        path = out / name
        table.to_csv(path, index=False, lineterminator="\n")
        written.append(path)
    path = out / "leaderboard.md"
    path.write_text(leaderboard_markdown(board), encoding="utf-8")
    written.append(path)
    return written
