"""The runner's timing rules, driven by a fake clock: what is on the clock, when evals and
snapshots happen, which splits each eval measures, when training stops, and that the accounts add
up to the wall time.

The fake spec's eval period is 3 s, so its snapshot period is 0.3 s: with 1 s steps, a snapshot
after every step between evals."""

from __future__ import annotations

import math

import pytest

from harness.logs import TIME_ACCOUNTS, read_trial
from harness.runner import TrialRunner
from tests.harness.fakes import (FakeBackend, FakeClock, fake_task, make_spec, make_splits,
                                 make_submission)


def run(tmp_path, clock, submission, *, ruleset="external", folder="trial", calibrate=False,
        **spec_overrides):
    task = fake_task(tmp_path / folder, ruleset=ruleset, hyperparameters={"learning_rate": 0.1})
    trial = TrialRunner(task, make_spec(**spec_overrides), submission, FakeBackend(clock),
                        splits=make_splits(), time_fn=clock, calibrate=calibrate)
    return trial.run(), read_trial(task.folder)


def column(evals, name):
    return [row[name] for row in evals]


def evals(logs):
    """The eval rows that are evals (not snapshots)."""
    return [row for row in logs["evals"] if not row["snapshot"]]


def test_init_optimizer_state_and_steps_are_on_the_clock_evals_are_not(tmp_path):
    clock = FakeClock()
    meta, logs = run(tmp_path, clock, make_submission(clock, init_cost=2.0))
    # submission time after step k is 2 + k; evals when 3 s have passed since the last one: the
    # one due at the first step's end (3 s) is a snapshot instead, then steps 4 (6 s), 7 (9 s);
    # accuracy = 0.1 k reaches 0.55 and 0.5 at step 7; the snapshots of steps 5 (0.5) and 6 (0.6)
    # are then evaluated: step 6 met the target at 8 s.
    assert column(evals(logs), "global_step") == [4, 7]
    assert column(logs["evals"], "global_step") == [4, 5, 6, 7]
    assert column(logs["evals"], "snapshot") == [0, 1, 1, 0]
    assert column(logs["evals"], "score") == pytest.approx([6.0, 7.0, 8.0, 9.0])
    # evals are never on the submission clock: 2 batches x 0.1 s per split; the validation split
    # alone until the target is met, then the snapshots (0.2 s each), train and test (0.4 s)
    assert column(evals(logs), "accumulated_eval_time") == pytest.approx([0.2, 1.2])
    assert meta["stop_reason"] == "targets_reached" and meta["status"] == "completed"
    assert meta["final"]["time_to_target"] == pytest.approx(8.0)
    assert meta["final"]["global_step"] == 7
    steal = meta["final"]["host_steal_fraction"]  # the host's steal while the loop ran
    assert steal is None or 0.0 <= steal <= 1.0


def test_data_selection_is_on_the_clock(tmp_path):
    clock = FakeClock()
    meta, logs = run(tmp_path, clock, make_submission(clock, select_cost=0.5))
    # each step costs 1.5 s: evals at steps 2 (3.0 s), 4 (6.0 s), 6 (9.0 s) -> targets at step 6;
    # the snapshot of step 5 (accuracy 0.5) is evaluated and misses
    assert column(evals(logs), "global_step") == [2, 4, 6]
    assert column(logs["evals"], "score") == pytest.approx([3.0, 6.0, 7.5, 9.0])
    assert meta["final"]["time_to_target"] == pytest.approx(9.0)


def test_prepare_for_eval_is_on_the_clock(tmp_path):
    clock = FakeClock()
    meta, logs = run(tmp_path, clock, make_submission(clock, prepare_cost=0.5))
    # step 3 -> 3.0 s, + prepare 0.5 = 3.5; next eval when 3 s more: step 6 -> 6.5 + 0.5 = 7.0
    assert column(evals(logs), "global_step") == [3, 6]
    assert column(evals(logs), "score") == pytest.approx([3.5, 7.0])
    # the snapshots of steps 4 (4.5 s) and 5 (5.5 s) are charged the prepare an eval there takes
    snapshots = [row for row in logs["evals"] if row["snapshot"]]
    assert column(snapshots, "global_step") == [4, 5]
    assert column(snapshots, "score") == pytest.approx([5.0, 6.0])
    # the prepare calls on snapshots are off the clock: the trial's own two only
    assert meta["final"]["accumulated_submission_time"] == pytest.approx(7.0)


def test_accounts_add_up_to_the_wall_time(tmp_path):
    clock = FakeClock()
    start = clock.now
    meta, logs = run(tmp_path, clock, make_submission(clock, init_cost=1.0, select_cost=0.25))
    final = meta["final"]
    accounts = [final[f"accumulated_{name}_time"] for name in TIME_ACCOUNTS]
    assert sum(accounts) == pytest.approx(final["total_duration"])
    assert final["total_duration"] == pytest.approx(clock.now - start)
    for row in logs["evals"]:
        assert sum(row[f"accumulated_{n}_time"] for n in TIME_ACCOUNTS) == pytest.approx(row["total_duration"])
    assert final["accumulated_submission_time"] == pytest.approx(1.0 + 1.25 * final["global_step"])


def test_budget_is_checked_every_step_with_a_final_eval(tmp_path):
    clock = FakeClock()
    meta, logs = run(tmp_path, clock, make_submission(clock), validation_target=2.0,
                     max_runtime_sec=10.0)
    assert meta["stop_reason"] == "budget" and meta["status"] == "completed"
    assert column(logs["evals"], "global_step") == [3, 6, 9, 10]  # 10: the final eval
    assert meta["final"]["time_to_target"] is None
    assert meta["budget_sec"] == 10.0


def test_a_step_budget_ends_the_trial_with_a_final_eval_and_the_time_budget_still_counts(tmp_path):
    clock = FakeClock()
    meta, logs = run(tmp_path, clock, make_submission(clock), validation_target=2.0, max_steps=7)
    assert meta["stop_reason"] == "step_budget" and meta["status"] == "completed"
    assert column(logs["evals"], "global_step") == [3, 6, 7]  # 7: the final eval
    assert meta["final"]["global_step"] == 7 and meta["final"]["time_to_target"] is None
    # whichever budget comes first ends it: 5 s of submission time before 7 steps
    meta, _ = run(tmp_path, clock, make_submission(clock), folder="again", validation_target=2.0,
                  max_steps=7, max_runtime_sec=5.0)
    assert meta["stop_reason"] == "budget" and meta["final"]["global_step"] == 5

def test_self_tuning_gets_one_and_a_half_times_the_budget(tmp_path):
    clock = FakeClock()
    meta, _ = run(tmp_path, clock, make_submission(clock), ruleset="self", validation_target=2.0,
                  max_runtime_sec=10.0)
    assert meta["budget_sec"] == 15.0 and meta["final"]["global_step"] == 15


def test_both_targets_must_be_reached(tmp_path):
    clock = FakeClock()
    # validation target 0.3 is met at step 3, test target 0.85 only at step 9
    meta, logs = run(tmp_path, clock, make_submission(clock), validation_target=0.3, test_target=0.85)
    assert column(evals(logs), "global_step") == [3, 6, 9]
    assert meta["stop_reason"] == "targets_reached"
    assert meta["final"]["time_to_target"] == pytest.approx(3.0)  # the validation target's time


def test_target_comparison_is_inclusive(tmp_path):
    clock = FakeClock()
    meta, logs = run(tmp_path, clock, make_submission(clock, gain=0.25), validation_target=0.75,
                     test_target=0.75)
    # accuracy after 3 steps is exactly 0.75 (15 of 20 examples)
    assert evals(logs)[0]["validation/accuracy"] == 0.75
    assert meta["final"]["time_to_target"] == pytest.approx(3.0)


def test_nan_parameters_end_the_trial_at_once(tmp_path):
    clock = FakeClock()
    meta, logs = run(tmp_path, clock, make_submission(clock, nan_at=4))
    assert meta["status"] == "diverged" and meta["stop_reason"] == "diverged"
    # the step that produced NaN: a snapshot is due after every step here, and the sync before
    # it checks the parameters
    assert meta["final"]["global_step"] == 5
    assert column(logs["evals"], "global_step") == [3]  # the snapshot of step 4 is never evaluated


def test_training_complete_error_ends_with_a_final_eval(tmp_path):
    clock = FakeClock()
    meta, logs = run(tmp_path, clock, make_submission(clock, complete_at=4))
    assert meta["stop_reason"] == "training_complete" and meta["status"] == "completed"
    assert column(logs["evals"], "global_step") == [3, 4]


def test_an_exception_fails_only_this_trial_with_its_traceback(tmp_path):
    clock = FakeClock()
    meta, logs = run(tmp_path, clock, make_submission(clock, raise_at=2))
    assert meta["status"] == "failed" and meta["stop_reason"] == "error"
    assert "RuntimeError: submission bug" in meta["error"]
    assert logs["meta"]["status"] == "failed"


def test_killed_and_resumed_trial_continues_its_clock(tmp_path):
    clock = FakeClock()
    reference, ref_logs = run(tmp_path, clock, make_submission(clock), folder="reference",
                              validation_target=2.0, max_runtime_sec=12.0)

    clock = FakeClock()
    with pytest.raises(KeyboardInterrupt):  # killed at step 8; last checkpoint at the step-6 eval
        run(tmp_path, clock, make_submission(clock, interrupt_at=8), folder="killed",
            validation_target=2.0, max_runtime_sec=12.0)
    clock.advance(500.0)  # downtime is nobody's time
    meta, logs = run(tmp_path, clock, make_submission(clock), folder="killed",
                     validation_target=2.0, max_runtime_sec=12.0)

    assert meta["final"]["global_step"] == reference["final"]["global_step"] == 12
    assert column(logs["evals"], "global_step") == column(ref_logs["evals"], "global_step")
    assert column(logs["evals"], "score") == pytest.approx(column(ref_logs["evals"], "score"))
    assert column(logs["evals"], "preemption_count") == [0, 0, 1, 1]
    assert meta["final"]["accumulated_submission_time"] == pytest.approx(12.0)
    assert meta["final"]["total_duration"] < 500.0
    events = [e["event"] for e in logs and read_events(fake_task(tmp_path / "killed").folder)]
    assert "resume" in events


def read_events(folder):
    from harness.logs import read_events as read

    return read(folder / "events.jsonl")


def test_train_state_is_read_only_and_hyperparameters_immutable(tmp_path):
    clock = FakeClock()
    seen = {}
    submission = make_submission(clock)
    inner = submission.update_params

    def update_params(**kwargs):
        seen["train_state"], seen["hp"] = kwargs["train_state"], kwargs["hyperparameters"]
        return inner(**kwargs)

    submission.update_params = update_params
    run(tmp_path, clock, submission)
    with pytest.raises(TypeError):
        seen["train_state"]["accumulated_submission_time"] = 0.0
    with pytest.raises(TypeError):
        seen["hp"].learning_rate = 1.0
    with pytest.raises(AttributeError, match="known"):
        seen["hp"].momentum
    assert seen["hp"].learning_rate == 0.1
    assert math.isfinite(seen["train_state"]["remaining_time"])


# -- the eval schedule (docs/scoring.md#measurement-resolution) -----------------------------------
# Steps of 0.25 s and gains of 1/16 are exact in binary: accuracy k/16 of the 20 examples reaches
# 0.55 at step 9 and 0.5 at step 8.
FINE = dict(step_cost=0.25, gain=1 / 16)


def test_the_eval_period_and_the_snapshot_period_derive_from_the_budget():
    spec = make_spec(eval_period_sec=None, max_runtime_sec=160.0)
    assert spec.eval_period_sec == 4.0 and spec.snapshot_period_sec == 0.4
    assert make_spec(eval_period_sec=3.0).snapshot_period_sec == pytest.approx(0.3)


def test_snapshot_steps_and_the_first_snapshot_that_meets_the_target(tmp_path):
    clock = FakeClock()
    meta, logs = run(tmp_path, clock, make_submission(clock, **FINE), eval_period_sec=None,
                     max_runtime_sec=160.0)
    # eval period 4 s (16 steps), snapshot period 0.4 s: a snapshot every second step (0.5 s).
    # The eval of step 16 first meets the target; the snapshots of steps 2, 4, ... are evaluated
    # in order until step 10, the first at or after step 9 that met it.
    assert column(evals(logs), "global_step") == [16]
    assert column(logs["evals"], "global_step") == [2, 4, 6, 8, 10, 16]
    assert column(logs["evals"], "score") == pytest.approx([0.5, 1.0, 1.5, 2.0, 2.5, 4.0])
    assert meta["final"]["time_to_target"] == pytest.approx(2.5)
    assert meta["eval_period_sec"] == 4.0 and meta["snapshot_period_sec"] == 0.4


def test_time_to_target_is_that_of_an_eval_at_every_snapshot(tmp_path):
    clock = FakeClock()
    # eval period 2.5 s (10 steps), snapshot period 0.25 s: a snapshot after every step
    coarse, coarse_logs = run(tmp_path, clock, make_submission(clock, **FINE), folder="coarse",
                              eval_period_sec=2.5)
    clock = FakeClock()
    fine, fine_logs = run(tmp_path, clock, make_submission(clock, **FINE), folder="fine",
                          eval_period_sec=0.25)  # an eval after every step
    assert column(evals(coarse_logs), "global_step") == [10]
    assert column(evals(fine_logs), "global_step") == [2, 3, 4, 5, 6, 7, 8, 9]  # step 1's: a snapshot
    assert coarse["final"]["time_to_target"] == fine["final"]["time_to_target"] == pytest.approx(2.25)
    # the row that set it holds the same step and metrics under both schedules
    first = lambda logs: next(r for r in logs["evals"] if r["validation/accuracy"] >= 0.55)  # noqa: E731
    assert first(coarse_logs)["global_step"] == first(fine_logs)["global_step"] == 9
    assert first(coarse_logs)["validation/loss"] == first(fine_logs)["validation/loss"]


def test_the_test_split_is_measured_from_the_validation_target_on_the_train_subset_at_the_end(tmp_path):
    clock = FakeClock()
    # validation target 0.3 first met by the eval of step 3, test target 0.85 at step 9
    meta, logs = run(tmp_path, clock, make_submission(clock), validation_target=0.3, test_target=0.85)
    rows = {row["global_step"]: row for row in logs["evals"]}
    assert [s for s, r in rows.items() if r["snapshot"]] == [1, 2]  # searched, validation only
    for step in (1, 2):
        assert rows[step]["test/accuracy"] is None and rows[step]["train/accuracy"] is None
    for step in (3, 6, 9):
        assert rows[step]["test/accuracy"] == pytest.approx(0.1 * step)
    # the validation split, whose target is met, is not measured again (no rule reads it)
    assert rows[3]["validation/accuracy"] == pytest.approx(0.3)
    assert rows[6]["validation/accuracy"] is None and rows[9]["validation/accuracy"] is None
    # the train subset, which no rule reads, at the trial's last eval only (the one that ends it)
    assert rows[3]["train/accuracy"] is None and rows[6]["train/accuracy"] is None
    assert rows[9]["train/accuracy"] == pytest.approx(0.9)
    assert meta["stop_reason"] == "targets_reached" and meta["final"]["global_step"] == 9
    assert meta["final"]["time_to_target"] == pytest.approx(3.0)  # the first row that met it
    # each eval's cost in splits (0.2 s a split): 1 before the target; at step 3 validation, test
    # and the snapshots 1 and 2; then the test split alone, and test and train at the last
    assert column(evals(logs), "accumulated_eval_time") == pytest.approx([0.8, 1.0, 1.4])


def test_an_eval_due_at_the_end_of_the_first_step_is_a_snapshot_and_the_clocks_start_there(tmp_path):
    clock = FakeClock()
    # a first step that outlasts the 3 s eval period (4.5 s of `init_optimizer_state`, as JAX's
    # compilation would): it ends at 5.5 s, where a snapshot is kept instead of an eval
    meta, logs = run(tmp_path, clock, make_submission(clock, init_cost=4.5))
    # evals 3 s after the first step's end: steps 4 (8.5 s) and 7 (11.5 s); a snapshot after every
    # step from there; those of steps 5 and 6 searched at step 7: step 6 (0.6) met the target
    assert column(evals(logs), "global_step") == [4, 7]
    assert column(logs["evals"], "global_step") == [4, 5, 6, 7]
    assert meta["final"]["time_to_target"] == pytest.approx(10.5)
    # the first step's snapshot is searched like any other: a target met there is read there
    clock = FakeClock()
    meta, logs = run(tmp_path, clock, make_submission(clock, init_cost=4.5), folder="at_step_1",
                     validation_target=0.1)
    assert column(logs["evals"], "global_step")[:2] == [1, 4] and logs["evals"][0]["snapshot"] == 1
    assert meta["final"]["time_to_target"] == pytest.approx(5.5)
    # AlgoPerf's schedule evaluates there, as AlgoPerf does
    clock = FakeClock()
    meta, logs = run(tmp_path, clock, make_submission(clock, init_cost=4.5), folder="algoperf",
                     eval_schedule="algoperf")
    assert column(evals(logs), "global_step")[:2] == [1, 4]
    # a first step within the period changes nothing: the eval 3 s from the start (step 2)
    clock = FakeClock()
    meta, logs = run(tmp_path, clock, make_submission(clock, init_cost=1.0), folder="short")
    assert column(evals(logs), "global_step")[0] == 2


def test_evals_before_the_validation_target_skip_test_and_train_and_the_final_eval_has_all(tmp_path):
    clock = FakeClock()
    meta, logs = run(tmp_path, clock, make_submission(clock), validation_target=2.0,
                     max_runtime_sec=10.0)
    rows = evals(logs)
    assert column(rows, "global_step") == [3, 6, 9, 10]
    assert all(r["test/accuracy"] is None and r["train/loss"] is None for r in rows[:-1])
    assert rows[-1]["test/accuracy"] == pytest.approx(1.0) and math.isfinite(rows[-1]["train/loss"])
    # no target met: the snapshots were never evaluated, and each eval cost one split (0.2 s)
    assert all(not r["snapshot"] for r in logs["evals"])
    assert column(rows, "accumulated_eval_time") == pytest.approx([0.2, 0.4, 0.6, 1.2])


def test_the_submission_sees_only_real_evals_in_eval_results(tmp_path):
    clock = FakeClock()
    seen = []
    submission = make_submission(clock)
    inner = submission.update_params

    def update_params(**kwargs):
        seen.append([step for step, _ in kwargs["eval_results"]])
        return inner(**kwargs)

    submission.update_params = update_params
    run(tmp_path, clock, submission, validation_target=0.3, test_target=0.85)
    assert seen[-1] == [3, 6]  # the step-9 eval ends the trial; snapshots 1 and 2 never appear


def test_a_run_without_a_target_measures_every_split_at_every_eval(tmp_path):
    clock = FakeClock()  # target setting: the targets are unreachable, the curves are the result
    meta, logs = run(tmp_path, clock, make_submission(clock), validation_target=math.inf,
                     test_target=math.inf, max_runtime_sec=7.0)
    assert column(logs["evals"], "global_step") == [3, 6, 7]
    assert all(r["test/accuracy"] is not None and r["train/loss"] is not None for r in logs["evals"])
    assert column(logs["evals"], "accumulated_eval_time") == pytest.approx([0.6, 1.2, 1.8])


def test_algoperfs_schedule_measures_every_split_at_every_eval_and_stops_at_both_targets(tmp_path):
    spec = make_spec(eval_schedule="algoperf", eval_period_sec=None, max_runtime_sec=60.0)
    assert spec.eval_period_sec == 2.0  # budget / 30
    clock = FakeClock()
    # 1 s steps, an eval every 2 s; validation target 0.3 (met from step 3), test target 0.85
    meta, logs = run(tmp_path, clock, make_submission(clock), validation_target=0.3,
                     test_target=0.85, eval_schedule="algoperf", eval_period_sec=None,
                     max_runtime_sec=60.0)
    assert column(logs["evals"], "global_step") == [2, 4, 6, 8, 10]  # no snapshots
    assert all(r["validation/accuracy"] is not None and r["test/accuracy"] is not None
               and r["train/loss"] is not None for r in logs["evals"])
    assert column(logs["evals"], "accumulated_eval_time") == pytest.approx([0.6, 1.2, 1.8, 2.4, 3.0])
    # read at the evals only: the eval of step 4, a step after the crossing
    assert meta["final"]["time_to_target"] == pytest.approx(4.0)
    assert meta["stop_reason"] == "targets_reached" and meta["final"]["global_step"] == 10
    assert meta["eval_period_sec"] == 2.0 and meta["spec_overrides"] == {}


def test_an_unknown_eval_schedule_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="unknown eval_schedule 'often'; choose one of snapshots, algoperf"):
        make_spec(eval_schedule="often")


def test_a_snapshot_shares_the_workload_that_a_submission_state_holds(tmp_path):
    from tests.harness.fakes import FakeWorkload

    class Workload(FakeWorkload):  # a fresh class: no instance of it has been copied before
        pass

    clock = FakeClock()
    backend = FakeBackend(clock)
    backend.make_workload = lambda spec: Workload(spec, clock, backend.eval_cost)
    backend.save_optimizer_state = lambda state, folder: None  # a local class does not pickle
    submission = make_submission(clock, prepare_cost=0.0)
    init, update = submission.init_optimizer_state, submission.update_params
    submission.init_optimizer_state = lambda **kw: {**init(**kw), "workload": kw["workload"]}

    def update_params(**kw):  # a state that keeps the workload, as the JAX baselines' jitted step
        state, params, model_state = update(**kw)
        return {**state, "workload": kw["workload"]}, params, model_state

    submission.update_params = update_params
    meta = TrialRunner(fake_task(tmp_path), make_spec(), submission, backend,
                       splits=make_splits(), time_fn=clock, calibrate=False).run()
    # copying the workload would have given its class `__slotnames__`: a rule violation
    assert meta["status"] == "completed", meta["error"]
    assert "__slotnames__" not in vars(Workload)


def test_a_submission_cannot_write_into_meta_json(tmp_path):
    """Only the harness's AlgoPerf adapter reports its batch-size rule to meta.json; a submission
    module's own `batch_size_meta` (say, a forged calibration) is never read."""
    clock = FakeClock()
    submission = make_submission(clock)
    submission.batch_size_meta = {"hardware": "forged", "batch_size_rule": "forged"}
    meta, _ = run(tmp_path, clock, submission)
    assert "batch_size_rule" not in meta and meta.get("hardware") != "forged"


def test_train_state_names_the_last_real_eval_and_the_next_one_due(tmp_path):
    """A first step that outlasts the eval period starts the eval clock without an eval: the
    submission sees no eval before the first (last_eval_time 0), and the next one when due."""
    clock = FakeClock()
    seen = []
    submission = make_submission(clock, init_cost=4.5)
    inner = submission.update_params

    def update_params(**kwargs):
        state = kwargs["train_state"]
        seen.append((kwargs["global_step"], state["last_eval_time"], state["next_eval_time"]))
        return inner(**kwargs)

    submission.update_params = update_params
    run(tmp_path, clock, submission)
    by_step = {step: (last, next_due) for step, last, next_due in seen}
    # the first test of the schedule: steps end at 4.5 + k s; evals at steps 4 (8.5 s) and 7
    assert by_step[0] == (0.0, 3.0)  # before the first step: the period from the start
    assert by_step[2] == (0.0, pytest.approx(8.5))  # step 1's end (5.5 s) started the clock
    assert by_step[5] == (pytest.approx(8.5), pytest.approx(11.5))  # after the eval of step 4
