"""The host calibration (harness/calibration.py) and the schedule it scales, with a fake clock.

The calibration's product is replaced by one that costs `CALL` fake seconds (1/32, exact in
binary), so a block of `CALLS_PER_BLOCK` calls takes 0.125 s, the calibration measures exactly
that, and a reference of half of it makes a host twice as slow."""

from __future__ import annotations

import json
import os
import time

import pytest

from harness import calibration
from harness.logs import read_trial
from harness.runner import TrialRunner
from tests.harness.fakes import (FakeBackend, FakeClock, fake_task, make_spec, make_splits,
                                 make_submission)

CPUINFO = """processor\t: 0
model name\t: Intel(R) Xeon(R) Processor
cpu family\t: 6
model\t\t: 143
stepping\t: 8
flags\t\t: fpu sse4_2 avx avx2 fma avx512f amx_tile

processor\t: 1
"""


BLOCK = 0.125  # fake seconds a calibration block takes
CALL = BLOCK / calibration.CALLS_PER_BLOCK


def fake_product(monkeypatch, clock, cost=CALL):
    """The calibration's product, costing `cost` fake seconds a call."""
    monkeypatch.setattr(calibration, "product_work", lambda: lambda: clock.advance(cost))


def reference_file(tmp_path, seconds):
    path = tmp_path / "reference.json"
    path.write_text(json.dumps({"seconds": seconds, "host_id": "ref"}))
    return str(path)


def run(tmp_path, clock, *, reference, calibrate=True, folder="trial", ruleset="external", **spec):
    task = fake_task(tmp_path / folder, ruleset=ruleset)
    trial = TrialRunner(task, make_spec(**spec), make_submission(clock), FakeBackend(clock),
                        splits=make_splits(), time_fn=clock, calibrate=calibrate,
                        calibration_reference=reference)
    return trial.run(), read_trial(task.folder)


def test_a_host_twice_as_slow_gets_twice_the_budget_and_eval_periods(tmp_path, monkeypatch):
    clock = FakeClock()
    fake_product(monkeypatch, clock)
    meta, logs = run(tmp_path, clock, reference=reference_file(tmp_path, 0.0625),
                     validation_target=2.0, max_runtime_sec=10.0)
    record = meta["calibration"]
    assert record["seconds"] == pytest.approx(0.125) and record["reference_seconds"] == 0.0625
    assert record["speed_factor"] == pytest.approx(2.0)
    groups = calibration.ROUNDS * len(os.sched_getaffinity(0))
    assert record["groups"] == groups and record["blocks"] == groups * calibration.BLOCKS_PER_ROUND
    assert record["q10_over_seconds"] == 1.0 and record["median_over_seconds"] == 1.0
    assert record["host_id"] == calibration.host_id()
    assert meta["time_scale"] == pytest.approx(2.0)
    assert meta["reference_budget_sec"] == 10.0 and meta["budget_sec"] == pytest.approx(20.0)
    assert meta["eval_period_sec"] == pytest.approx(6.0)
    assert meta["snapshot_period_sec"] == pytest.approx(0.6)
    # 1 s steps: evals every 6 s, the budget after 20 steps
    assert [r["global_step"] for r in logs["evals"]] == [6, 12, 18, 20]
    assert meta["final"]["global_step"] == 20 and meta["stop_reason"] == "budget"
    # the calibration is off the clock: warm-ups and blocks of every group in the setup account
    calls = groups * (calibration.WARM_UP_CALLS + calibration.BLOCKS_PER_ROUND * calibration.CALLS_PER_BLOCK)
    assert meta["final"]["accumulated_setup_time"] == pytest.approx(calls * CALL)
    assert meta["final"]["accumulated_submission_time"] == pytest.approx(20.0)


def test_without_a_reference_the_trial_runs_unscaled_and_says_so(tmp_path, monkeypatch):
    clock = FakeClock()
    fake_product(monkeypatch, clock)
    meta, _ = run(tmp_path, clock, reference=str(tmp_path / "absent.json"), validation_target=2.0,
                  max_runtime_sec=10.0, ruleset="self")
    assert meta["calibration"]["seconds"] == pytest.approx(0.125)
    assert meta["calibration"]["reference_seconds"] is None
    assert meta["calibration"]["speed_factor"] is None
    assert meta["time_scale"] == 1.0 and "no reference" in meta["time_scale_note"]
    assert meta["budget_sec"] == 15.0 and meta["final"]["global_step"] == 15


def test_calibration_is_skipped_only_when_asked(tmp_path):
    clock = FakeClock()
    meta, _ = run(tmp_path, clock, reference=reference_file(tmp_path, 0.0625), calibrate=False,
                  validation_target=2.0, max_runtime_sec=10.0)
    assert meta["calibration"] is None and meta["time_scale"] == 1.0
    assert meta["budget_sec"] == 10.0 and "skipped" in meta["time_scale_note"]
    assert meta["final"]["accumulated_setup_time"] == 0.0


def test_a_resumed_trial_keeps_its_first_calibration(tmp_path, monkeypatch):
    clock = FakeClock()
    fake_product(monkeypatch, clock)
    reference = reference_file(tmp_path, 0.0625)
    task, spec = fake_task(tmp_path / "t"), make_spec(validation_target=2.0, max_runtime_sec=10.0)
    with pytest.raises(KeyboardInterrupt):  # killed at step 8, after the checkpoint of step 6
        TrialRunner(task, spec, make_submission(clock, interrupt_at=8),
                    FakeBackend(clock), splits=make_splits(), time_fn=clock,
                    calibration_reference=reference).run()
    # the resumed trial lands on a host whose product is 3x slower: its scale stays 2
    fake_product(monkeypatch, clock, 3 * CALL)
    meta = TrialRunner(task, spec, make_submission(clock), FakeBackend(clock),
                       splits=make_splits(), time_fn=clock, calibration_reference=reference).run()
    assert meta["calibration"]["speed_factor"] == pytest.approx(2.0)
    assert meta["budget_sec"] == pytest.approx(20.0) and meta["final"]["global_step"] == 20


def test_measure_times_blocks_after_a_warm_up_and_keeps_the_fastest():
    clock = FakeClock()
    costs = iter([5.0, 5.0, 1.0, 1.0, 2.0, 0.5, 3.0, 3.0])
    times = calibration.measure(lambda: clock.advance(next(costs)), clock, blocks=3,
                                calls_per_block=2, warm_up=2)
    assert times == [2.0, 2.5, 6.0]
    assert calibration.record([times], None, "h")["speed_factor"] is None


def test_the_calibration_is_the_median_of_the_groups_fastest_blocks():
    # three groups (rounds x cores) whose fastest blocks are 2, 3 and 10: one slow episode
    groups = [[2.0, 2.5, 6.0], [3.0, 4.0, 3.5], [10.0, 12.0, 11.0]]
    record = calibration.record(groups, 4.0, "h")
    assert record["seconds"] == 3.0 and record["speed_factor"] == pytest.approx(0.75)
    assert record["groups"] == 3 and record["blocks"] == 9
    assert record["slowest_group_over_seconds"] == pytest.approx(10 / 3)
    assert record["median_over_seconds"] == pytest.approx(4.0 / 3)


def test_measure_cores_runs_every_core_in_turn_and_restores_the_affinity(monkeypatch):
    cores = sorted(os.sched_getaffinity(0))
    seen = []
    clock = FakeClock()

    def work():
        seen.append(os.sched_getaffinity(0))
        clock.advance(CALL)
    groups = calibration.measure_cores(clock, work, rounds=2, blocks=3, warm_up=1)
    assert len(groups) == 2 * len(cores) and all(len(g) == 3 for g in groups)
    calls = 1 + 3 * calibration.CALLS_PER_BLOCK
    assert [s for s in seen[::calls]] == [{c} for c in cores] * 2
    assert sorted(os.sched_getaffinity(0)) == cores


def test_the_real_product_is_measured_on_one_blas_thread():
    from threadpoolctl import threadpool_info

    threads = []
    work = calibration.product_work()

    def spy():
        threads.append([pool["num_threads"] for pool in threadpool_info()])
        return work()
    groups = calibration.measure_cores(time.perf_counter, spy, rounds=1, blocks=2, warm_up=0)
    assert all(t == [1] * len(t) for t in threads) and all(b > 0 for g in groups for b in g)


def test_host_id_names_the_host_the_cpu_and_its_vector_instructions():
    host = calibration.host_id(CPUINFO, hostname="node7")
    assert host == ("node7 | Intel(R) Xeon(R) Processor | family 6 model 143 stepping 8 | "
                    "sse4_2,avx,avx2,fma,avx512f,amx_tile")


def test_a_broken_reference_file_is_named(tmp_path):
    path = tmp_path / "reference.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match="reference.json.*calibrate.py"):
        calibration.reference_seconds(path)
    assert calibration.reference_seconds(tmp_path / "absent.json") is None
    path.write_text(json.dumps({"pytorch": {"seconds": 1.0}}))  # the older per-framework file
    with pytest.raises(ValueError, match="reference.json.*--write-reference"):
        calibration.reference_seconds(path)


def test_the_calibration_length_benchmark_pairs_designs_with_the_first():
    from tests.benchmark_scripts import load_benchmark

    bench = load_benchmark("calibration_length")
    assert bench.parse_design("3x16") == (3, 16)
    results = bench.compare([(1, 3), (1, 2)], pairs=2)
    assert list(results) == ["1x3", "1x2"] and all(len(runs) == 2 for runs in results.values())
    rows = bench.summarize(results)
    assert rows[0]["ratio_median"] == 1.0 and rows[1]["wall_sec"] > 0
    assert "| 1x2 |" in bench.table(rows)


def test_the_recorded_calibration_length_table_is_the_one_in_the_doc():
    import json

    from harness.calibration import REPO_ROOT
    from tests.benchmark_scripts import load_benchmark

    bench = load_benchmark("calibration_length")
    record = json.loads((REPO_ROOT / "docs/data/calibration_length_stop48.json").read_text())
    assert bench.recorded_table(record) in (REPO_ROOT / "docs/scoring.md").read_text()
