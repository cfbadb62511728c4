"""The `algobench` command line, end to end on the smoke workload (real training, in seconds)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.cli import main
from harness.logs import LEADING_COLUMNS, read_events, read_trial

REPO = Path(__file__).resolve().parents[2]
ALGOBENCH = [sys.executable, "-m", "harness.cli"]


def algobench(*args, **kwargs):
    return subprocess.run([*ALGOBENCH, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=300, **kwargs)


def test_workloads_json_lists_the_registry(capsys):
    assert main(["workloads", "--json"]) == 0
    entries = {e["name"]: e for e in json.loads(capsys.readouterr().out)}
    assert {"cnn", "smoke"} <= set(entries)
    for entry in entries.values():
        for key in ("name", "base", "metric", "lower_is_better", "validation_target",
                    "test_target", "max_runtime_sec", "eval_period_sec", "step_hint"):
            assert key in entry
    assert entries["cnn"]["base"] is None and entries["cnn"]["metric"] == "accuracy"


def test_unknown_workload_is_one_clear_line(tmp_path):
    result = algobench("run", "submissions/nadamw", "--workload", "nope", "--framework", "jax",
                       "--out", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "unknown workload 'nope'" in result.stderr
    assert not any(tmp_path.iterdir())  # nothing written


def test_run_warns_when_the_host_stole_cpu_time_from_the_trial(capsys):
    from harness.cli import _print_result

    meta = {"submission": "nadamw", "workload": "cnn", "framework": "jax", "status": "completed",
            "stop_reason": "targets_reached",
            "final": {"global_step": 900, "time_to_target": 61.0, "host_steal_fraction": 0.32}}
    assert _print_result(meta) == 0
    out, err = capsys.readouterr()
    assert "time-to-target: 61.0 s  [jax cnn]" in out
    assert err.strip() == "warning: host steal 32% (contended host: repeat to time it)"
    meta["final"]["host_steal_fraction"] = 0.01
    assert _print_result(meta) == 0 and capsys.readouterr().err == ""


@pytest.mark.parametrize("framework", ["pytorch", "jax"])
def test_run_reaches_the_smoke_target_and_writes_its_logs(tmp_path, framework):
    result = algobench("run", "submissions/nadamw", "--workload", "smoke", "--framework",
                       framework, "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    match = re.search(r"time-to-target: ([0-9.]+) s", result.stdout)
    assert match and float(match.group(1)) > 0
    assert "validation accuracy" in result.stdout  # progress while training
    folder = tmp_path / "nadamw" / "external" / framework / "smoke" / "study_0" / "trial_0"
    trial = read_trial(folder)
    meta = trial["meta"]
    assert meta["status"] == "completed" and meta["stop_reason"] == "targets_reached"
    assert meta["final"]["time_to_target"] == pytest.approx(float(match.group(1)), abs=0.06)
    for key in ("hardware", "versions", "git_commit", "seed", "command"):
        assert key in meta
    assert meta["versions"]["torch" if framework == "pytorch" else "jax"] is not None
    hardware = meta["hardware"]  # PyTorch: one process; JAX: one host device per core
    assert hardware["num_devices"] == (1 if framework == "pytorch" else hardware["cores_used"])
    header = (folder / "eval_measurements.csv").read_text().splitlines()[0].split(",")
    assert header[: len(LEADING_COLUMNS)] == list(LEADING_COLUMNS)
    assert {"validation/accuracy", "test/accuracy", "train/loss"} <= set(header)
    assert trial["hparams"]["learning_rate"] > 0
    # a second run does not overwrite the finished trial
    before = (folder / "meta.json").read_text()
    again = algobench("run", "submissions/nadamw", "--workload", "smoke", "--framework",
                      framework, "--out", str(tmp_path))
    assert again.returncode == 0 and (folder / "meta.json").read_text() == before


def test_a_killed_run_resumes_from_its_checkpoint(tmp_path):
    hparams = tmp_path / "slow.json"  # a small learning rate: a few seconds to the target
    hparams.write_text(json.dumps({"learning_rate": 0.0003, "one_minus_beta1": 0.1, "beta2": 0.999,
                                   "weight_decay": 0.0, "warmup_factor": 0.0}))
    args = ["run", "submissions/nadamw", "--workload", "smoke", "--framework", "pytorch",
            "--out", str(tmp_path / "out"), "--hparams", str(hparams)]
    folder = tmp_path / "out" / "nadamw" / "external" / "pytorch" / "smoke" / "study_0" / "trial_0"
    process = subprocess.Popen([*ALGOBENCH, *args], cwd=REPO, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:
        events = folder / "events.jsonl"
        if events.exists() and sum(e["event"] == "checkpoint" for e in read_events(events)) >= 2:
            break
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    killed_rows = read_trial(folder)["evals"]
    assert read_trial(folder)["meta"]["status"] == "running"

    result = algobench(*args)
    assert result.returncode == 0, result.stderr
    trial = read_trial(folder)
    assert trial["meta"]["status"] == "completed"
    assert "resume" in [e["event"] for e in read_events(folder / "events.jsonl")]
    rows = trial["evals"]
    resumed = [r for r in rows if r["preemption_count"] == 1]
    assert resumed, "no evaluation after the resume"
    kept = [r for r in rows if r["preemption_count"] == 0]
    assert kept == killed_rows[: len(kept)]  # nothing already written was lost
    assert resumed[0]["score"] > kept[-1]["score"]  # the clock continued where it stopped
    steps = [r["global_step"] for r in rows]
    assert steps == sorted(set(steps))
