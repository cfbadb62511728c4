"""Checkpoints are atomic: a crash while writing one leaves the previous one whole and in use."""

from __future__ import annotations

import numpy as np
import pytest

from harness import checkpoint
from tests.harness.fakes import FakeBackend, FakeClock


class CrashingBackend(FakeBackend):
    def __init__(self, clock, crash_on_save: int):
        super().__init__(clock)
        self.saves, self.crash_on_save = 0, crash_on_save

    def save_optimizer_state(self, state, folder):
        self.saves += 1
        if self.saves == self.crash_on_save:
            raise KeyboardInterrupt("killed while writing a checkpoint")
        super().save_optimizer_state(state, folder)


def test_a_crash_mid_checkpoint_keeps_the_previous_one(tmp_path):
    backend = CrashingBackend(FakeClock(), crash_on_save=2)
    checkpoint.save(tmp_path, 3, {"q": np.array([0.3])}, {"count": 3}, {"global_step": 3}, backend)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save(tmp_path, 6, {"q": np.array([0.6])}, {"count": 6}, {"global_step": 6}, backend)
    folder = checkpoint.latest(tmp_path)
    assert folder.name == "step_00000003"
    assert checkpoint.load_trial_state(folder) == {"global_step": 3}
    np.testing.assert_array_equal(checkpoint.load_params(folder)["q"], [0.3])
    assert backend.load_optimizer_state(None, folder) == {"count": 3}


def test_a_newer_checkpoint_replaces_all_but_the_one_before_it(tmp_path):
    backend = FakeBackend(FakeClock())
    for step in (3, 6, 9):
        checkpoint.save(tmp_path, step, {"q": np.array([step])}, {"count": step},
                        {"global_step": step}, backend)
    assert checkpoint.latest(tmp_path).name == "step_00000009"
    # the one before stays, to fall back to should the newest be found damaged
    assert sorted(p.name for p in (tmp_path / "checkpoint").glob("step_*")) == [
        "step_00000006", "step_00000009"]


def test_no_checkpoint_means_a_fresh_start(tmp_path):
    assert checkpoint.latest(tmp_path) is None
