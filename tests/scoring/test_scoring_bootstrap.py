"""The bootstrap over studies, timing noise and pairwise comparisons."""

import math

import numpy as np
import pytest

from scoring.bootstrap import bootstrap_medians, compare, interval, timing_noise
from scoring.leaderboard import score_results
from scoring.profiles import score_times
from scoring.tables import load_results

INF = math.inf


def spread(n_studies, low=80.0, high=120.0):
    return np.linspace(low, high, n_studies)


def test_intervals_contain_the_point_estimates(tmp_path, time_writer):
    times = {"a": {"w1": [90, 100, 115], "w2": [40, 42, 47]}, "b": {"w1": [95, 105, 130], "w2": [60, 30, 50]}}
    for entry, by_workload in times.items():
        for workload, per_study in by_workload.items():
            for study, t in enumerate(per_study):
                time_writer(tmp_path, entry, workload, study, float(t))
    board = score_results(load_results([tmp_path]), n_bootstrap=400, seed=1)
    wt = board.workload_times
    assert ((wt["time_ci_low"] <= wt["time"]) & (wt["time"] <= wt["time_ci_high"])).all()
    lb = board.leaderboard
    assert ((lb["score_ci_low"] <= lb["score"]) & (lb["score"] <= lb["score_ci_high"])).all()
    assert (lb["score_ci_low"] < lb["score_ci_high"]).any()


def test_intervals_shrink_with_more_studies():
    def widths(n_studies):
        # Two entries on two workloads; every cell's studies spread evenly over the same range.
        study_times = np.stack([np.stack([spread(n_studies), spread(n_studies, 40, 60)]),
                                np.stack([spread(n_studies, 90, 130), spread(n_studies, 35, 55)])])
        reps = bootstrap_medians(study_times, ["a", "b"], ["w1", "w2"], n_bootstrap=1000, seed=0)
        time_low, time_high = interval(reps)
        score_low, score_high = interval(score_times(reps))
        return time_high - time_low, score_high - score_low

    few_times, few_scores = widths(3)
    many_times, many_scores = widths(25)
    assert (many_times < few_times).all()
    assert (many_scores < few_scores).all()


def test_bootstrap_is_seeded_and_cells_are_independent_of_each_other():
    study_times = np.array([[[1.0, 2.0, 3.0]], [[4.0, 5.0, 9.0]]])
    first = bootstrap_medians(study_times, ["a", "b"], ["w"], n_bootstrap=200, seed=7)
    again = bootstrap_medians(study_times, ["a", "b"], ["w"], n_bootstrap=200, seed=7)
    other = bootstrap_medians(study_times, ["a", "b"], ["w"], n_bootstrap=200, seed=8)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    alone = bootstrap_medians(study_times[1:], ["b"], ["w"], n_bootstrap=200, seed=7)
    np.testing.assert_array_equal(alone[:, 0], first[:, 1])


def test_timing_noise_is_the_coefficient_of_variation_of_finite_study_times():
    # [90, 100, 110]: sample std 10, mean 100 -> 0.1; one finite study -> no estimate.
    noise = timing_noise(np.array([[[90.0, 100.0, 110.0], [50.0, INF, INF]]]))
    assert noise[0, 0] == pytest.approx(0.1)
    assert math.isnan(noise[0, 1])


def test_pairwise_verdicts():
    rng = np.random.default_rng(0)
    fast = 50 + rng.normal(0, 1, 500)
    slow = 100 + rng.normal(0, 1, 500)
    assert compare(50.0, 100.0, fast, slow, studies=3)["verdict"] == "A faster"
    assert compare(100.0, 50.0, slow, fast, studies=3)["verdict"] == "B faster"
    close = 51 + rng.normal(0, 5, 500)
    result = compare(50.0, 51.0, 50 + rng.normal(0, 5, 500), close, studies=3)
    assert result["verdict"] == "within noise"
    assert result["ratio_ci_low"] < 1 < result["ratio_ci_high"]
    assert compare(50.0, 100.0, fast, slow, studies=1)["verdict"] == "one study: no noise estimate"
    both = np.full(10, INF)
    assert compare(INF, INF, both, both, studies=3)["verdict"] == "both unsolved"
    assert compare(50.0, INF, fast[:10], both, studies=3)["verdict"] == "A faster"


def test_pairwise_table_names_the_faster_entry(tmp_path, time_writer):
    for study, (ta, tb) in enumerate([(50, 100), (52, 104), (49, 99)]):
        time_writer(tmp_path, "a", "w", study, float(ta))
        time_writer(tmp_path, "b", "w", study, float(tb))
    board = score_results(load_results([tmp_path]), n_bootstrap=200)
    row = board.pairwise.iloc[0]
    assert (row["a"], row["b"], row["verdict"]) == ("a", "b", "a faster")
    assert row["ratio"] == pytest.approx(50 / 100)
