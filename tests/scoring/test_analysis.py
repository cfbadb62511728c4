"""scoring/analysis.py on small hand-made scoreboards whose answers are known."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from scoring import analysis


class Board:
    """The fields of a Scoreboard that the analysis reads."""

    def __init__(self, scores: dict, replicates: dict, pairwise=None, workload_times=None):
        self.leaderboard = pd.DataFrame({"entry": list(scores), "score": list(scores.values())})
        self.score_replicates = pd.DataFrame(replicates)
        self.pairwise = pairwise
        self.workload_times = workload_times


def test_score_separation_says_which_differences_exclude_zero():
    rng = np.random.default_rng(0)
    board = Board({"a": 0.9, "b": 0.5, "c": 0.49},
                  {"a": 0.9 + 0.01 * rng.standard_normal(500), "b": 0.5 + 0.05 * rng.standard_normal(500),
                   "c": 0.49 + 0.05 * rng.standard_normal(500)})
    table = analysis.score_separation(board).set_index(["a", "b"])
    assert table.loc[("a", "b"), "separated"] and table.loc[("a", "c"), "separated"]
    assert not table.loc[("b", "c"), "separated"]
    assert table.loc[("a", "b"), "difference"] == pytest.approx(0.4)
    low, high = table.loc[("b", "c"), ["difference_ci_low", "difference_ci_high"]]
    assert low < 0 < high


def test_workload_separation_counts_verdicts():
    pairwise = pd.DataFrame({"workload": ["w", "w", "w", "v"],
                             "verdict": ["a faster", "within noise", "both unsolved", "c faster"]})
    table = analysis.workload_separation(Board({}, {}, pairwise=pairwise)).set_index("workload")
    assert table.loc["w", "separated"] == 1 and table.loc["w", "both_unsolved"] == 1
    assert table.loc["w", "share_separated"] == pytest.approx(0.5)
    assert table.loc["v", "share_separated"] == 1.0


PUBLISHED = {"scores": {"x": 0.8, "y": 0.6, "z": 0.4, "absent": 0.1},
             "ours": {"x": "sub_x", "y": "sub_y", "z": "sub_z", "absent": "not_run"}}


def test_fidelity_is_one_when_we_rank_as_published_and_names_discordant_pairs():
    same = Board({"sub_x (pytorch)": 0.9, "sub_y (pytorch)": 0.5, "sub_z (pytorch)": 0.1},
                 {"sub_x (pytorch)": [0.9, 0.8], "sub_y (pytorch)": [0.5, 0.6], "sub_z (pytorch)": [0.1, 0.2]})
    result = analysis.fidelity(same, PUBLISHED)
    assert result["algorithms"] == ["x", "y", "z"]
    assert result["tau"] == pytest.approx(1.0) and result["discordant"] == []
    assert result["tau_ci_low"] == pytest.approx(1.0)
    swapped = Board({"sub_x": 0.5, "sub_y": 0.9, "sub_z": 0.1},
                    {"sub_x": [0.5, 0.5], "sub_y": [0.9, 0.9], "sub_z": [0.1, 0.1]})
    result = analysis.fidelity(swapped, PUBLISHED)
    assert result["tau"] == pytest.approx(1 / 3) and result["discordant"] == [("x", "y")]


def test_fidelity_needs_two_common_algorithms():
    result = analysis.fidelity(Board({"sub_x": 0.5}, {"sub_x": [0.5]}), PUBLISHED)
    assert math.isnan(result["tau"]) and result["algorithms"] == ["x"]


def test_step_cost_decomposition_splits_the_log_time_ratio_exactly():
    times = pd.DataFrame({
        "entry": ["base", "fast_steps", "base", "fast_steps", "base", "fast_steps"],
        "workload": ["w", "w", "v", "v", "u", "u"],
        "steps_to_target": [100, 50, 100, -1, 100, 80],  # fast_steps never reached v's target
        "step_time": [0.1, 0.15, 0.2, math.nan, 0.1, 0.05]})
    table = analysis.step_cost_decomposition(Board({}, {}, workload_times=times), "base")
    assert list(table["workload"]) == ["w", "u"]
    opposite, same = table.iloc[0], table.iloc[1]
    assert opposite["time_ratio"] == pytest.approx(0.75)
    assert opposite["step_time_ratio"] == pytest.approx(1.5) and opposite["steps_ratio"] == pytest.approx(0.5)
    # dearer steps, fewer of them: no share in [0, 1] exists; the two ratios say it
    assert math.isnan(opposite["step_cost_share"])
    # cheaper steps and fewer of them: both explain part of the 0.4 time ratio
    assert same["time_ratio"] == pytest.approx(0.4)
    assert same["step_cost_share"] == pytest.approx(math.log(0.5) / math.log(0.4))
    assert 0 < same["step_cost_share"] < 1


def test_the_published_file_maps_every_algorithm_to_a_shipped_submission():
    from pathlib import Path
    shipped = {p.name for p in (Path(__file__).resolve().parents[2] / "submissions").iterdir() if p.is_dir()}
    for board in analysis.load_published().values():
        assert set(board["ours"]) == set(board["scores"])
        assert set(board["ours"].values()) <= shipped
