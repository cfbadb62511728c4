"""harness/process_control.py's allocator environment, as benchmarks/step_time.py hands it on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

from harness import process_control

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))

import step_time  # noqa: E402


def test_the_environment_carries_keep_freed_memorys_thresholds():
    env = process_control.fixed_allocator_environment({"PATH": "/bin"})
    assert env["PATH"] == "/bin"
    assert int(env["MALLOC_MMAP_THRESHOLD_"]) == process_control.MMAP_THRESHOLD
    assert int(env["MALLOC_TRIM_THRESHOLD_"]) == process_control.TRIM_THRESHOLD


def test_step_time_gives_every_checkout_the_same_allocator(monkeypatch, tmp_path):
    seen = {}

    def fake_run(command, cwd, capture_output, text, env):
        seen.update(env)
        return subprocess.CompletedProcess(command, 0, stdout='{"seconds": 0.01, "steal": 0.0}\n', stderr="")

    monkeypatch.setattr(step_time.subprocess, "run", fake_run)
    args = SimpleNamespace(submission="submissions/nadamw", steps=1, warmup=1, clock="wall", threads=None)
    try:
        step_time.run_child(args, "smoke", "pytorch", repo=tmp_path)
    except Exception:  # what it makes of the fake output is not this test's concern
        pass
    assert seen["PYTHONPATH"] == str(tmp_path)
    assert int(seen["MALLOC_TRIM_THRESHOLD_"]) == process_control.TRIM_THRESHOLD
