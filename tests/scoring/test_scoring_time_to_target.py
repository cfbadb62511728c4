"""Time to target of a trial and the best trial of a study."""

import math

import numpy as np
import pytest

from scoring.leaderboard import score_results
from scoring.tables import load_results
from scoring.time_to_target import meets_target, time_to_target


def rows(*pairs, metric="accuracy"):
    return [{"score": t, f"validation/{metric}": v} for t, v in pairs]


def test_first_row_meeting_the_target_inclusive():
    evals = rows((10.0, 0.5), (20.0, 0.9), (30.0, 0.99))
    assert time_to_target(evals, "accuracy", 0.9, lower_is_better=False) == 20.0
    assert time_to_target(evals, "accuracy", 0.95, lower_is_better=False) == 30.0
    assert time_to_target(evals, "accuracy", 0.999, lower_is_better=False) == math.inf


def test_lower_is_better_uses_less_or_equal():
    evals = rows((10.0, 3.0), (20.0, 2.5), (30.0, 2.4), metric="loss")
    assert time_to_target(evals, "loss", 2.5, lower_is_better=True) == 20.0
    assert time_to_target(evals, "loss", 1.0, lower_is_better=True) == math.inf


def test_missing_and_nan_values_never_meet_the_target():
    assert not meets_target(None, 0.5, False)
    assert not meets_target(float("nan"), 0.5, True)
    evals = [{"score": 5.0, "validation/accuracy": None}, {"score": 6.0, "validation/accuracy": float("nan")},
             {"score": 7.0, "validation/accuracy": 0.95}]
    assert time_to_target(evals, "accuracy", 0.9, False) == 7.0
    assert time_to_target([], "accuracy", 0.9, False) == math.inf
    with pytest.raises(KeyError):
        time_to_target(rows((1.0, 0.95)), "error_rate", 0.1, True)


def test_later_eval_index_in_less_time_wins_the_study(tmp_path, trial_writer):
    # Trial 1 ("A") reaches the target at its second eval row at t = 50 s; trial 0 ("B") at its
    # first row, but at t = 80 s. The study's time is 50 s and A is its best trial.
    trial_writer(tmp_path, "sub", "mnist", study=0, trial=1, evals=[(20.0, 0.5), (50.0, 0.95)])
    trial_writer(tmp_path, "sub", "mnist", study=0, trial=0, evals=[(80.0, 0.95)])
    board = score_results(load_results([tmp_path]), n_bootstrap=20)
    trials = board.trials.set_index("trial")
    assert trials.loc[1, "time_to_target"] == 50.0
    assert trials.loc[0, "time_to_target"] == 80.0
    assert trials["study_best"].to_dict() == {0: False, 1: True}
    assert board.workload_times["time"].tolist() == [50.0]


def test_study_time_is_median_over_studies_of_best_trials(tmp_path, time_writer):
    # study 0: best of 40, 30 -> 30; study 1: 70 (the 60 s trial failed); study 2: best 20.
    time_writer(tmp_path, "sub", "w", 0, 40.0, trial=0)
    time_writer(tmp_path, "sub", "w", 0, 30.0, trial=1)
    time_writer(tmp_path, "sub", "w", 1, 70.0, trial=0)
    time_writer(tmp_path, "sub", "w", 1, 60.0, trial=1, status="failed")
    time_writer(tmp_path, "sub", "w", 2, 20.0, trial=0)
    time_writer(tmp_path, "sub", "w", 2, math.inf, trial=1)
    board = score_results(load_results([tmp_path]), n_bootstrap=20)
    row = board.workload_times.iloc[0]
    assert row["study_times"] == "30 70 20"
    assert row["time"] == 30.0
    assert np.isinf(board.trials.set_index(["study", "trial"]).loc[(1, 1), "scored_time"])
