"""Seeds derived from names (harness/seeds.py)."""

import pytest

from harness.seeds import derive_seed, derive_step_seeds


@pytest.mark.parametrize("base_seed, purpose, steps", [
    (0, "update", range(0, 300)),
    (1_065_982_354, "data_selection", range(977, 2977)),
    (2**31 - 1, "", range(5, 50, 7)),
    (12, "update", range(2**32 - 3, 2**32 + 2)),  # steps past one word: derive_seed itself
    (3, "update", range(0)),
    (3, "update", range(40, 45)),
])
def test_step_seeds_are_derive_seeds_values(base_seed, purpose, steps):
    assert derive_step_seeds(base_seed, purpose, steps) == [derive_seed(base_seed, purpose, s) for s in steps]


def test_step_seeds_differ_by_step_and_purpose():
    update, data = derive_step_seeds(7, "update", range(100)), derive_step_seeds(7, "data_selection", range(100))
    assert len(set(update)) == 100 and not set(update) & set(data)
    assert all(0 <= s < 2**31 for s in update)
