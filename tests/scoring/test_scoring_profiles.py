"""Ratios, profiles, the exact score, the variant rule and speedups, against hand arithmetic."""

import math

import numpy as np
import pytest

from scoring.leaderboard import score_results
from scoring.profiles import (
    apply_variant_rule,
    benchmark_scores,
    geometric_mean_speedups,
    performance_profile,
    performance_ratios,
    profile_steps,
    score_times,
)
from scoring.tables import load_results

INF = math.inf


def scores_of(board):
    return dict(zip(board.leaderboard["entry"], board.leaderboard["score"]))


# Times (s) of three submissions on three workloads:
#          w1    w2    w3
#   A      10    20    30
#   B      20    20   inf
#   C      50    10    60
# Fastest: w1 10 (A), w2 10 (C), w3 30 (A).
# Ratios:  A = 1, 2, 1     B = 2, 2, inf     C = 5 -> unsolved (> 4), 1, 2
# Profiles on [1, 4] (step functions):
#   rho_A = 2/3 on [1, 2), 1 on [2, 4]   -> area 2/3 * 1 + 1 * 2   = 8/3 -> score 8/3 / 3 = 8/9
#   rho_B = 0   on [1, 2), 2/3 on [2, 4] -> area 0 + 2/3 * 2       = 4/3 -> score 4/9
#   rho_C = 1/3 on [1, 2), 2/3 on [2, 4] -> area 1/3 + 2/3 * 2     = 5/3 -> score 5/9
HAND_TIMES = np.array([[10, 20, 30], [20, 20, INF], [50, 10, 60]], dtype=float)


def test_hand_computed_ratios_profile_and_score():
    ratios = performance_ratios(HAND_TIMES)
    np.testing.assert_array_equal(ratios, [[1, 2, 1], [2, 2, INF], [INF, 1, 2]])
    rho = performance_profile(ratios, [1.0, 1.5, 2.0, 4.0])
    np.testing.assert_allclose(
        rho, [[2 / 3, 2 / 3, 1, 1], [0, 0, 2 / 3, 2 / 3], [1 / 3, 1 / 3, 2 / 3, 2 / 3]]
    )
    np.testing.assert_allclose(benchmark_scores(ratios), [8 / 9, 4 / 9, 5 / 9], rtol=1e-15)
    assert profile_steps(ratios[0]) == [(1.0, 2 / 3), (2.0, 1.0), (4.0, 1.0)]


def test_score_is_the_exact_area_under_the_step_profile():
    rng = np.random.default_rng(3)
    times = rng.uniform(1, 10, size=(4, 7))
    times[1, 2] = INF
    ratios = performance_ratios(times)
    taus = np.linspace(1, 4, 300_001)
    midpoints = (taus[1:] + taus[:-1]) / 2
    numeric = performance_profile(ratios, midpoints).mean(axis=-1)  # Riemann sum / (4 - 1)
    np.testing.assert_allclose(benchmark_scores(ratios), numeric, atol=1e-4)


def test_ratios_above_tau_max_count_as_unsolved():
    # 41 / 10 = 4.1 > 4: unsolved; 40 / 10 = 4 is solved (inclusive) but adds no area.
    times = np.array([[10.0], [40.0], [41.0]])
    ratios = performance_ratios(times)
    np.testing.assert_array_equal(ratios[:, 0], [1.0, 4.0, INF])
    np.testing.assert_array_equal(performance_profile(ratios, [4.0])[:, 0], [1.0, 1.0, 0.0])
    np.testing.assert_array_equal(benchmark_scores(ratios), [1.0, 0.0, 0.0])
    assert performance_ratios(times, tau_max=5.0)[2, 0] == pytest.approx(4.1)


def test_fastest_everywhere_scores_one_and_identical_submissions_tie():
    times = np.array([[5.0, 7.0, 9.0], [6.0, 7.5, 20.0], [6.0, 7.5, 20.0]])
    scores = score_times(times)
    assert scores[0] == 1.0
    assert scores[1] == scores[2]
    assert scores[1] < 1.0


def test_workload_nobody_solved_is_unsolved_for_everybody():
    times = np.array([[10.0, INF], [20.0, INF]])
    # A: (3 + 0) / (2 * 3) = 0.5; B: ratio 2 -> (2 + 0) / 6 = 1/3.
    np.testing.assert_allclose(score_times(times), [0.5, 1 / 3])


def test_variant_rule_sets_the_base_unsolved_before_ratios():
    workloads = ["base", "base_v", "other"]
    base_of = {"base_v": "base"}
    # A solves everything fastest; B's variant is unsolved, so B's base counts as unsolved.
    times = np.array([[10.0, 20.0, 10.0], [20.0, INF, 10.0]])
    scored, names = apply_variant_rule(times, workloads, base_of)
    assert names == ["base", "other"]
    np.testing.assert_array_equal(scored, [[10.0, 10.0], [INF, 10.0]])
    # A: ratios 1, 1 -> score 1; B: inf, 1 -> (0 + 3) / (2 * 3) = 0.5.
    np.testing.assert_allclose(score_times(scored), [1.0, 0.5])
    # A variant solved but with ratio 5 > tau_max is unsolved too.
    times = np.array([[10.0, 10.0, 10.0], [20.0, 50.0, 10.0]])
    np.testing.assert_array_equal(apply_variant_rule(times, workloads, base_of)[0][1], [INF, 10.0])
    # The rule acts on times, so the base's fastest time moves: A is disqualified on the base,
    # which makes B the fastest there (ratio 1 instead of 2).
    times = np.array([[10.0, INF, 10.0], [20.0, 30.0, 10.0]])
    scored, _ = apply_variant_rule(times, workloads, base_of)
    np.testing.assert_array_equal(performance_ratios(scored), [[INF, 1.0], [1.0, 1.0]])


def test_variant_rule_works_on_bootstrap_axes():
    times = np.array([[[10.0, 20.0, 10.0], [20.0, INF, 10.0]], [[10.0, INF, 10.0], [20.0, 30.0, 10.0]]])
    scored, _ = apply_variant_rule(times, ["base", "base_v", "other"], {"base_v": "base"})
    np.testing.assert_array_equal(scored[:, :, 0], [[10.0, INF], [INF, 20.0]])


def test_geometric_mean_speedup_over_workloads_both_solve():
    # A vs baseline B: both solve w1 (20/10 = 2) and w2 (80/20 = 4; B's ratio 4 is still solved);
    # A does not solve w3. sqrt(2 * 4) = 2.828...
    times = np.array([[10.0, 20.0, INF], [20.0, 80.0, 30.0]])
    speedups = geometric_mean_speedups(times, baseline=1)
    assert speedups[0] == pytest.approx(math.sqrt(8.0))
    assert speedups[1] == 1.0
    assert math.isnan(geometric_mean_speedups(np.array([[INF], [1.0]]), baseline=1)[0])


def test_missing_workload_scores_as_unsolved_and_is_reported(tmp_path, time_writer):
    for study in range(3):
        time_writer(tmp_path, "a", "w1", study, 10.0)
        time_writer(tmp_path, "a", "w2", study, 10.0)
        time_writer(tmp_path, "b", "w1", study, 20.0)  # b never ran w2
    board = score_results(load_results([tmp_path]), n_bootstrap=50)
    # a: 1; b: w1 ratio 2, w2 unsolved -> (2 + 0) / (2 * 3) = 1/3.
    assert scores_of(board) == pytest.approx({"a": 1.0, "b": 1 / 3})
    missing = board.problems[board.problems["kind"] == "missing"]
    assert missing[["submission", "workload"]].values.tolist() == [["b", "w2"]]
    assert "no trials of workload w2" in missing["message"].iloc[0]


def test_identical_logs_get_identical_scores_and_ranks(tmp_path, time_writer):
    for name in ("twin1", "twin2"):
        for study, t in enumerate([30.0, 32.0, 35.0]):
            time_writer(tmp_path, name, "w1", study, t)
            time_writer(tmp_path, name, "w2", study, 2 * t)
    for study, t in enumerate([25.0, 40.0, 45.0]):
        time_writer(tmp_path, "other", "w1", study, t)
        time_writer(tmp_path, "other", "w2", study, t)
    board = score_results(load_results([tmp_path]), n_bootstrap=50).leaderboard.set_index("entry")
    assert board.loc["twin1", "score"] == board.loc["twin2", "score"]
    assert board.loc["twin1", "rank"] == board.loc["twin2", "rank"]


def test_variant_rule_on_logs(tmp_path, time_writer):
    for study in range(3):
        time_writer(tmp_path, "a", "conv", study, 100.0)
        time_writer(tmp_path, "a", "conv_wide", study, 100.0, base_workload="conv")
        time_writer(tmp_path, "b", "conv", study, 50.0)
        time_writer(tmp_path, "b", "conv_wide", study, INF, base_workload="conv")
        time_writer(tmp_path, "a", "mlp", study, 10.0)
        time_writer(tmp_path, "b", "mlp", study, 10.0)
        # A variant whose base nobody ran: the base is scored, unsolved for all, and reported.
        time_writer(tmp_path, "a", "rnn_deep", study, 10.0, base_workload="rnn")
        time_writer(tmp_path, "b", "rnn_deep", study, 10.0, base_workload="rnn")
    results = load_results([tmp_path])
    plain = score_results(results, n_bootstrap=50)
    ruled = score_results(results, variant_rule=True, n_bootstrap=50)
    assert plain.scored_workloads == ["conv", "conv_wide", "mlp", "rnn_deep"]
    assert ruled.scored_workloads == ["conv", "mlp", "rnn"]
    # Without the rule: a = conv 2, conv_wide 1, mlp 1, rnn_deep 1 -> (2+3+3+3)/(4*3) = 11/12;
    #                   b = conv 1, conv_wide inf, mlp 1, rnn_deep 1 -> (3+0+3+3)/12 = 3/4.
    # With the rule: b's conv is unsolved, so a is fastest on conv:
    #                   a = conv 1, mlp 1, rnn inf -> 6/9 = 2/3; b = conv inf, mlp 1, rnn inf -> 1/3.
    assert scores_of(plain) == pytest.approx({"a": 11 / 12, "b": 3 / 4})
    assert scores_of(ruled) == pytest.approx({"a": 2 / 3, "b": 1 / 3})
    missing = ruled.problems[ruled.problems["kind"] == "missing"]
    assert sorted(missing["workload"] + "/" + missing["submission"]) == ["rnn/a", "rnn/b"]
