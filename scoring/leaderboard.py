"""Score one ruleset of a set of results: the leaderboard and the tables behind it.

`score_results` turns the trials of one ruleset and one scope into per-study best times,
per-workload medians, ratios, profiles and scores (scoring/profiles.py), with bootstrap intervals
and timing noise (scoring/bootstrap.py) and a list of everything missing, failed or excluded
(scoring/completeness.py). A scope is one framework (the default: frameworks are different
hardware-software stacks, so PyTorch and JAX entries are ranked each among their own) or, only on
request, `cross-framework` (every entry in one profile, labelled as such). `score_frameworks`
returns one scoreboard per framework, or the single cross-framework one.

An entry of the leaderboard is a submission in one framework; it is named after the submission,
with the framework added in parentheses when the scope holds that submission in more than one
framework (cross-framework only).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from scoring.bootstrap import (CONFIDENCE, N_BOOTSTRAP, bootstrap_medians, interval,
                               pairwise_comparisons, timing_noise)
from scoring.completeness import excluded_trial_problems, missing_problems, problems_table, run_size
from scoring.hosts import calibration_note, host_problems, normalized_trials
from scoring.noise import (NoiseRecord, max_or_none, measured_noise_note, noise_mark, noise_of,
                           speedup_noise_mark)
from scoring.profiles import (TAU_MAX, apply_variant_rule, base_workloads, benchmark_scores,
                              geometric_mean_speedups, performance_ratios, profile_steps)
from scoring.scoreboard import CROSS, Scoreboard, ScoringInputError
from scoring.tables import Results, problem
from scoring.time_to_target import best_trials, study_time_array


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
    columns = ["base_workload", "target_metric", "lower_is_better", "validation_target",
               "reference_budget_sec"]
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


def resolve_baseline(entries_table: pd.DataFrame, baseline: str) -> str | None:
    """The entry a baseline name means: the entry itself, or a submission with one entry here."""
    entries = entries_table["entry"].tolist()
    if baseline in entries:
        return baseline
    by_submission = entries_table.loc[entries_table["submission"] == baseline, "entry"].tolist()
    return by_submission[0] if len(by_submission) == 1 else None


def first_eval_warnings(winners: pd.DataFrame, entries: list[str]) -> list[str]:
    """A warning for every workload where every entry reached the target at its first eval."""
    out = []
    for workload, group in winners.groupby("workload", sort=True):
        reached = group[np.isfinite(group["scored_time"])]
        if set(reached["entry"]) == set(entries) and (reached["target_eval"] == 1).all():
            out.append(
                f"warning: on {workload} every entry reached the target at its first eval: the "
                "times measure the eval period, not the algorithms; a harder target or a finer "
                "eval schedule is needed to rank them")
    return out


def score_frameworks(
    results: Results,
    ruleset: str | None = None,
    cross_framework: bool = False,
    baseline: str | None = None,
    **options,
) -> list[Scoreboard]:
    """One scoreboard per framework in the results (the default), or one cross-framework board.

    `baseline` is resolved in each framework's board (a submission name names its entry there);
    a framework without it gets no speedup and a note saying so. `options` go to `score_results`.

    Raises:
      ScoringInputError: as `score_results`, or the baseline is in no board.
    """
    if results.trials.empty:
        raise ScoringInputError("no readable trial logs")
    ruleset = choose_ruleset(results.trials, ruleset)
    trials = results.trials[results.trials["ruleset"] == ruleset]
    scopes = [CROSS] if cross_framework else sorted(trials["framework"].unique())
    boards = []
    for scope in scopes:
        in_scope = trials if scope == CROSS else trials[trials["framework"] == scope]
        table = in_scope[["submission", "framework"]].drop_duplicates()
        table = table.assign(entry=entry_names(table))
        here = baseline if baseline is None else resolve_baseline(table, baseline)
        boards.append(score_results(results, ruleset=ruleset, framework=scope, baseline=here, **options))
        if baseline is not None and here is None:
            boards[-1].notes.append(f"no speedup: baseline {baseline!r} has no entry in {scope}")
    if baseline is not None and all(b.settings["baseline"] is None for b in boards):
        entries = sorted({e for b in boards for e in b.leaderboard["entry"]})
        hint = " (with --cross-framework name one entry, e.g. 'nadamw (pytorch)')" if cross_framework else ""
        raise ScoringInputError(f"baseline {baseline!r} is not an entry; entries: {', '.join(entries)}{hint}")
    return boards


def score_results(
    results: Results,
    ruleset: str | None = None,
    framework: str | None = None,
    variant_rule: bool = False,
    baseline: str | None = None,
    tau_max: float = TAU_MAX,
    n_bootstrap: int = N_BOOTSTRAP,
    seed: int = 0,
    confidence: float = CONFIDENCE,
    normalize: bool = False,
    noise: dict[tuple[str, str], NoiseRecord] | None = None,
) -> Scoreboard:
    """Score the trials of one ruleset and one scope.

    Args:
      results: what `scoring.tables.load_results` read.
      ruleset: `external` or `self`; None scores the only ruleset present.
      framework: the framework whose entries are ranked, or `CROSS` ("cross-framework") for every
        entry in one profile; None means the only framework present.
      variant_rule: apply the AlgoPerf v0.5 variant rule (scoring/profiles.py:apply_variant_rule).
      baseline: an entry (or submission) name; adds the geometric-mean speedup over it.
      tau_max: ratios above it count as unsolved; the profile is integrated on [1, tau_max].
      n_bootstrap, seed, confidence: the bootstrap over studies.
      normalize: express every time in reference-host seconds (time / calibration speed factor).
      noise: the recorded minimum detectable speedups (`scoring.noise.load_noise`); None or {}
        marks every comparison "noise not measured".

    Raises:
      ScoringInputError: no readable trials, the ruleset or framework is absent, the results hold
        several frameworks and none was chosen, the baseline is unknown, or --normalize meets a
        trial without a speed factor.
    """
    if results.trials.empty:
        raise ScoringInputError("no readable trial logs")
    noise = noise or {}
    ruleset = choose_ruleset(results.trials, ruleset)
    trials = results.trials[results.trials["ruleset"] == ruleset].copy()
    frameworks = sorted(trials["framework"].unique())
    if framework is None:
        if len(frameworks) > 1:
            raise ScoringInputError(
                f"the results hold frameworks {', '.join(frameworks)}: score each on its own "
                "(score_frameworks) or pass framework='cross-framework'")
        framework = frameworks[0]
    if framework != CROSS:
        if framework not in frameworks:
            raise ScoringInputError(f"no {framework} trials in the results (they hold {', '.join(frameworks)})")
        trials = trials[trials["framework"] == framework].copy()
    curves = results.curves[results.curves["ruleset"] == ruleset]
    if normalize:
        trials, curves = normalized_trials(trials, curves)
    trials.insert(0, "entry", entry_names(trials))
    winners = best_trials(trials)
    winners = winners[np.isfinite(winners["scored_time"])]
    key = ["entry", "workload", "study", "trial"]
    trials["study_best"] = pd.MultiIndex.from_frame(trials[key]).isin(pd.MultiIndex.from_frame(winners[key]))
    entries_table = (
        trials[["entry", "submission", "ruleset", "framework"]].drop_duplicates().sort_values("entry")
    )
    entries = entries_table["entry"].tolist()
    framework_of = dict(zip(entries_table["entry"], entries_table["framework"]))
    studies = sorted(trials["study"].unique().tolist())
    trial_ids = sorted(trials["trial"].unique().tolist())
    base_of = {w: b for w, b in zip(trials["workload"], trials["base_workload"]) if b}
    workloads = sorted(set(trials["workload"]) | (set(base_of.values()) if variant_rule else set()))
    if baseline is not None:
        resolved = resolve_baseline(entries_table, baseline)
        if resolved is None:
            raise ScoringInputError(f"baseline {baseline!r} is not an entry; entries: {', '.join(entries)}")
        baseline = resolved
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
    timing = timing_noise(study_times)

    board = pd.DataFrame({
        "entry": entries,
        "submission": entries_table["submission"].tolist(),
        "framework": entries_table["framework"].tolist(),
        "score": benchmark_scores(ratios, tau_max),
        **dict(zip(["score_ci_low", "score_ci_high"], interval(rep_scores, confidence))),
        "reached": np.isfinite(scored(times)).sum(axis=-1),
        "within_tau": np.isfinite(ratios).sum(axis=-1),
        "workloads": len(scored_workloads),
        "noise_cv_median": [np.nan if np.isnan(row).all() else np.nanmedian(row) for row in timing],
    })
    if baseline is not None:
        b = entries.index(baseline)
        board["speedup_vs_baseline"] = geometric_mean_speedups(scored(times), b, tau_max)
        low, high = interval(geometric_mean_speedups(scored(reps), b, tau_max), confidence)
        board["speedup_ci_low"], board["speedup_ci_high"] = low, high
        board["speedup_noise"] = [
            speedup_noise_mark(s, ratios[i], ratios[b], scored_workloads, framework_of[e],
                               framework_of[baseline], noise)
            for i, (e, s) in enumerate(zip(entries, board["speedup_vs_baseline"]))
        ]
    board = board.sort_values(["score", "entry"], ascending=[False, True], kind="mergesort")
    board.insert(0, "rank", board["score"].rank(method="min", ascending=False).astype(int))
    board = board.reset_index(drop=True)

    time_low, time_high = interval(reps, confidence)
    own_ratios = performance_ratios(times, tau_max)
    score_ratio = {
        (e, w): ratios[i, j] for i, e in enumerate(entries) for j, w in enumerate(scored_workloads)
    }
    best = trials.sort_values(["entry", "workload", "scored_time", "study", "trial"], kind="mergesort")
    best = best.drop_duplicates(["entry", "workload"]).set_index(["entry", "workload"])
    rows = []
    for i, e in enumerate(entries):
        for j, w in enumerate(workloads):
            mds = noise_of(noise, w, framework_of[e])
            top = best.loc[(e, w)] if (e, w) in best.index else None
            rows.append({
                "entry": e, "workload": w, "base_workload": base_of.get(w, ""),
                "studies": len(studies), "studies_solved": int(np.isfinite(study_times[i, j]).sum()),
                "time": times[i, j], "time_ci_low": time_low[i, j], "time_ci_high": time_high[i, j],
                "ratio": own_ratios[i, j], "score_ratio": score_ratio.get((e, w), math.nan),
                "min_detectable_speedup": math.nan if mds is None else mds,
                "noise_mark": noise_mark(own_ratios[i, j], mds),
                "noise_cv": timing[i, j],
                "study_times": " ".join(f"{t:.6g}" for t in study_times[i, j]),
                **best_trial_columns(top),
            })
    workload_times = pd.DataFrame(rows)

    profile = pd.DataFrame(
        [{"entry": e, "tau": tau, "rho": rho}
         for i, e in enumerate(entries) for tau, rho in profile_steps(ratios[i], tau_max)],
        columns=["entry", "tau", "rho"],
    )
    pairwise = pairwise_comparisons(times, reps, entries, workloads, len(studies), confidence)
    pair_mds = [
        max_or_none(noise_of(noise, p.workload, framework_of[p.a]), noise_of(noise, p.workload, framework_of[p.b]))
        for p in pairwise.itertuples(index=False)
    ]
    pairwise["min_detectable_speedup"] = [math.nan if m is None else m for m in pair_mds]
    pairwise["noise_mark"] = [noise_mark(r, m) for r, m in zip(pairwise["ratio"], pair_mds)]

    scope_problems = results.problems[results.problems["ruleset"].isin(["", ruleset])]
    if framework != CROSS:
        scope_problems = scope_problems[scope_problems["framework"].isin(["", framework])]
    problem_rows = scope_problems.to_dict("records")
    problem_rows += excluded_trial_problems(trials)
    problem_rows += missing_problems(trials, entries_table, workloads, studies, trial_ids)
    problem_rows += inconsistent_workloads(trials)
    problem_rows += host_problems(trials, normalized=normalize)
    problems = problems_table(problem_rows)

    curves = curves.merge(
        trials[["entry", "submission", "framework", "workload", "study", "trial"]],
        on=["submission", "framework", "workload", "study", "trial"],
    )

    notes = [run.label, scope_note(framework, frameworks)]
    notes += [
        f"score: exact area under the performance profile on [1, {tau_max:g}] divided by "
        f"{tau_max - 1:g}; ratios above {tau_max:g} count as unsolved",
        f"reached target: workloads whose median time to target is finite; within tau_max: those "
        f"also within {tau_max:g}x the fastest entry of this profile (only these add to the score)",
        f"{confidence:.0%} intervals: percentile bootstrap over studies "
        f"({n_bootstrap} replicates, seed {seed})"
        + ("; with one study they have zero width and say nothing about noise" if len(studies) < 2 else ""),
        _noise_note(timing, entries, workloads),
        measured_noise_note(noise, workloads, sorted(set(framework_of.values()))),
        calibration_note(trials, normalize),
        integrity_note(trials),
    ]
    notes += first_eval_warnings(winners, entries)
    if variant_rule:
        variants = sorted(w for w in workloads if w in base_of)
        notes.append(
            "variant rule on: a base workload counts as unsolved where any of its variants is; "
            f"variants not scored on their own: {', '.join(variants) or 'none'}"
        )
    if baseline is not None:
        notes.append(f"speedup: geometric mean of t[{baseline}] / t[entry] over the workloads both solve; "
                     "within noise where it is below the geometric mean of those workloads' "
                     "minimum detectable speedups")
    if len(problems):
        counts = problems["kind"].value_counts().sort_index()
        notes.append(
            "problems (listed below and in problems.csv; missing, failed, diverged, unfinished, "
            "corrupt and over-budget trials count as unsolved): "
            + ", ".join(f"{n} {kind}" for kind, n in counts.items())
        )
    settings = dict(tau_max=tau_max, variant_rule=variant_rule, baseline=baseline,
                    n_bootstrap=n_bootstrap, seed=seed, confidence=confidence, normalize=normalize)
    return Scoreboard(
        ruleset=ruleset, scope=framework, run=run, settings=settings, leaderboard=board,
        workload_times=workload_times, profile=profile, pairwise=pairwise, problems=problems,
        trials=trials, curves=curves, workloads=list(workloads), scored_workloads=list(scored_workloads),
        notes=notes, score_replicates=pd.DataFrame(rep_scores, columns=entries),
    )


def best_trial_columns(row) -> dict:
    """The report's columns of an (entry, workload)'s best trial (least scored time)."""
    if row is None:
        return {"best_study": -1, "best_trial": -1, "hparams": "", "steps_to_target": -1,
                "target_eval": 0, "step_time": math.nan, "best_path": ""}
    return {"best_study": int(row["study"]), "best_trial": int(row["trial"]), "hparams": row["hparams"],
            "steps_to_target": int(row["steps_to_target"]) if math.isfinite(row["scored_time"]) else -1,
            "target_eval": int(row["target_eval"]) if math.isfinite(row["scored_time"]) else 0,
            "step_time": float(row["step_time"]), "best_path": row["path"]}


def scope_note(framework: str, frameworks: list[str]) -> str:
    """What the profile compares."""
    if framework == CROSS:
        return ("cross-framework comparison (on request): entries of " + " and ".join(frameworks)
                + " in one profile; frameworks are different hardware-software stacks, so a ratio "
                "between them measures the stack as much as the algorithm")
    return (f"{framework} entries only: each framework's entries are ranked among their own "
            "(--cross-framework puts them in one profile)")


def integrity_note(trials: pd.DataFrame) -> str:
    """How many trials' logs verified (docs/integrity.md); rejected ones are problems instead."""
    if "integrity" not in trials or trials.empty:
        return "log integrity: no trials"
    unverified = trials[trials["integrity"] != "verified"]
    note = (f"log integrity: {len(trials) - len(unverified)} of {len(trials)} trials verified "
            "(digest chain under their plan's key, docs/integrity.md)")
    if len(unverified):
        note += f"; {len(unverified)} unverified, e.g. {unverified['integrity'].iloc[0]}"
    return note


# ---------------------------------------------------------------------------------------------
# Formatting
