from __future__ import annotations

import json
import math

import pytest

from harness import search_space
from harness.search_space import SearchSpaceError

SPACE = {
    "learning_rate": {"min": 1e-4, "max": 1e-1, "scaling": "log"},
    "weight_decay": {"min": 0.0, "max": 0.5, "scaling": "linear"},
    "warmup_factor": {"feasible_points": [0.02, 0.05, 0.1]},
}


def test_same_study_and_trial_give_the_same_point_and_studies_differ():
    a = search_space.trial_point(SPACE, 11, 3)
    assert a == search_space.trial_point(SPACE, 11, 3)
    assert a != search_space.trial_point(SPACE, 12, 3)
    assert a != search_space.trial_point(SPACE, 11, 4)


def test_points_honour_log_scaling_bounds_and_feasible_points():
    points = [search_space.trial_point(SPACE, 5, t) for t in range(64)]
    lrs = [p["learning_rate"] for p in points]
    assert all(1e-4 <= lr <= 1e-1 for lr in lrs)
    logs = sorted(math.log10(lr) for lr in lrs)
    # quasi-random in log space: every decade gets about a third of the points
    assert sum(-4 <= x < -3 for x in logs) >= 15 and sum(-2 <= x <= -1 for x in logs) >= 15
    assert {p["warmup_factor"] for p in points} == {0.02, 0.05, 0.1}


def test_a_list_space_gives_its_points_in_order():
    space = [{"learning_rate": 0.1}, {"learning_rate": 0.2}]
    assert search_space.trial_point(space, 1, 1) == {"learning_rate": 0.2}
    with pytest.raises(SearchSpaceError):
        search_space.trial_point(space, 1, 2)


@pytest.mark.parametrize("space, key", [
    ({"lr": {"min": 0.1, "max": 1.0}}, "lr"),
    ({"lr": {"min": 0.1, "max": 1.0, "scaling": "cubic"}}, "lr"),
    ({"lr": {"min": 0.0, "max": 1.0, "scaling": "log"}}, "lr"),
    ({"wd": {"feasible_points": []}}, "wd"),
    ({"wd": {"feasible_points": [1], "min": 0}}, "wd"),
    ({"beta": 0.9}, "beta"),
])
def test_malformed_spaces_name_the_bad_key(tmp_path, space, key):
    path = tmp_path / "tuning_search_space.json"
    path.write_text(json.dumps(space))
    with pytest.raises(SearchSpaceError, match=rf"tuning_search_space.json: hyperparameter '{key}'"):
        search_space.load(path)


def test_invalid_json_names_the_file_and_line(tmp_path):
    path = tmp_path / "tuning_search_space.json"
    path.write_text('{\n "lr": {"min": 1,,}\n}')
    with pytest.raises(SearchSpaceError, match=r"tuning_search_space.json:2: not valid JSON"):
        search_space.load(path)
