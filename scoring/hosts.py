"""The hosts that timed the trials: where their calibrations differ too much to compare times
(`host_problems`), times in reference-host seconds (`normalized_trials`, --normalize), a
reproduction's times on its reference's hosts, workload by workload (`host_factors`, compare
mode), and the leaderboard's note (`calibration_note`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from scoring.scoreboard import ScoringInputError
from scoring.tables import problem
from scoring.trial_row import TRIAL_KEY


# Trials of one (framework, workload) are flagged as timed on hosts of different speed where their
# calibrations spread by more than this fraction. One trial's calibration (0.7 s of one-thread
# products) catches the host's speed of its moment: repeated back to back on a quiet host it spreads
# under 3% (benchmarks/calibrate.py), but over one workload's real trials on one host it spread by
# up to 16% between its 10th and 90th percentiles and 31% slowest over fastest (reference_results/,
# 24 trials a workload in one window; the spreads are in docs/leaderboard.md's run table), while
# the hosts this project has met differed by 1.43x and more. So the spread read is the robust one,
# and 25% lies between the two.
HOST_THRESHOLD = 0.25
SPREAD_QUANTILES = (0.1, 0.9)


def percentile_spread(seconds) -> float:
    """The 90th percentile of calibrations over their 10th, minus 1 (`SPREAD_QUANTILES`)."""
    low, high = np.quantile(np.asarray(seconds, dtype=float), SPREAD_QUANTILES)
    return float(high / low - 1.0)


def calibration_spread(seconds, per_host: pd.Series) -> tuple[float, str]:
    """How far a workload's calibrated trials' hosts are apart (a fraction, and how it was read):
    the larger of the `percentile_spread` of the trials' calibrations (`seconds`) and, where they
    name more than one host, the slowest host's median over the fastest's (`per_host`: medians)."""
    spreads = [(percentile_spread(seconds), "10th to 90th percentile of the trials")]
    if len(per_host) > 1:
        spreads.append((per_host.max() / per_host.min() - 1.0, "slowest host's median over the fastest's"))
    return max(spreads)


def host_problems(trials: pd.DataFrame, threshold: float = HOST_THRESHOLD, normalized: bool = False) -> list[dict]:
    """Problem rows for the hosts of every (framework, workload).

    `hosts_differ` where the calibrated trials' `calibration_spread` exceeds `threshold`;
    `uncalibrated` where some trials have a calibration and others none (their hosts cannot be
    compared). A workload whose trials all lack a calibration is not flagged here; the notes say
    that the logs hold no calibration.
    """
    out = []
    for (framework, workload), group in trials.groupby(["framework", "workload"], sort=True):
        key = dict(ruleset=group["ruleset"].iloc[0], framework=framework, workload=workload)
        calibrated = group[np.isfinite(group["calibration_sec"])]
        if len(calibrated) and len(calibrated) < len(group):
            example = group.loc[~np.isfinite(group["calibration_sec"]), "path"].iloc[0]
            out.append(problem("uncalibrated", f"{len(group) - len(calibrated)} of {len(group)} trials "
                               f"have no host calibration in meta.json (e.g. {example}); their hosts "
                               "cannot be compared with the others'; re-run them", **key))
        if len(calibrated) < 2:
            continue
        per_host = calibrated.groupby("host_id", sort=True)["calibration_sec"].median()
        spread, how = calibration_spread(calibrated["calibration_sec"], per_host)
        if spread > threshold:
            listed = ", ".join(f"{h or '?'}: {v:.4g} s" for h, v in per_host.items())
            one = len(per_host) == 1  # one host name whose speed changed between the trials
            fix = ("times shown in reference-host seconds (--normalize)" if normalized else
                   "compare them with --normalize or re-run the workload "
                   + ("while the host's calibration holds steady (benchmarks/calibrate.py)" if one
                      else "on one host"))
            what = ("trials timed on one host whose calibration changed between them by" if one
                    else "trials timed on hosts whose calibration differs by")
            out.append(problem("hosts_differ", f"{what} {spread:.0%} ({how}; over {threshold:.0%}; "
                               f"median per host: {listed}); {fix}", **key))
    return out


TIME_COLUMNS = ("time_to_target", "scored_time", "final_time", "step_time")  # a trial's seconds


def divided_times(trials: pd.DataFrame, curves: pd.DataFrame,
                  factor: pd.Series) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every time of the trials and their curves divided by `factor` (aligned with `trials`)."""
    trials = trials.copy()
    factor = factor.to_numpy(dtype=float)
    for column in TIME_COLUMNS:
        trials[column] = trials[column].to_numpy() / factor
    per_row = curves.merge(trials[TRIAL_KEY].assign(_factor=factor), on=TRIAL_KEY, how="left")["_factor"]
    curves = curves.copy()
    curves["time"] = curves["time"].to_numpy() / per_row.to_numpy()
    return trials, curves


def normalized_trials(trials: pd.DataFrame, curves: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every time in reference-host seconds: time / speed_factor (= time x reference / seconds).

    Raises:
      ScoringInputError: a trial has no speed factor (uncalibrated, or no reference measurement).
    """
    lacking = trials[~np.isfinite(trials["speed_factor"])]
    if len(lacking):
        raise ScoringInputError(
            f"--normalize needs a calibration with a speed factor in every trial's meta.json; "
            f"{len(lacking)} of {len(trials)} trials have none (e.g. {lacking['path'].iloc[0]}); "
            "score without --normalize or re-run them")
    return divided_times(trials, curves, trials["speed_factor"])


# The reference baseline: where a reproduction and its reference both ran it on a workload, its
# seconds per step measure how fast the one host ran that workload against the other. The host
# calibration (one matrix product for every workload) cannot: across two kinds of host the ratio
# it predicted was off by up to 30% on workloads of other ops (docs/scoring.md).
ANCHOR = "nadamw"
FACTOR_COLUMNS = ["framework", "workload", "host_factor", "normalization"]


def _median_step_time(trials: pd.DataFrame) -> pd.Series:
    ran = trials[(trials["status"] == "completed") & np.isfinite(trials["step_time"])]
    return ran.groupby(["framework", "workload"])["step_time"].median()


def host_factors(reference: pd.DataFrame, reproduction: pd.DataFrame, anchor: str = ANCHOR) -> pd.DataFrame:
    """How many times slower the reproduction's host ran each (framework, workload) of
    `reproduction` than the reference's host ran it (both trial tables).

    `normalization` says how each factor was found: `anchor` (the median seconds per step of the
    `anchor` submission's completed trials in the reproduction over that in the reference),
    `calibration` (where one of them lacks the anchor: the median speed factor of the
    reproduction's trials over the reference's, every trial of both calibrated against the
    reference host), or `as measured` (neither: factor 1). Columns `FACTOR_COLUMNS`."""
    rep_anchor = _median_step_time(reproduction[reproduction["submission"] == anchor])
    ref_anchor = _median_step_time(reference[reference["submission"] == anchor])
    rows = []
    for (framework, workload), rep in reproduction.groupby(["framework", "workload"], sort=True):
        key = (framework, workload)
        ref = reference[(reference["framework"] == framework) & (reference["workload"] == workload)]
        if key in rep_anchor.index and key in ref_anchor.index:
            factor, how = rep_anchor[key] / ref_anchor[key], "anchor"
        elif len(ref) and np.isfinite(rep["speed_factor"]).all() and np.isfinite(ref["speed_factor"]).all():
            factor, how = rep["speed_factor"].median() / ref["speed_factor"].median(), "calibration"
        else:
            factor, how = 1.0, "as measured"
        rows.append((framework, workload, float(factor), how))
    return pd.DataFrame(rows, columns=FACTOR_COLUMNS)


def on_reference_hosts(trials: pd.DataFrame, curves: pd.DataFrame,
                       factors: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The trials' times in seconds of the reference's host of each workload: divided by their
    (framework, workload)'s host factor (`host_factors`; 1 where it has none)."""
    factor = trials[["framework", "workload"]].merge(factors, on=["framework", "workload"], how="left")
    return divided_times(trials, curves, factor["host_factor"].fillna(1.0))


def calibration_note(trials: pd.DataFrame, normalize: bool) -> str:
    """The host calibration of the trials, and whether times are normalized."""
    calibrated = trials[np.isfinite(trials["calibration_sec"])]
    if calibrated.empty:
        return "host calibration: none recorded in these logs (uncalibrated: times are comparable only between trials on one host)"
    hosts = sorted(set(calibrated["host_id"]))
    disturbed = calibrated["calibration_disturbance"].dropna()
    spread = (f"; host disturbance while calibrating (median block over the calibration, minus 1) median "
              f"{disturbed.median():.1%}, max {disturbed.max():.1%}" if len(disturbed) else "")
    if normalize:
        return (f"normalized: every time is in reference-host seconds (time x reference_seconds / "
                f"seconds of the trial's host calibration) over {len(hosts)} host(s){spread}; the "
                "normalization's error against measured times is in docs/scoring.md where measured, "
                "and is not known for these logs")
    return (f"host calibration: {len(calibrated)} of {len(trials)} trials calibrated on {len(hosts)} "
            f"host(s){spread}; times are as measured (--normalize: reference-host seconds)")
