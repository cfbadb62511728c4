"""The measurement-resolution scripts (benchmarks/min_detectable_speedup.py, normalization_error.py,
resolution_table.py, calibrate.py): their statistics on known inputs, their reading of trial logs
made with the fake clock, and one tiny end-to-end run on `smoke` (correctness only, no timing)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness import calibration
from harness.trial import SKIP_CALIBRATION

from harness.logs import find_trial_folders, read_trial
from harness.runner import TrialRunner
from tests.benchmark_scripts import load_benchmark
from tests.harness.fakes import (FakeBackend, FakeClock, fake_task, make_spec, make_splits,
                                 make_submission)

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))  # resolution_table imports its sibling


mds = load_benchmark("min_detectable_speedup")
normalization = load_benchmark("normalization_error")
resolution_table = load_benchmark("resolution_table")
calibrate = load_benchmark("calibrate")


def fake_trial(out, study, *, step_cost=1.0, init_cost=2.0, **spec_overrides):
    clock = FakeClock()
    TrialRunner(fake_task(out, submission="nadamw", study=study), make_spec(**spec_overrides),
                make_submission(clock, init_cost=init_cost, step_cost=step_cost), FakeBackend(clock),
                splits=make_splits(), time_fn=clock, calibrate=False).run()


def test_the_variance_of_a_median_of_3_normal_draws():
    draws = np.median(np.random.default_rng(0).standard_normal((200_000, 3)), axis=1)
    assert mds.variance_of_median_of_3() == pytest.approx(draws.var(), rel=0.01)
    assert mds.variance_of_median_of_3() == pytest.approx(0.4487, abs=1e-4)


def test_the_minimum_detectable_speedup_of_a_known_spread():
    times = [math.exp(x) for x in (-0.1, 0.0, 0.1)]  # log-times with standard deviation 0.1
    expected = math.exp(1.959964 * math.sqrt(2 * 0.44867) * 0.1)
    assert mds.min_detectable_speedup(times) == pytest.approx(expected, rel=1e-4)
    assert mds.min_detectable_speedup([10.0, 10.0]) == 1.0
    assert mds.min_detectable_speedup([10.0]) is None


def test_facts_of_a_trial_read_at_a_snapshot(tmp_path):
    fake_trial(tmp_path, 0)
    (facts,) = mds.read_facts(tmp_path, "nadamw")
    # test_runner_timing: evals at steps 4 and 7 (the first step's, at 3 s, a snapshot); the
    # snapshot of step 6 (8 s) met the target, the snapshot of step 5 (7 s) before it did not
    assert facts["time_to_target"] == 8.0 and facts["evals_to_target"] == 2
    assert facts["resolution_sec"] == pytest.approx(1.0) and facts["eval_period_sec"] == 3.0
    assert 0.0 < facts["eval_share"] < 1.0
    assert facts["calibration_sec"] is None  # the fake trial skips the calibration
    trial = read_trial(find_trial_folders(tmp_path)[0])
    trial["meta"]["calibration"] = {"seconds": 0.0007, "host_id": "h"}
    assert mds.trial_facts(trial)["calibration_sec"] == 0.0007 and mds.trial_facts(trial)["host_id"] == "h"


def test_the_facts_give_what_a_validation_eval_alone_cost(tmp_path):
    # target 0.85: evals at steps 4, 7 and 10 (accuracy 0.1 k: met at 10); the eval of step 7
    # measured the validation split alone, 2 batches x 0.1 s; step 4's (the first) and step 10's
    # (test and train too) are left out
    fake_trial(tmp_path, 0, validation_target=0.85)
    (facts,) = mds.read_facts(tmp_path, "nadamw")
    evals = [r for r in read_trial(find_trial_folders(tmp_path)[0])["evals"] if not r["snapshot"]]
    assert [r["global_step"] for r in evals] == [4, 7, 10]
    assert facts["validation_eval_sec"] == pytest.approx(0.2)
    # the trial of the first test has no eval of the validation split alone after its first
    fake_trial(tmp_path / "short", 0)
    assert mds.read_facts(tmp_path / "short", "nadamw")[0]["validation_eval_sec"] is None


def test_summary_noise_json_and_the_table(tmp_path):
    for study, cost in enumerate((1.0, 1.0, 2.0)):  # times to target 8, 8 and 14 s
        fake_trial(tmp_path / "results", study, step_cost=cost)
    summary = mds.summarize(mds.read_facts(tmp_path / "results", "nadamw"))
    s = summary["fake", "fake"]
    assert (s["runs"], s["reached"], s["time_to_target"]) == (3, 3, 8.0)
    assert s["spread_cv"] == pytest.approx(np.std([8, 8, 14], ddof=1) / 10)
    assert s["min_detectable_speedup"] == pytest.approx(mds.min_detectable_speedup([8, 8, 14]))
    path = tmp_path / "noise.json"
    path.write_text(json.dumps({"other": {"jax": {"runs": 5}}}))
    noise = mds.write_noise(summary, path)
    assert noise["other"] == {"jax": {"runs": 5}}  # pairs not measured are kept
    assert set(noise["fake"]["fake"]) == {"runs", "spread_cv", "min_detectable_speedup", "host_id"}
    assert json.loads(path.read_text()) == noise
    table = resolution_table.table(summary, summary, [("later", summary)])
    assert s["validation_target"] == 0.55  # the target all three were timed to
    assert "| `fake` | fake | before | 0.55 | 3 (3) | 8.0 | 3.00 | 2 | 12.5% | 0.200 |" in table
    lines = table.splitlines()
    assert [line.split(" | ")[2] for line in lines[2:]] == ["before", "after", "later"]
    named = resolution_table.table(summary, summary, labels=("AlgoPerf's, stop 44", "this, stop 44"))
    assert [line.split(" | ")[2] for line in named.splitlines()[2:]] == ["AlgoPerf's, stop 44", "this, stop 44"]


def test_the_facts_name_the_eval_schedule_and_the_first_evals_cost(tmp_path):
    fake_trial(tmp_path / "results", 0)
    (fact,) = mds.read_facts(tmp_path / "results", "nadamw")
    first_row = min(read_trial(find_trial_folders(tmp_path / "results")[0])["evals"],
                    key=lambda r: r["global_step"])
    assert fact["eval_schedule"] == "snapshots"  # no spec_overrides: this project's schedule
    assert fact["first_eval_sec"] == first_row["accumulated_eval_time"] > 0
    # a target met at the first step's snapshot: its row comes first, the first eval after it
    fake_trial(tmp_path / "at_step_1", 0, init_cost=4.5, validation_target=0.1)
    (fact,) = mds.read_facts(tmp_path / "at_step_1", "nadamw")
    rows = sorted(read_trial(find_trial_folders(tmp_path / "at_step_1")[0])["evals"],
                  key=lambda r: r["global_step"])
    assert [r["snapshot"] for r in rows[:2]] == [1, 0] and fact["time_to_target"] == 5.5
    assert fact["first_eval_sec"] == rows[1]["accumulated_eval_time"] > rows[0]["accumulated_eval_time"]


def test_the_facts_record_reads_back_as_the_tree_and_merges(tmp_path):
    for study in (0, 1):
        fake_trial(tmp_path / "results", study)
    facts = mds.read_facts(tmp_path / "results", "nadamw")
    record = tmp_path / "facts.json"
    mds.write_facts(facts[:1], record)
    mds.write_facts(facts, record)  # the second write replaces the first trial, adds the other
    assert mds.read_facts(record, "nadamw") == sorted(facts, key=lambda f: f["study"])
    assert mds.read_facts(record, "other") == []
    first, second = tmp_path / "first.json", tmp_path / "second.json"  # e.g. one per framework
    mds.write_facts(facts[:1], first)
    mds.write_facts(facts[1:], second)
    table = subprocess.run([sys.executable, "benchmarks/resolution_table.py", "--after", str(first), str(second)],
                           cwd=REPO, capture_output=True, text=True, timeout=120)
    assert table.returncode == 0 and "| `fake` | fake | after | 0.55 | 2 (2) |" in table.stdout


def test_reference_times_take_the_faster_framework_on_the_reference_host_only():
    def fact(framework, study, time, host="ref"):
        return {"workload": "w", "framework": framework, "study": study, "time_to_target": time,
                "evals_to_target": 3, "resolution_sec": 0.1, "eval_period_sec": 1.0,
                "validation_target": 0.5, "eval_share": 0.1, "host_id": host}

    facts = ([fact("jax", i, t) for i, t in enumerate((10.0, 12.0, 11.0))]
             + [fact("pytorch", i, t) for i, t in enumerate((9.0, 13.0, 8.0))]
             + [fact("pytorch", 9, 1.0, host="other")]  # another host's seconds: left out
             + [dict(fact("jax", i, 5.0), workload="v") for i in range(2)]
             + [dict(fact("jax", 2, None), workload="v")])  # one run missed its target: no time
    record = resolution_table.reference_times(facts, "ref", ["a.json"])
    assert record["host_id"] == "ref" and record["sources"] == ["a.json"]
    assert record["workloads"] == {"w": {"seconds": 9.0, "framework": "pytorch", "runs": 3,
                                         "validation_target": 0.5}}


def test_the_eval_schedule_follows_the_recorded_reference_time(monkeypatch):
    from workloads import spec as spec_module

    monkeypatch.setitem(spec_module.REFERENCE_TIMES, "fake", 40.0)
    spec = make_spec(name="fake", eval_period_sec=None, max_runtime_sec=400.0)
    assert spec.reference_time_sec == 40.0
    assert (spec.eval_period_sec, spec.snapshot_period_sec) == (5.0, 1.0)  # T/8 and T/40
    other = make_spec(name="unrecorded", eval_period_sec=None, max_runtime_sec=400.0)
    assert (other.eval_period_sec, other.snapshot_period_sec) == (10.0, 1.0)  # budget/40, /10
    # a variant gets its own schedule, not its base's
    from workloads.spec import variant
    wide = variant(spec, "fake_wide", validation_target=0.5, test_target=0.5)
    assert wide.reference_time_sec is None and wide.eval_period_sec == 10.0
    # every base workload has a recorded reference time: resolution 2.5% of it
    from workloads.registry import BASE_WORKLOADS, get_spec
    for name in BASE_WORKLOADS:
        base = get_spec(name)
        assert base.snapshot_period_sec == pytest.approx(base.reference_time_sec / 40)


def test_the_table_replaces_only_its_markers(tmp_path):
    doc = tmp_path / "scoring.md"
    doc.write_text(f"intro\n{resolution_table.START}\nold\n{resolution_table.END}\nrest\n")
    resolution_table.write(doc, "| new |")
    assert doc.read_text() == f"intro\n{resolution_table.START}\n| new |\n{resolution_table.END}\nrest\n"


def test_normalization_compares_predicted_and_measured_ratios():
    def meta(seconds, submission, steps, ttt):
        return {"calibration": {"seconds": seconds},
                "final": {"accumulated_submission_time": submission, "global_step": steps,
                          "time_to_target": ttt}}

    row = normalization.compare(meta(0.2, 40.0, 100, 36.0), meta(0.1, 22.0, 110, 20.0))
    assert row["predicted"] == pytest.approx(2.0)
    assert row["step_ratio"] == pytest.approx(0.4 / 0.2)
    assert row["step_error"] == pytest.approx(0.0, abs=1e-12)
    assert row["ttt_ratio"] == pytest.approx(1.8) and row["ttt_error"] == pytest.approx(2.0 / 1.8 - 1)


def test_a_given_prediction_replaces_the_calibrations():
    def meta(submission_time, steps):
        return {"calibration": {"seconds": 1.0},
                "final": {"accumulated_submission_time": submission_time, "global_step": steps,
                          "time_to_target": submission_time}}

    row = normalization.compare(meta(44.0, 100), meta(20.0, 100), predicted=2.0)
    assert row["predicted"] == 2.0 and row["step_error"] == pytest.approx(2.0 / 2.2 - 1)


def test_the_normalization_doc_table_summarizes_each_workload():
    def meta(seconds, submission, steps, ttt, host):
        return {"calibration": {"seconds": seconds, "host_id": f"vm | {host} | family 1 | avx"},
                "final": {"accumulated_submission_time": submission, "global_step": steps,
                          "time_to_target": ttt}}

    pairs = []
    for seed, (a_time, b_time) in enumerate([(20.0, 10.0), (30.0, 10.0), (40.0, 10.0)]):
        a, b = meta(0.2, a_time, 100, a_time, "A"), meta(0.1, b_time, 100, b_time, "B")
        pairs.append((("cnn", "pytorch", seed, None), a, b, normalization.compare(a, b)))
    text = normalization.doc_table(("new", "old"), pairs)
    assert text.startswith("`new` (A family 1) against `old` (B family 1)")
    # predicted 2.0; measured 2, 3, 4: median 3, so the error of the medians is 2/3 - 1
    assert "| `cnn` | pytorch | 3 | 2.000 | 3.000 [2.000, 4.000] | -33.3% | 3.000 [2.000, 4.000] | -33.3% |" in text
    assert "median |error| 33.3%, largest 50.0%" in text


def test_calibration_spread_and_reference(tmp_path):
    assert calibrate.spread([1.0, 1.0]) == (0.0, 0.0)
    records = [{"design": "cores", "threads": None, "host_id": "h", "seconds": s,
                "median_over_seconds": 1.5, "calibration_sec": 0.5, "measured_at": "t"}
               for s in (0.1, 0.3, 0.2)]
    reference = calibrate.write_reference(records, tmp_path / "ref.json")
    assert reference["seconds"] == 0.2 and reference["calibrations"] == 3
    assert calibration.reference_seconds(tmp_path / "ref.json") == 0.2
    assert "| 3 | 0.200000 | 50.0% | 100.0% | 1.50 | 0.50 |" in calibrate.table(records)
    # records of the earlier designs (per framework, per workload) are not this design's
    old = {k: v for k, v in records[0].items() if k != "design"}
    assert calibrate.mine([{**old, "framework": "jax"}, {**old, "workload": "cnn"}], "h", None) == []


def test_the_scripts_end_to_end_on_smoke(tmp_path):
    """Two seeds of `smoke` in PyTorch, then the normalization pair: correctness only."""
    python = sys.executable
    noise = tmp_path / "noise.json"
    done = subprocess.run(
        [python, "benchmarks/min_detectable_speedup.py", "--workloads", "smoke", "--frameworks",
         "pytorch", "--seeds", "2", "--out", str(tmp_path / "noise"), "--noise-json", str(noise)],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "| `smoke` | pytorch | 2 (2) |" in done.stdout
    assert json.loads(noise.read_text())["smoke"]["pytorch"]["runs"] == 2
    again = subprocess.run(  # resumes: both trials are reused, nothing runs again
        [python, "benchmarks/min_detectable_speedup.py", "--workloads", "smoke", "--frameworks",
         "pytorch", "--seeds", "2", "--out", str(tmp_path / "noise"), "--noise-json", str(noise)],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and again.stdout.count(": ok") == 2
    table = subprocess.run(
        [python, "benchmarks/resolution_table.py", "--after", str(tmp_path / "noise")],
        cwd=REPO, capture_output=True, text=True, timeout=120)
    assert table.returncode == 0 and "| `smoke` | pytorch | after | 0.93 | 2 (2) |" in table.stdout
    calibrated = {k: v for k, v in os.environ.items() if k != SKIP_CALIBRATION}  # it compares calibrations
    for label in ("host_a", "host_b"):  # two runs, as on two hosts
        norm = subprocess.run(
            [python, "benchmarks/normalization_error.py", "--workloads", "smoke", "--frameworks",
             "pytorch", "--seeds", "1", "--out", str(tmp_path / "norm"), "--label", label],
            cwd=REPO, capture_output=True, text=True, timeout=600, env=calibrated)
        assert norm.returncode == 0 and f"{label}: seed 0 smoke pytorch: ok" in norm.stdout, norm.stderr
    assert "labels there: host_a, host_b" in norm.stdout
    pair = subprocess.run(
        [python, "benchmarks/normalization_error.py", "--out", str(tmp_path / "norm"),
         "--pair", "host_a", "host_b", "--record", str(tmp_path / "norm.json")],
        cwd=REPO, capture_output=True, text=True, timeout=120)
    assert pair.returncode == 0, pair.stderr
    assert "| nadamw | `smoke` | pytorch | 0 |" in pair.stdout and "step_error: median" in pair.stdout
    record = json.loads((tmp_path / "norm.json").read_text())["calibration"]
    assert "host_a against host_b" in record["configurations"] and record["what"] == "time to target"
