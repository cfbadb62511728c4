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

from algobench.cli import main
from harness import calibration
from harness.trial import SKIP_CALIBRATION
from harness.logs import LEADING_COLUMNS, read_events, read_trial
from tests.harness.tuning_submissions import make_submission

REPO = Path(__file__).resolve().parents[2]
ALGOBENCH = [sys.executable, "-m", "algobench.cli"]


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


def test_a_mistyped_workload_gets_a_suggestion(tmp_path, capsys):
    assert main(["run", "submissions/nadamw", "--workload", "smoek", "--framework", "pytorch",
                 "--out", str(tmp_path)]) == 2
    assert "unknown workload 'smoek'; did you mean 'smoke'?" in capsys.readouterr().err
    assert main(["tune", "submissions/nadamw", "--workloads", "cnn_sliu", "--framework", "jax",
                 "--out", str(tmp_path / "t")]) == 2
    assert "did you mean 'cnn_silu'?" in capsys.readouterr().err
    assert main(["run", "submissions/nadamv", "--workload", "smoke", "--framework", "pytorch",
                 "--out", str(tmp_path)]) == 2
    assert "did you mean submissions/nadamw?" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_workloads_lists_the_variants_waiting_for_targets(capsys, monkeypatch):
    import dataclasses

    from algobench import cli

    assert main(["workloads"]) == 0
    assert "waiting for targets: none" in capsys.readouterr().out
    pending = dataclasses.replace(cli.REGISTRY["cnn"], name="cnn_new", base="cnn",
                                  validation_target=None, test_target=None)
    monkeypatch.setattr(cli, "PENDING", {"cnn_new": pending})
    assert main(["workloads"]) == 0
    out = capsys.readouterr().out
    assert "waiting for targets (only `algobench set-targets NAME --out DIR` runs them):" in out
    assert re.search(r"^  cnn_new +cnn +accuracy$", out, flags=re.M)
    assert main(["workloads", "--json"]) == 0
    entries = {e["name"]: e for e in json.loads(capsys.readouterr().out)}
    assert entries["cnn_new"]["pending"] is True and entries["cnn"]["pending"] is False


def test_tune_dry_run_prints_the_plan_and_its_time_and_writes_nothing(tmp_path, capsys):
    from harness.study import recorded_times

    out = tmp_path / "out"
    assert main(["tune", "submissions/nadamw", "--workloads", "cnn", "smoke", "--framework",
                 "pytorch", "jax", "--studies", "1", "--trials", "2", "--out", str(out),
                 "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "plan: 8 trials: nadamw, external tuning, pytorch/jax, cnn, smoke" in text
    from harness.study import format_duration
    from workloads.registry import get_spec

    cnn, smoke = get_spec("cnn").max_runtime_sec, get_spec("smoke").max_runtime_sec
    recorded = recorded_times()[("cnn", "jax")]["time_to_target"]  # docs/workloads.md's table
    assert (f"jax cnn: 2 trials, budget {cnn:g} s each; NAdamW reached its target in "
            f"{recorded:g} s") in text
    assert f"pytorch smoke: 2 trials, budget {smoke:g} s each; no recorded time" in text
    assert re.search(r"estimated time \(1 trial at a time.*\): .* if every trial takes as long "
                     r"as the reference baseline \(docs/workloads.md\), at most "
                     + format_duration(4 * cnn + 4 * smoke), text)
    assert "dry run: nothing was run or written" in text and not out.exists()


def test_recorded_times_read_both_tables_of_the_workloads_page(tmp_path):
    from harness.study import recorded_times

    page = tmp_path / "workloads.md"
    page.write_text(
        "| workload | task | params | metric | targets | budget | eval | hint | NAdamW, PyTorch | JAX |\n"
        "| `cnn` | x | 1 | acc | 0.9 / 0.9 | 300 s | 10 s | 1500 | 40 s (1/1) | 41 s (1/1) |\n"
        "| `cnn_silu` (variant of `cnn`) | x | 1 | acc | 0.9 / 0.9 | 220 s | 7 s | 1500 | not measured | 51 s (1/1) |\n"
        "| `cnn` | 72.1 [57.0, 203.8] | 59.8 [49.2, 100.3] | 0.83x |\n"
        "| `cnn` | ResNet on ImageNet | below |\n")
    assert recorded_times(page) == {
        ("cnn", "pytorch"): {"time_to_target": 40.0, "ms_per_step": 72.1},
        ("cnn", "jax"): {"time_to_target": 41.0, "ms_per_step": 59.8},
        ("cnn_silu", "jax"): {"time_to_target": 51.0}}
    assert recorded_times(tmp_path / "absent.md") == {}


def test_run_warns_when_the_host_stole_cpu_time_from_the_trial(capsys):
    from algobench.cli import _print_result

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
def test_run_reaches_the_smoke_target_and_writes_its_logs(tmp_path, framework, monkeypatch):
    monkeypatch.delenv(SKIP_CALIBRATION)  # this test checks the real calibration
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
    record = meta["calibration"]  # measured before the timed loop
    assert record["blocks"] > 0 and record["seconds"] > 0
    assert record["host_id"] == calibration.host_id()
    assert meta["time_scale_note"] != "unscaled: no calibration (skipped)"
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
    # other hyperparameters into the same folder: refused, naming the folder; nothing written
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**trial["hparams"], "learning_rate": 0.0123}))
    refused = algobench("run", "submissions/nadamw", "--workload", "smoke", "--framework",
                        framework, "--out", str(tmp_path), "--hparams", str(other))
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    assert f"{folder}: holds a finished trial run with other hyperparameters" in refused.stderr
    assert (folder / "meta.json").read_text() == before
    assert read_trial(folder)["hparams"] == trial["hparams"]


def test_run_under_algoperfs_eval_schedule_records_it(tmp_path):
    from workloads.registry import get_spec

    result = algobench("run", "submissions/nadamw", "--workload", "smoke", "--framework", "pytorch",
                       "--out", str(tmp_path), "--eval-schedule", "algoperf")
    assert result.returncode == 0, result.stderr
    trial = read_trial(tmp_path / "nadamw" / "external" / "pytorch" / "smoke" / "study_0" / "trial_0")
    meta, rows = trial["meta"], trial["evals"]
    assert meta["spec_overrides"] == {"eval_schedule": "algoperf", "eval_period_sec": None,
                                      "snapshot_period_sec": None}
    assert meta["eval_period_sec"] == pytest.approx(get_spec("smoke").max_runtime_sec / 30)
    assert rows and not any(r["snapshot"] for r in rows)
    assert all(r[f"{split}/accuracy"] is not None for r in rows for split in ("train", "validation", "test"))


def test_a_killed_run_resumes_from_its_checkpoint(tmp_path):
    # NAdamW that sleeps 0.05 s a step until the file `fast` exists: at most 10 steps an eval
    # period, so two checkpoints come long before the target on any machine; made after the kill,
    # so that the resumed run reaches the target in a few seconds instead of using its budget
    fast = tmp_path / "fast"
    submission = make_submission(tmp_path, [{"mode": "slow", "sleep": 0.05, "fast_after": str(fast)}],
                                 frameworks=("pytorch",))
    args = ["run", str(submission), "--workload", "smoke", "--framework", "pytorch",
            "--out", str(tmp_path / "out")]
    folder = tmp_path / "out" / "modal" / "external" / "pytorch" / "smoke" / "study_0" / "trial_0"
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

    fast.touch()
    result = algobench(*args)
    assert result.returncode == 0, result.stderr
    trial = read_trial(folder)
    assert trial["meta"]["status"] == "completed"
    assert trial["meta"]["stop_reason"] == "targets_reached"  # not its budget: the fast finish
    # the suite's trials run without calibration (tests/conftest.py), and their meta.json says so
    assert trial["meta"]["calibration"] is None
    assert trial["meta"]["time_scale_note"] == "unscaled: no calibration (skipped)"
    assert "resume" in [e["event"] for e in read_events(folder / "events.jsonl")]
    rows = trial["evals"]
    resumed = [r for r in rows if r["preemption_count"] == 1]
    assert resumed, "no evaluation after the resume"
    kept = [r for r in rows if r["preemption_count"] == 0]
    assert kept == killed_rows[: len(kept)]  # nothing already written was lost
    assert resumed[0]["score"] > kept[-1]["score"]  # the clock continued where it stopped
    steps = [r["global_step"] for r in rows]
    assert steps == sorted(set(steps))


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_a_run_stopped_by_a_signal_says_so_and_stays_resumable(tmp_path, stop):
    # A submission that sleeps 20 ms a step (tests/harness/tuning_submissions.py) and never ends
    # training: the trial lasts its whole budget, so the signal after its first checkpoint always
    # finds it running. (NAdamW with a small learning rate, before, could end within the poll
    # between the checkpoint and the signal on a fast host: the run then exited 0.)
    submission = make_submission(tmp_path, [{"mode": "slow", "sleep": 0.02, "learning_rate": 0.0003}],
                                 frameworks=("pytorch",))
    folder = tmp_path / "out" / "modal" / "external" / "pytorch" / "smoke" / "study_0" / "trial_0"
    process = subprocess.Popen(
        [*ALGOBENCH, "run", str(submission), "--workload", "smoke", "--framework", "pytorch",
         "--out", str(tmp_path / "out")],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        events = folder / "events.jsonl"
        if events.exists() and any(e["event"] == "checkpoint" for e in read_events(events)):
            break
        time.sleep(0.05)
    process.send_signal(stop)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert err.strip().count("\n") == 0, err  # one line, no traceback
    assert err.startswith(f"interrupted: the trial in {folder} stopped and resumes from its last "
                          "checkpoint; run the same command again")
    assert "hyperparameters {" in out and '"learning_rate": 0.0003' in out
    meta = read_trial(folder)["meta"]
    assert meta["status"] == "running"  # not failed: the next run resumes it
    assert any((folder / "checkpoint").iterdir())


def test_progress_lines_say_when_the_test_split_is_not_measured_yet(capsys):
    from algobench.cli import _progress_printer

    on_eval = _progress_printer("pytorch", "cnn", "accuracy", 0.895)
    row = {"global_step": 169, "score": 7.5, "validation/accuracy": 0.79, "test/accuracy": float("nan")}
    on_eval(row)
    on_eval({**row, "validation/accuracy": 0.9, "test/accuracy": 0.8912})
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("(target 0.895)  test not measured yet")
    assert lines[1].endswith("(target 0.895)  test 0.8912")
