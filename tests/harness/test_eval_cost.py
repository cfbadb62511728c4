"""benchmarks/eval_cost.py: one tiny run on `smoke` in both frameworks (correctness only, no timing):
every split is evaluated as the harness evaluates it, and the record and table name each."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_a_tiny_run_on_smoke_times_every_split(tmp_path):
    out = tmp_path / "eval_cost.json"
    done = subprocess.run([sys.executable, "benchmarks/eval_cost.py", "--workloads", "smoke",
                           "--repeats", "1", "--steps", "2", "--warmup", "1", "--evals", "1",
                           "--out", str(out)], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    record = json.loads(out.read_text())
    assert record["host_id"] and [(m["workload"], m["framework"]) for m in record["measurements"]] == [
        ("smoke", "pytorch"), ("smoke", "jax")]
    for measurement in record["measurements"]:
        (only,) = measurement["values"]
        assert only["seconds_per_step"] > 0 and only["metric"] > 0
        assert all(only[split] > 0 for split in ("validation", "train", "test"))
        # the train subset is as large as the validation split, as in a trial
        assert only["examples"]["train"] == only["examples"]["validation"] > 0
    assert "| smoke | pytorch |" in done.stdout and "| smoke | jax |" in done.stdout
