"""The timed runner: one trial of one submission on one workload (docs/architecture.md).

The rules, all in `_train` below:
- On the clock (the `submission` account): `init_optimizer_state`, `data_selection` (which pulls
  the batch, so batch fetching is timed), `update_params` and `prepare_for_eval`. Queued device
  work is charged to the submission by a full device sync inside the account (`side.sync()`)
  before every eval, snapshot, checkpoint and the trial's end, and after `init_optimizer_state`
  and `prepare_for_eval`; not after every step, which would leave the device idle while the host
  queues the next one (docs/performance.md#where-the-runner-waits-for-the-device).
- Off the clock, each in its own account: setup (data, model init), evals, logging, checkpoints,
  and the runner's own checks (`other`). The accounts add up to the wall time (`clock.Ledger`).
- At every sync the parameters must be finite, else the trial ends as diverged: at the first sync
  after the step that made them non-finite (a snapshot, an eval, a decision near, the end), so no
  eval or snapshot is ever taken of them. After every step the budget is checked (submission
  time >= budget ends the trial; so does the spec's `max_steps`, where set). Between syncs the
  budget, eval and snapshot checks read the clock without a sync, which can only be early (by
  the queued step), never late; a reading within the last measured step time (synced) of the
  budget or the next eval or snapshot syncs first, and the decision is taken on the synced
  reading. A submission process may run several steps a call where no decision can fall inside
  them, so decisions follow the same steps (`_steps_per_call`).
- An eval runs when `eval_period_sec` of submission time has passed since the last one, and once
  at the end unless the last step was just evaluated. One due at the end of the trial's first step
  (which outlasts the period where it holds JAX's compilation or a long `init_optimizer_state`)
  is a snapshot instead, and the eval and snapshot clocks start from there. An eval measures the
  validation split until its target is met; the test split from then on, and at the end; the train
  subset at the trial's last eval only (no rule reads it). Target setting (no finite target: its
  curves are what it is for) and AlgoPerf's schedule (`eval_schedule`) measure every split at every
  eval and keep no snapshots. A trial ends when the validation and the test target have both been
  reached, on the budget, on divergence, or on `TrainingCompleteError`.
- Between evals, until the validation target is met, a copy of the parameters (a *snapshot*) is
  kept every `snapshot_period_sec` of submission time, off the clock. When an eval first meets the
  validation target, the snapshots since the previous eval are evaluated in order on the validation
  split, off the clock, until one meets it; each evaluated snapshot is logged as an eval row
  (`snapshot` = 1) at its own step and submission time (plus the time `prepare_for_eval` took on it,
  where the submission defines one: what an eval there would have charged).
- Time to target = submission time at the first eval or snapshot whose validation metric meets the
  target: resolved to the snapshot period (docs/scoring.md#measurement-resolution).
- Budget, eval period and snapshot period are reference-host seconds times the trial's speed factor
  (harness/calibration.py, measured off the clock before the timed loop; 1 without a reference).

The submission runs in this process (`algobench audit`, unit tests) or in a `SubmissionProcess`
(harness/submission_process.py; the default, one per data-parallel rank), called the same way and
timed on the runner's clock; the runner evaluates the parameters it hands over on its own workload,
and freezes it (`side.freeze()`) to evaluate, log or checkpoint. Data-parallel ranks run this loop
in lockstep on a clock they agree on (`backend.time_fn()`); only rank 0 writes files.
"""

from __future__ import annotations

import math
import time
import traceback
from pathlib import Path
from typing import Any, Callable

import numpy as np

from harness import calibration, checkpoint, clock, host_load, trial_records, trial_setup
from harness.clock import Ledger
from harness.evaluation import evaluate  # a module global here: the runner calls it by this name
from harness.guards import RuleViolation
from harness.logs import TrialLog, is_disk_full
from harness.seeds import derive_seed, derive_step_seeds
from harness.submission_process import SubmissionProcess, SubmissionProcessError
from harness.submission_side import InProcess
from harness.task import TrialTask, budget_sec
from workloads.spec import WorkloadSpec

MAX_STEPS_PER_CALL = 1000  # steps a submission process runs in one round trip, at most


class TrialRunner:
    """One trial as it runs; `run()` trains it to its end (or resumes it from its checkpoint).
    `task` names the trial (harness/task.py), `spec` is the workload spec it runs; `submission` is
    the submission's module (run in this process) or a `SubmissionProcess` (module docstring).
    `main_process=False` (data-parallel ranks but 0) writes no files. Off only to measure or in
    tests: `guards` (harness/guards.py, in-process submissions), `calibrate`
    (harness/calibration.py); `eval_steps` (an `algobench audit` re-run) evaluates at those steps,
    not by the clock. Benchmarks and tests only: `sync_every_step` (the runner before issue 28),
    `max_steps_per_call=1` (one step a submission-process call)."""

    def __init__(self, task: TrialTask, spec: WorkloadSpec, submission, backend, *,
                 splits: dict | None = None, time_fn: Callable[[], float] = clock.perf_counter,
                 on_eval: Callable[[dict], None] | None = None, meta: dict | None = None,
                 main_process: bool = True, guards: bool = True, calibrate: bool = True,
                 calibration_reference: str | Path = calibration.REFERENCE_FILE,
                 eval_steps: tuple[int, ...] = (), sync_every_step: bool = False,
                 max_steps_per_call: int = MAX_STEPS_PER_CALL):
        self.task, self.backend, self.spec, self.main_process = task, backend, spec, main_process
        self.eval_steps, self.sync_every_step = tuple(eval_steps), sync_every_step  # eval_steps: audits
        self.max_steps_per_call, self.reference_budget_sec = max_steps_per_call, budget_sec(spec, task.ruleset)
        self.use_guards, self.calibrate, self.calibration_reference = guards, calibrate, str(calibration_reference)
        self.on_eval = (on_eval if main_process else None) or (lambda row: None)
        self.meta, self.time_fn = dict(meta or {}), time_fn
        self.steal: host_load.StealMeter | None = None  # made when the timed loop starts
        resume_from, self.skipped_checkpoints = checkpoint.choose(task.folder)
        saved = checkpoint.load_trial_state(resume_from) if resume_from else {}
        self.ledger = Ledger(time_fn, saved.get("time_accounts"))
        log_type = TrialLog if main_process else trial_records.MemoryLog
        # what an earlier run of this trial logged is kept, even when no checkpoint survived it
        self.log = log_type.resume(task.folder)
        runs_before = sum(e.get("event") in ("start", "resume") for e in self.log.events)
        self.step = saved.get("global_step", 0)
        self.preemption_count = saved.get("preemption_count", -1) + 1 if resume_from else runs_before
        self._set_aside_rows_after(self.step)
        self.last_eval_time = saved.get("last_eval_time", 0.0)
        self.goals = saved.get("goals", {"validation": False, "test": False})
        self.calibration = saved.get("calibration")  # a resumed trial keeps its first host's scale
        self.snapshots: list[dict] = []  # since the last eval: step and times (the state: the side's)
        self.last_snapshot_time = self.last_eval_time
        self.narrowed = math.isfinite(spec.validation_target) and spec.eval_schedule == "snapshots"  # splits, snapshots
        self.side = (submission if isinstance(submission, SubmissionProcess)
                     else InProcess(backend, spec, task.hyperparameters, submission))
        self.meta.update(isolation=self.side.isolation, sandbox=self.side.sandbox)
        trial_setup.setup(self, splits, resume_from, saved.get("stream_position", 0))

    def _set_aside_rows_after(self, step: int) -> None:
        """Eval rows past the step this run starts from (its checkpoint fell back to an older one,
        or there is none) are measured again by this run: they leave eval_measurements.csv, whose
        steps must increase, but are kept whole in events.jsonl (`rows_set_aside`), never lost."""
        later = [r for r in self.log.rows if r["global_step"] > step]
        if later:
            self.log.rows = [r for r in self.log.rows if r["global_step"] <= step]
            self._event("rows_set_aside", from_step=step, rows=later,
                        reason="the run resumes from an earlier step: "
                               + ("; ".join(self.skipped_checkpoints) or "no checkpoint past it"))

    def _guard(self, function: str) -> None:
        if self.guards:
            self.guards.after_submission_call(function)

    def _seed(self, purpose: str, step: int = 0) -> int:
        return derive_seed(self.task.seed, purpose, step)

    # -- the timed loop --------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        self.steal = host_load.StealMeter()
        self.ledger.switch("other")
        try:
            stop_reason = self._train()
            status, error = ("diverged" if stop_reason == "diverged" else "completed"), None
        except RuleViolation as violation:
            self.ledger.switch("other")
            stop_reason, status, error = "rule_violation", "failed", str(violation)
            self._event("rule_violation", reason=error)
        except SubmissionProcessError as err:  # its traceback, how its process ended, or a hang
            self.ledger.switch("other")
            if err.stop_reason == "budget":  # a timed call outlasted the budget: the time was spent
                stop_reason, status, error = "budget", "completed", None
                self.meta["note"] = str(err)
                self._event("stop", reason=stop_reason, global_step=self.step, note=str(err))
            else:
                stop_reason, status, error = err.stop_reason, "failed", str(err)
                self._event("error", reason=error)
        except Exception as err:  # a broken submission loses this trial only
            if is_disk_full(err):  # the host's fault, not the submission's: stays resumable
                raise
            self.ledger.switch("other")
            stop_reason, status, error = "error", "failed", traceback.format_exc()
            self._event("error", traceback=error)
        finally:
            self.side.freeze()
        with self.ledger.charge("logging"):
            result = self._write_meta(status, stop_reason, error)
        if self.main_process and not self.task.keep_checkpoint and status != "running":
            checkpoint.remove(self.task.folder)
        return result

    def _train(self) -> str:
        spec, ledger, side = self.spec, self.ledger, self.side
        if self._setup_error:
            raise self._setup_error
        self._synced_at(self.step)
        self.step_time: float | None = None  # seconds of a step, measured between two syncs
        while True:
            train_state = self._train_state()
            new_results = self.eval_results[self._eval_results_sent:]
            self._eval_results_sent = len(self.eval_results)
            count, horizon = self._steps_per_call()
            seeds = list(zip(*(derive_step_seeds(self.task.seed, purpose, range(self.step, self.step + count))
                               for purpose in ("data_selection", "update"))))
            with ledger.charge("submission"):
                if count == 1:
                    done = side.step(self.step, *seeds[0], train_state, new_results, sync=self.sync_every_step)
                    done["ran"] = int(done["status"] != "training_complete")
                else:
                    done = side.steps(self.step, seeds, train_state, new_results, max_seconds=horizon,
                                      sync=self.sync_every_step)
            self._guard("update_params")
            stop = "training_complete" if done["status"] == "training_complete" else None
            if done["ran"]:
                self.step += done["ran"]
                self.synced = self.sync_every_step
            if stop is None and not done["finite"]:  # checked only where the step synced
                return self._end("diverged")
            if not self.synced and (stop is not None or self._decision_near()):
                if not self._sync():
                    return self._end("diverged")
            if stop is None:
                if ledger.submission_time >= self.budget_sec:
                    stop = "budget"
                elif spec.max_steps is not None and self.step >= spec.max_steps:
                    stop = "step_budget"
            first = stop is None and self.narrowed and self.step == done["ran"] > 0 and self._eval_due()
            if first:  # a snapshot instead of the eval, and the eval clock from here (the docstring)
                self.last_eval_time = ledger.submission_time
            if stop is None and not self._eval_due():
                if first or self._snapshot_due():
                    with ledger.charge("eval"):
                        self._snapshot()
                continue
            row = self._eval(final=stop is not None)
            if not all(np.isfinite(row[k]) for k in ("validation/loss", "test/loss") if row.get(k) is not None):
                return self._end("diverged")
            if stop in (None, "training_complete") and self.goals["validation"] and self.goals["test"]:
                stop = "targets_reached"  # also when the eval that ends training meets them
            if stop is not None:
                return self._end(stop)
            with ledger.charge("checkpoint"):
                self._checkpoint()

    def _steps_per_call(self) -> tuple[int, float]:
        """Steps the next call may run, and its seconds at most: as many as fit, at the measured
        step time, in half the time to the nearest decision (docs/performance.md#steps-per-call)."""
        if not (self.side.batches_steps and self.step_time and self.max_steps_per_call > 1):
            return 1, math.inf
        steps_left = math.inf if self.spec.max_steps is None else self.spec.max_steps - self.step
        decisions = [self.budget_sec]
        if self.eval_steps:  # evals at given steps (audits, benchmarks): up to the next one
            steps_left = min([steps_left] + [s - self.step for s in self.eval_steps if s > self.step])
        else:
            decisions.append(self.last_eval_time + self.eval_period_sec)
        if self.narrowed and not self.goals["validation"]:
            decisions.append(self.last_snapshot_time + self.snapshot_period_sec)
        horizon = min(decisions) - self.ledger.submission_time
        return max(1, int(min(horizon / 2 / self.step_time, steps_left, self.max_steps_per_call))), horizon / 2

    def _sync(self) -> bool:
        """Wait for the device inside the submission account (queued work is the submission's);
        whether the parameters are finite. Measures the step time since the last sync."""
        with self.ledger.charge("submission"):
            finite = self.side.sync()
        steps = self.step - self._last_sync[0]
        if steps > 0:
            self.step_time = (self.ledger.submission_time - self._last_sync[1]) / steps
        self._synced_at(self.step)
        return finite

    def _synced_at(self, step: int) -> None:
        self.synced, self._last_sync = True, (step, self.ledger.submission_time)

    def _decision_near(self) -> bool:
        """Whether an unsynced clock reading, early by at most the queued step, comes within one
        step time of a decision (any decision before the first measured step time): the budget,
        `max_steps`, an eval or a snapshot."""
        margin = math.inf if self.step_time is None else self.step_time
        return (self.ledger.submission_time + margin >= self.budget_sec
                or (self.spec.max_steps is not None and self.step >= self.spec.max_steps)
                or self._eval_due(margin) or self._snapshot_due(margin))

    def _eval_due(self, margin: float = 0.0) -> bool:
        if self.eval_steps:  # an audit re-run evaluates where the audited trial did
            return self.step in self.eval_steps
        return self.ledger.submission_time + margin - self.last_eval_time >= self.eval_period_sec

    def _snapshot_due(self, margin: float = 0.0) -> bool:
        return (self.narrowed and not self.goals["validation"] and self.ledger.submission_time
                + margin - self.last_snapshot_time >= self.snapshot_period_sec)

    def _eval(self, final: bool) -> dict[str, Any]:
        spec, ledger = self.spec, self.ledger
        if self.has_prepare:
            with ledger.charge("submission"):
                self.side.prepare_for_eval(self.step, self._seed("prepare_for_eval", self.step))
            self._guard("prepare_for_eval")
        self.last_eval_time = self.last_snapshot_time = ledger.submission_time
        with ledger.charge("eval"):
            params, model_state = self.side.state()
            self.side.freeze()  # nothing of the submission computes until its next call
            if self.guards:
                self.guards.before_eval(params)
            splits = [] if self.goals["validation"] and self.narrowed else ["validation"]
            metrics = self._metrics(params, model_state, splits) if splits else {}
            reached = bool(splits) and self._meets_validation_target(metrics)
            validation_goal = reached or self.goals["validation"]
            if validation_goal or final or not self.narrowed:
                metrics.update(self._metrics(params, model_state, ["test"]))
            test_goal = self.goals["test"] or spec.is_better_or_equal(
                metrics.get(f"test/{spec.target_metric}"), spec.test_target)
            if final or (validation_goal and test_goal) or not self.narrowed:  # the trial's last eval
                metrics.update(self._metrics(params, model_state, ["train"]))
            snapshot_rows = self._search_snapshots() if reached and not self.goals["validation"] else []
            if self.snapshots:
                self.snapshots = []
                self.side.drop_snapshots()
                self.side.freeze()
        with ledger.charge("logging"):
            self.goals["validation"], self.goals["test"] = validation_goal, test_goal
            self.eval_results.append((self.step, metrics))
            for row in snapshot_rows:
                self.log.add_eval_row(row)
            row = trial_records.eval_row(self.step, self.preemption_count, ledger.read(), metrics, 0)
            self.log.add_eval_row(row)
            self._event("eval", global_step=self.step, submission_time=row["score"])
            self.on_eval({k: float("nan") if v is None else v for k, v in row.items()})
        self._synced_at(self.step)  # prepare_for_eval's time stays out of the next step time
        return row

    def _metrics(self, params, model_state, splits: list[str]) -> dict:
        sets = {split: self.eval_sets[split] for split in splits}
        return evaluate(self.workload, params, model_state, sets, self.metric_fn)

    def _meets_validation_target(self, metrics: dict) -> bool:
        value = metrics[f"validation/{self.spec.target_metric}"]
        return self.spec.is_better_or_equal(value, self.spec.validation_target)

    def _snapshot(self) -> None:
        """The submission side keeps a copy of what an eval here would evaluate (with the
        optimizer state where `prepare_for_eval` needs it); the runner keeps its step and times."""
        self.last_snapshot_time = self.ledger.submission_time
        self.side.snapshot(keep_optimizer_state=self.has_prepare)
        self.snapshots.append({"step": self.step, "times": self.ledger.read()})

    def _search_snapshots(self) -> list[dict]:
        """Rows of the snapshots since the last eval, evaluated in order (off the clock) up to the
        first that meets the validation target. `prepare_for_eval` runs on a snapshot's copy, and
        its time is added to the snapshot's submission time, as an eval there would have charged."""
        rows = []
        for index, snapshot in enumerate(self.snapshots):
            step = snapshot["step"]
            start = self.time_fn()
            if self.has_prepare:
                self.side.prepare_snapshot(index, step, self._seed("prepare_for_eval", step))
                self._guard("prepare_for_eval")
            prepare = self.time_fn() - start
            params, model_state = self.side.snapshot_state(index)
            self.side.freeze()
            times = dict(snapshot["times"])
            times.update(submission=times["submission"] + prepare, total_duration=times["total_duration"] + prepare)
            metrics = self._metrics(params, model_state, ["validation"])
            rows.append(trial_records.eval_row(step, self.preemption_count, times, metrics, 1))
            if self._meets_validation_target(metrics):
                break
        return rows

    def _end(self, reason: str) -> str:
        if not self.synced:  # the final times include the queued work
            self._sync()
        with self.ledger.charge("logging"):
            self._event("stop", reason=reason, global_step=self.step)
        return reason

    def _train_state(self) -> dict:
        t, rows = self.ledger.submission_time, self.log.rows  # the last row is an eval's: snapshots come before
        return {"accumulated_submission_time": t, "max_allowed_runtime_sec": self.budget_sec,
                "remaining_time": max(0.0, self.budget_sec - t), "last_eval_time": rows[-1]["score"] if rows else 0.0,
                "next_eval_time": self.last_eval_time + self.eval_period_sec,
                "validation_goal_reached": self.goals["validation"], "test_goal_reached": self.goals["test"],
                "training_complete": False, "global_step": self.step}

    # -- checkpoints, events and meta (off the clock) ---------------------------------------------
    def _checkpoint(self) -> None:
        state = {"global_step": self.step, "time_accounts": self.ledger.read(),
                 "last_eval_time": self.last_eval_time, "goals": self.goals,
                 "stream_position": self.side.stream_position(),
                 "preemption_count": self.preemption_count, "calibration": self.calibration}
        state["time_accounts"].pop("total_duration")
        if not self.main_process:  # after the clock reading above, which every rank takes
            return
        canonical = self.side.canonical()
        optimizer_files = self.side.optimizer_files()
        self.side.freeze()
        folder = checkpoint.save(self.task.folder, self.step, canonical, optimizer_files,
                                 state, trial_records.SavedFiles)
        self._event("checkpoint", global_step=self.step, folder=folder.name)

    def _event(self, event: str, **fields: Any) -> None:
        self.log.add_event(event, wall_time=time.time(), **fields)

    def _write_meta(self, status: str, stop_reason: str | None, error: str | None = None) -> dict:
        task = self.task
        meta = {
            **self.meta, **task.identity_meta(self.spec),
            "global_batch_size": self.batch_size, "status": status, "stop_reason": stop_reason,
            "error": error, "spec_overrides": task.spec_overrides,
            **({"protocol": task.protocol} if task.protocol else {}),
            **trial_records.schedule_record(self.calibration, self.reference_budget_sec, self.budget_sec,
                                            self.eval_period_sec, self.snapshot_period_sec),
        }
        if status != "running":
            meta["final"] = trial_records.final_record(
                self.step, self.time_to_target(), self.ledger.read(),
                self.steal.fraction() if self.steal else None)
            meta["finished_at"] = trial_records.finished_at()
        self.meta = meta
        self.log.write_meta(meta)
        return meta

    def time_to_target(self) -> float | None:
        return trial_records.time_to_target(self.log.rows, self.spec)
