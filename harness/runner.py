"""The timed runner: one trial of one submission on one workload (docs/architecture.md).

The rules, all in `_train` below:
- On the clock (the `submission` account): `init_optimizer_state`, `data_selection` (which pulls
  the batch, so batch fetching is timed), `update_params` and `prepare_for_eval`, each followed by
  a device sync inside the account, so queued work is charged to the submission.
- Off the clock, each in its own account: setup (data, model init), evals, logging, checkpoints,
  and the runner's own checks (`other`). The accounts add up to the wall time (`clock.Ledger`).
- After every step: parameters must be finite (else the trial ends as diverged), and the budget is
  checked (submission time >= budget ends the trial; so does the spec's `max_steps`, where set).
- An eval runs when `eval_period_sec` of submission time has passed since the last one, and once
  at the end unless the last step was just evaluated. It measures the validation split; the test
  split and the train subset only from the first eval that meets the validation target on, and at
  the end (a trial without a finite validation target, a target-setting run, measures every split
  at every eval and keeps no snapshots: its curves are what it is for). A trial ends when the
  validation and the test target have both been reached, on the budget, on divergence, or on
  `TrainingCompleteError`.
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

Data parallelism: every process of a trial runs this same loop in lockstep, on a clock all of them
agree on (`backend.time_fn()`), so they take the same decisions; only the main process (rank 0)
writes files.
"""

from __future__ import annotations

import copy
import math
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from harness import calibration, checkpoint, clock, host_load
from harness.algoperf_compat import accepts
from harness.clock import Ledger
from harness.guards import Guards, RuleViolation
from harness.logs import TrialLog, is_disk_full
from harness.seeds import derive_seed
from harness.spec import Hyperparameters, TrainingCompleteError, TrainState
from harness.task import TrialTask, budget_sec
from workloads.data import TrainStream, eval_batches, train_eval_subset
from workloads.metrics import METRICS
from workloads.spec import WorkloadSpec


class InputQueue(Iterator):
    """The training batches a submission's `data_selection` pulls: NumPy batches from a resumable
    stream, moved to the device when pulled (so the transfer is on the clock)."""

    def __init__(self, stream: TrainStream, to_device: Callable[[dict], dict]):
        self._stream, self._to_device = stream, to_device

    @property
    def position(self) -> int:
        return self._stream.position

    def __next__(self) -> dict:
        return self._to_device(next(self._stream))


def evaluate(workload, params, model_state, eval_sets: dict[str, list[dict]], metric_fn) -> dict:
    """Metrics on every eval split, as AlgoPerf names them (`validation/accuracy`, ...): the
    outputs of all of a split's batches, then `metric_fn` once over the whole split."""
    results = {}
    for split, batches in eval_sets.items():
        outputs = np.concatenate([workload.eval_outputs(params, model_state, b) for b in batches])
        whole = {key: np.concatenate([b[key] for b in batches]) for key in batches[0]}
        for key, value in metric_fn(outputs, whole).items():
            if not (split == "train" and key == "num_examples"):
                results[f"{split}/{key}"] = value
    return results


class _MemoryLog(TrialLog):
    """The log of a data-parallel process other than rank 0: it keeps rows and events in memory,
    as every rank needs them to take the same decisions, and writes no file."""

    def write_hparams(self, hparams: dict[str, Any]) -> None:
        pass

    def write_meta(self, meta: dict[str, Any]) -> None:
        pass

    def add_eval_row(self, row: dict[str, Any]) -> None:
        self.rows.append(dict(row))

    def add_event(self, event: str, **fields: Any) -> None:
        self.events.append({"event": event, **fields})


class TrialRunner:
    """The state of one trial as it runs; `run()` trains it to its end (or resumes it from its
    checkpoint). `task` names the trial (harness/task.py), `spec` is the workload spec it runs
    (`task.spec()`, or a test's own).

    `main_process=False` (data-parallel ranks but 0) runs the same steps without writing files.
    `guards` (the run-time rule guards, harness/guards.py) are off only to measure them;
    `calibrate` (the host calibration, harness/calibration.py) is off in unit tests only;
    `eval_steps` (an `algobench audit` re-run) evaluates at those steps instead of by the clock."""

    def __init__(self, task: TrialTask, spec: WorkloadSpec, submission, backend, *,
                 splits: dict | None = None, time_fn: Callable[[], float] = clock.perf_counter,
                 on_eval: Callable[[dict], None] | None = None, meta: dict | None = None,
                 main_process: bool = True, guards: bool = True, calibrate: bool = True,
                 calibration_reference: str | Path = calibration.REFERENCE_FILE,
                 eval_steps: tuple[int, ...] = ()):
        self.task, self.submission, self.backend = task, submission, backend
        self.eval_steps = tuple(eval_steps)  # `algobench audit` re-runs: evals at these steps, not by clock
        self.main_process = main_process
        self.use_guards, self.calibrate = guards, calibrate
        self.calibration_reference = str(calibration_reference)
        self.spec = spec
        self.reference_budget_sec = budget_sec(spec, task.ruleset)
        self.on_eval = (on_eval if main_process else None) or (lambda row: None)
        self.meta = dict(meta or {})
        self.steal: host_load.StealMeter | None = None  # made when the timed loop starts
        resume_from, self.skipped_checkpoints = checkpoint.choose(task.folder)
        saved = checkpoint.load_trial_state(resume_from) if resume_from else {}
        self.time_fn = time_fn
        self.ledger = Ledger(time_fn, saved.get("time_accounts"))
        log_type = TrialLog if main_process else _MemoryLog
        # what an earlier run of this trial logged is kept, even when no checkpoint survived it
        self.log = log_type.resume(task.folder)
        runs_before = sum(e.get("event") in ("start", "resume") for e in self.log.events)
        self.step = saved.get("global_step", 0)
        self.preemption_count = saved.get("preemption_count", -1) + 1 if resume_from else runs_before
        self._set_aside_rows_after(self.step)
        self.last_eval_time = saved.get("last_eval_time", 0.0)
        self.goals = saved.get("goals", {"validation": False, "test": False})
        self.calibration = saved.get("calibration")  # a resumed trial keeps its first host's scale
        self.snapshots: list[dict] = []  # since the last eval: step, times, state (off the clock)
        self.last_snapshot_time = self.last_eval_time
        self.hparams = Hyperparameters(task.hyperparameters)
        self.has_prepare = hasattr(submission, "prepare_for_eval")
        self.has_target = math.isfinite(spec.validation_target)  # target setting: no target
        self._setup(splits, resume_from, saved.get("stream_position", 0))

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

    # -- setup (off the clock) ----------------------------------------------------------------
    def _setup(self, splits, resume_from, stream_position) -> None:
        spec, task, backend = self.spec, self.task, self.backend
        self.log.write_hparams(task.hyperparameters)
        self.workload = backend.make_workload(spec)
        if splits is None:
            from workloads.sources import load_source

            splits = load_source(spec.data_source, task.data_dir)
        n_eval = len(splits["validation"]["targets"])
        self.eval_sets = {
            "train": list(eval_batches(train_eval_subset(splits["train"], n_eval), spec.eval_batch_size)),
            "validation": list(eval_batches(splits["validation"], spec.eval_batch_size)),
            "test": list(eval_batches(splits["test"], spec.eval_batch_size)),
        }
        self.metric_fn = METRICS[spec.metrics]
        with self.ledger.charge("submission"):
            self.batch_size = int(self.submission.get_batch_size(workload_name=spec.base_name))
        # AlgoPerf files' batch-size rule, from the harness's adapters only (harness/loader.py):
        # a submission module's own attributes never reach meta.json
        if type(self.submission).__module__ in ("harness.algoperf_compat", "harness.algoperf_pmap"):
            self.meta.update(self.submission.batch_size_meta)
        stream = TrainStream(splits["train"], self.batch_size, derive_seed(task.seed, "data"),
                             start_batch=stream_position)
        self.input_queue = InputQueue(stream, self.workload.to_device)
        self.params, self.model_state = self.workload.init_model_fn(self._rng("init"))
        self.guards = Guards(self.workload, self.params) if self.use_guards else None
        self._setup_violation: RuleViolation | None = None
        self.eval_results = [  # (step, metrics) of every eval so far, as AlgoPerf passes them
            (r["global_step"], {k: v for k, v in r.items() if "/" in k and v is not None})
            for r in self.log.rows if not r.get("snapshot")]
        if self.calibration is None and self.calibrate and not resume_from:
            self.calibration = self._calibrate()
        scale = calibration.time_scale(self.calibration)
        self.budget_sec = self.reference_budget_sec * scale
        self.eval_period_sec = spec.eval_period_sec * scale
        self.snapshot_period_sec = spec.snapshot_period_sec * scale
        if resume_from:
            with self.ledger.charge("checkpoint"):
                self._restore(resume_from)
            self._event("resume", checkpoint=resume_from.name,
                        **({"skipped_checkpoints": self.skipped_checkpoints}
                           if self.skipped_checkpoints else {}))
        else:
            self._event("start", **({"skipped_checkpoints": self.skipped_checkpoints}
                                    if self.skipped_checkpoints else {}))
            rng = self._rng("optimizer")
            with self.ledger.charge("submission"):
                self.optimizer_state = self.submission.init_optimizer_state(
                    workload=self.workload, model_params=self.params, model_state=self.model_state,
                    hyperparameters=self.hparams, rng=rng)
                self.backend.sync(self.optimizer_state)
            try:
                self._guard("init_optimizer_state")
            except RuleViolation as violation:  # raised again when the trial runs, to be logged
                self._setup_violation = violation
        self._write_meta("running", None)

    def _calibrate(self) -> dict:
        """The host speed record (harness/calibration.py), in the setup account."""
        groups = calibration.measure_cores(self.time_fn)
        reference = calibration.reference_seconds(self.calibration_reference)
        return calibration.record(groups, reference, calibration.host_id())

    def _guard(self, function: str) -> None:
        if self.guards:
            self.guards.after_submission_call(function)

    def _rng(self, purpose: str, step: int = 0):
        return self.backend.make_rng(derive_seed(self.task.seed, purpose, step))

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
        except Exception as err:  # a broken submission loses this trial only
            if is_disk_full(err):  # the host's fault, not the submission's: stays resumable
                raise
            self.ledger.switch("other")
            stop_reason, status, error = "error", "failed", traceback.format_exc()
            self._event("error", traceback=error)
        with self.ledger.charge("logging"):
            result = self._write_meta(status, stop_reason, error)
        if self.main_process and not self.task.keep_checkpoint and status != "running":
            checkpoint.remove(self.task.folder)
        return result

    def _train(self) -> str:
        spec, ledger = self.spec, self.ledger
        if self._setup_violation:
            raise self._setup_violation
        self._update_takes_train_state = accepts(self.submission.update_params, "train_state")
        while True:
            select_rng, update_rng = self._rng("data_selection", self.step), self._rng("update", self.step)
            train_state = self._train_state()
            with ledger.charge("submission"):
                try:
                    batch = self.submission.data_selection(
                        workload=self.workload, input_queue=self.input_queue,
                        optimizer_state=self.optimizer_state, current_param_container=self.params,
                        model_state=self.model_state, hyperparameters=self.hparams,
                        global_step=self.step, rng=select_rng)
                    # train_state only where the signature names it (AlgoPerf's v0.5 API has none)
                    extra = {"train_state": train_state} if self._update_takes_train_state else {}
                    self.optimizer_state, self.params, self.model_state = self.submission.update_params(
                        workload=self.workload, current_param_container=self.params,
                        current_params_types=self.workload.model_params_types,
                        model_state=self.model_state, hyperparameters=self.hparams, batch=batch,
                        loss_type=spec.loss_type, optimizer_state=self.optimizer_state,
                        eval_results=self.eval_results, global_step=self.step,
                        rng=update_rng, **extra)
                    self.backend.sync((self.optimizer_state, self.params, self.model_state))
                    stop = None
                except TrainingCompleteError:
                    stop = "training_complete"
            self._guard("update_params")
            if stop is None:
                self.step += 1
                if not self.backend.all_finite(self.params):
                    return self._end("diverged")
                if ledger.submission_time >= self.budget_sec:
                    stop = "budget"
                elif spec.max_steps is not None and self.step >= spec.max_steps:
                    stop = "step_budget"
            if stop is None and not self._eval_due():
                if (self.has_target and not self.goals["validation"]
                        and ledger.submission_time - self.last_snapshot_time >= self.snapshot_period_sec):
                    with ledger.charge("eval"):
                        self._snapshot()
                continue
            row = self._eval(final=stop is not None)
            if not np.isfinite(row["validation/loss"]):
                return self._end("diverged")
            if stop is None and self.goals["validation"] and self.goals["test"]:
                stop = "targets_reached"
            if stop is not None:
                return self._end(stop)
            with ledger.charge("checkpoint"):
                self._checkpoint()

    def _eval_due(self) -> bool:
        if self.eval_steps:  # an audit re-run evaluates where the audited trial did
            return self.step in self.eval_steps
        return self.ledger.submission_time - self.last_eval_time >= self.eval_period_sec

    def _prepare_for_eval(self, state: tuple, step: int) -> tuple:
        """The submission's `prepare_for_eval` on (optimizer_state, params, model_state)."""
        optimizer_state, params, model_state = state
        state = self.submission.prepare_for_eval(
            workload=self.workload, current_param_container=params,
            current_params_types=self.workload.model_params_types, model_state=model_state,
            hyperparameters=self.hparams, loss_type=self.spec.loss_type,
            optimizer_state=optimizer_state, eval_results=self.eval_results, global_step=step,
            rng=self._rng("prepare_for_eval", step))
        self.backend.sync(state)
        self._guard("prepare_for_eval")
        return state

    def _eval(self, final: bool) -> dict[str, Any]:
        spec, ledger = self.spec, self.ledger
        if self.has_prepare:
            with ledger.charge("submission"):
                state = (self.optimizer_state, self.params, self.model_state)
                self.optimizer_state, self.params, self.model_state = self._prepare_for_eval(state, self.step)
        self.last_eval_time = self.last_snapshot_time = ledger.submission_time
        if self.guards:
            self.guards.before_eval(self.params)
        with ledger.charge("eval"):
            metrics = self._metrics(self.params, self.model_state, ["validation"])
            reached = self._meets_validation_target(metrics)
            if reached or self.goals["validation"] or final or not self.has_target:
                metrics.update(self._metrics(self.params, self.model_state, ["train", "test"]))
            snapshot_rows = self._search_snapshots() if reached and not self.goals["validation"] else []
            self.snapshots = []
        with ledger.charge("logging"):
            self.goals["validation"] = self.goals["validation"] or reached
            test = metrics.get(f"test/{spec.target_metric}")
            self.goals["test"] = self.goals["test"] or spec.is_better_or_equal(test, spec.test_target)
            self.eval_results.append((self.step, metrics))
            for row in snapshot_rows:
                self.log.add_eval_row(row)
            row = self._row(self.step, ledger.read(), metrics, snapshot=0)
            self.log.add_eval_row(row)
            self._event("eval", global_step=self.step, submission_time=row["score"])
            self.on_eval({k: float("nan") if v is None else v for k, v in row.items()})
        return row

    def _metrics(self, params, model_state, splits: list[str]) -> dict:
        sets = {split: self.eval_sets[split] for split in splits}
        return evaluate(self.workload, params, model_state, sets, self.metric_fn)

    def _meets_validation_target(self, metrics: dict) -> bool:
        value = metrics[f"validation/{self.spec.target_metric}"]
        return self.spec.is_better_or_equal(value, self.spec.validation_target)

    def _row(self, step: int, times: dict, metrics: dict, snapshot: int) -> dict[str, Any]:
        """An eval row; a split this eval did not measure has None (an empty cell in the CSV)."""
        unmeasured = {f"{split}/{key.split('/', 1)[1]}": None for key in metrics
                      for split in ("train", "test") if key.startswith("validation/")}
        unmeasured.pop("train/num_examples", None)
        return {"global_step": step, "preemption_count": self.preemption_count,
                "score": times["submission"], "total_duration": times["total_duration"],
                **{f"accumulated_{k}_time": v for k, v in times.items() if k != "total_duration"},
                "snapshot": snapshot, **unmeasured, **metrics}

    def _snapshot(self) -> None:
        """Keep a copy of what an eval here would evaluate: params and model_state, and the
        optimizer state too where `prepare_for_eval` needs it (deep copies: a submission may change
        its state in place). The workload, which a state may hold, is shared, not copied: copying
        it would also mark its class (copyreg's `__slotnames__`), which the guards forbid."""
        self.last_snapshot_time = self.ledger.submission_time
        optimizer_state = self.optimizer_state if self.has_prepare else None
        state = copy.deepcopy((optimizer_state, self.params, self.model_state),
                              memo={id(self.workload): self.workload})
        self.snapshots.append({"step": self.step, "times": self.ledger.read(), "state": state})

    def _search_snapshots(self) -> list[dict]:
        """Rows of the snapshots since the last eval, evaluated in order (off the clock) up to the
        first that meets the validation target. `prepare_for_eval` runs on a snapshot's copy, and
        its time is added to the snapshot's submission time, as an eval there would have charged."""
        rows = []
        for snapshot in self.snapshots:
            _, params, model_state = state = snapshot["state"]
            start = self.time_fn()
            if self.has_prepare:
                _, params, model_state = self._prepare_for_eval(state, snapshot["step"])
            prepare = self.time_fn() - start
            times = dict(snapshot["times"])
            times["submission"] += prepare
            times["total_duration"] += prepare
            metrics = self._metrics(params, model_state, ["validation"])
            rows.append(self._row(snapshot["step"], times, metrics, snapshot=1))
            if self._meets_validation_target(metrics):
                break
        return rows

    def _end(self, reason: str) -> str:
        with self.ledger.charge("logging"):
            self._event("stop", reason=reason, global_step=self.step)
        return reason

    def _train_state(self) -> TrainState:
        t = self.ledger.submission_time
        return TrainState({
            "accumulated_submission_time": t, "max_allowed_runtime_sec": self.budget_sec,
            "remaining_time": max(0.0, self.budget_sec - t),
            "last_eval_time": self.last_eval_time,
            "next_eval_time": self.last_eval_time + self.eval_period_sec,
            "validation_goal_reached": self.goals["validation"], "test_goal_reached": self.goals["test"],
            "training_complete": False, "global_step": self.step})

    # -- checkpoints, events and meta (off the clock) ---------------------------------------------
    def _checkpoint(self) -> None:
        state = {"global_step": self.step, "time_accounts": self.ledger.read(),
                 "last_eval_time": self.last_eval_time, "goals": self.goals,
                 "stream_position": self.input_queue.position,
                 "preemption_count": self.preemption_count, "calibration": self.calibration}
        state["time_accounts"].pop("total_duration")
        if not self.main_process:  # after the clock reading above, which every rank takes
            return
        canonical = self.workload.to_canonical(self.params, self.model_state)
        folder = checkpoint.save(self.task.folder, self.step, canonical, self.optimizer_state,
                                 state, self.backend)
        self._event("checkpoint", global_step=self.step, folder=folder.name)

    def _restore(self, folder: Path) -> None:
        self.params, self.model_state = self.workload.from_canonical(checkpoint.load_params(folder))
        template = self.submission.init_optimizer_state(
            workload=self.workload, model_params=self.params, model_state=self.model_state,
            hyperparameters=self.hparams, rng=self._rng("optimizer"))
        self.optimizer_state = self.backend.load_optimizer_state(template, folder)

    def _event(self, event: str, **fields: Any) -> None:
        self.log.add_event(event, wall_time=time.time(), **fields)

    def _write_meta(self, status: str, stop_reason: str | None, error: str | None = None) -> dict:
        task = self.task
        meta = {
            **self.meta, **task.identity_meta(self.spec),
            "global_batch_size": self.batch_size, "status": status, "stop_reason": stop_reason,
            "error": error, "spec_overrides": task.spec_overrides,
            **({"protocol": task.protocol} if task.protocol else {}),
            # the schedule this trial ran under: reference-host seconds times its time scale
            "calibration": self.calibration, "time_scale": calibration.time_scale(self.calibration),
            "time_scale_note": _time_scale_note(self.calibration),
            "reference_budget_sec": self.reference_budget_sec, "budget_sec": self.budget_sec,
            "eval_period_sec": self.eval_period_sec, "snapshot_period_sec": self.snapshot_period_sec,
        }
        if status != "running":
            times = self.ledger.read()
            meta["final"] = {"global_step": self.step, "time_to_target": self.time_to_target(),
                             **{f"accumulated_{k}_time": v for k, v in times.items() if k != "total_duration"},
                             "total_duration": times["total_duration"],
                             "host_steal_fraction": self.steal.fraction() if self.steal else None}
            meta["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        self.meta = meta
        self.log.write_meta(meta)
        return meta

    def time_to_target(self) -> float | None:
        key = f"validation/{self.spec.target_metric}"
        for row in self.log.rows:
            if self.spec.is_better_or_equal(row[key], self.spec.validation_target):
                return row["score"]
        return None


def _time_scale_note(record: dict | None) -> str:
    if record is None:
        return "unscaled: no calibration (skipped)"
    if record["speed_factor"] is None:
        return "unscaled: no reference calibration recorded (workloads/calibration_reference.json)"
    return "budget and eval periods scaled by the speed factor"
