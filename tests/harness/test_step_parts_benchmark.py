"""benchmarks/step_parts.py: each part is the call the submission side makes per step, a tiny
run on smoke writes a record whose table reads back, and docs/performance.md holds the recorded
table as generated."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from pathlib import Path

from tests.benchmark_scripts import load_benchmark

REPO = Path(__file__).resolve().parents[2]


parts = load_benchmark("step_parts")


def test_the_parts_are_the_calls_the_submission_side_makes_each_step():
    from harness.submission_side import SubmissionSide

    side = inspect.getsource(SubmissionSide.step)
    for call in ("self.backend.make_rng(select_seed)", "self.backend.make_rng(update_seed)",
                 "TrainState(train_state)", "self.backend.step_marker(self.params)",
                 "self.backend.wait(previous)", "input_queue=self.input_queue"):
        assert call in side, call  # if the side changes, the benchmark's parts must follow


def test_a_tiny_run_on_smoke_writes_a_record_whose_table_reads_back(tmp_path):
    out = tmp_path / "parts.json"
    done = subprocess.run([sys.executable, str(REPO / "benchmarks/step_parts.py"), "--workloads", "smoke",
                           "--rounds", "2", "--calls", "5", "--steps", "2", "--out", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    record = json.loads(out.read_text())
    assert [(r["workload"], r["framework"]) for r in record["results"]] == [("smoke", "pytorch"), ("smoke", "jax")]
    for r in record["results"]:
        assert set(r["us"]) == set(parts.PARTS) and r["step_ms"] > 0
        assert all(len(v) == 2 and min(v) > 0 for v in r["rounds_us"].values())
    assert parts.table(record).splitlines()[-1] in done.stdout


def test_the_recorded_table_is_the_one_in_the_doc():
    record = json.loads((REPO / "docs/data/step_parts_stop47.json").read_text())
    assert parts.table(record) in (REPO / "docs/performance.md").read_text()
