"""benchmarks/eval_cost.py: one tiny run on `smoke` in both frameworks (correctness only, no timing):
every split is evaluated as the harness evaluates it, and the record and table name each."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_benchmark(script: str, *args: str) -> subprocess.CompletedProcess:
    """benchmarks/`script` with `args`, from the repository root; it must exit 0."""
    done = subprocess.run([sys.executable, f"benchmarks/{script}", *args], cwd=REPO,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def test_a_tiny_run_on_smoke_times_every_split(tmp_path):
    out = tmp_path / "eval_cost.json"
    done = run_benchmark("eval_cost.py", "--workloads", "smoke", "--repeats", "1", "--steps", "2",
                         "--warmup", "1", "--evals", "1", "--out", str(out))
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


def test_eval_batch_sizes_are_compared_in_one_process(tmp_path):
    out = tmp_path / "eval_cost.json"
    done = run_benchmark("eval_cost.py", "--workloads", "smoke", "--frameworks", "pytorch", "--repeats", "1",
                         "--steps", "2", "--warmup", "1", "--evals", "2",
                         "--compare-eval-batch-sizes", "300", "100", "--out", str(out))
    (measurement,) = json.loads(out.read_text())["measurements"]
    (only,) = measurement["values"]
    assert set(only["validation_by_batch_size"]) == {"300", "100"}
    assert all(seconds > 0 for seconds in only["validation_by_batch_size"].values())
    assert "smoke        pytorch  300: " in done.stdout and "(1.000)" in done.stdout


def test_step_time_measures_jax_on_other_numbers_of_host_devices(tmp_path):
    out = tmp_path / "step_time.json"
    done = run_benchmark("step_time.py", "--workloads", "smoke", "--repeats", "1", "--steps", "2",
                         "--warmup", "1", "--jax-host-devices", "1", "--out", str(out))
    measured = {m["framework"]: m["values"] for m in json.loads(out.read_text())["ms_per_step"]}
    assert set(measured) == {"pytorch", "jax", "jax:1"} and all(v[0] > 0 for v in measured.values())
    assert "| smoke | 1 host devices |" in done.stdout


def test_step_time_measures_jax_with_more_xla_flags(tmp_path):
    out = tmp_path / "step_time.json"
    flags = "--xla_cpu_multi_thread_eigen=false"
    done = run_benchmark("step_time.py", "--workloads", "smoke", "--repeats", "1", "--steps", "2",
                         "--warmup", "1", f"--jax-xla-flags={flags}", "--out", str(out))
    measured = {m["framework"]: m["values"] for m in json.loads(out.read_text())["ms_per_step"]}
    assert set(measured) == {"pytorch", "jax", f"jax+{flags}"} and all(v[0] > 0 for v in measured.values())
    assert f"| smoke | `{flags}` |" in done.stdout
