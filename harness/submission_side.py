"""The submission's side of a trial: what a submission may hold, and the calls the runner makes on it.

`SubmissionSide` holds the submission's module, its own workload object, the parameters, the
optimizer and model state, the training stream (the training split only) and its snapshots; it runs
the submission's functions when the runner asks. It lives either in a process of its own
(harness/submission_process.py, the default of `harness.trial.run_trial`) or in the harness's own
process (`InProcess`: `algobench audit`, the fake-clock tests). The timing
rules stay in the runner (harness/runner.py), on the harness's clock around each call.
"""

from __future__ import annotations

import copy
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from harness import loader
from harness.algoperf_compat import accepts
from harness.spec import Hyperparameters, TrainingCompleteError, TrainState
from workloads.data import TrainStream

ADAPTER_MODULES = ("harness.algoperf_compat", "harness.algoperf_pmap")


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


class SubmissionSide:
    """The submission's state and the calls the runner makes on it (module docstring). Seeds, not
    random keys, come in: the side makes its framework's keys (`backend.make_rng`). `trains=False`
    (the batch-size process, which only answers `get_batch_size`) skips importing what training
    would import lazily (`backend.import_submission_libraries`)."""

    batches_steps = False  # whether the runner asks it for several steps a call (`steps`)

    def __init__(self, backend, spec, hyperparameters: dict, submission=None, *, trains: bool = True):
        if trains:  # the batch-size process never trains: it does without them
            backend.import_submission_libraries()  # before any submission code, off the clock
        self.backend, self.spec, self.submission = backend, spec, submission
        self.hparams = Hyperparameters(hyperparameters)
        self.workload = backend.make_workload(spec)
        self.eval_results: list[tuple[int, dict]] = []
        self.snapshots: list[tuple] = []
        self.params = self.model_state = self.optimizer_state = self.input_queue = None
        self._takes_train_state: bool | None = None
        self._in_flight = None  # the last step's `backend.step_marker`, until the next step waits for it

    def load(self, submission_dir: str | None = None, framework: str | None = None) -> dict:
        """Import the submission (where not given already); what the runner needs to know of it."""
        if self.submission is None:
            self.submission = loader.load_submission(submission_dir, framework)
        return {"has_prepare": hasattr(self.submission, "prepare_for_eval")}

    def get_batch_size(self, workload_name: str | None = None) -> dict:
        """The batch size, and for an AlgoPerf file the rule that scaled it (`batch_size_rule`,
        from the harness's adapters only: a submission module's own attributes never count).
        `workload_name`: where the side's spec has none (harness/submission_process.py)."""
        name = workload_name if workload_name is not None else self.spec.base_name
        size = int(self.submission.get_batch_size(workload_name=name))
        adapter = type(self.submission).__module__ in ADAPTER_MODULES
        return {"batch_size": size, "batch_size_rule": (
            self.submission.batch_size_meta.get("batch_size_rule") if adapter else None)}

    def start_training(self, train_split: dict, batch_size: int, data_seed: int,
                       stream_position: int, init_seed: int) -> None:
        """The training stream (from `stream_position`) and the initial model (off the clock)."""
        stream = TrainStream(train_split, batch_size, data_seed, start_batch=stream_position)
        self.input_queue = InputQueue(stream, self.workload.to_device)
        self.params, self.model_state = self.workload.init_model_fn(self.backend.make_rng(init_seed))

    def init_optimizer_state(self, seed: int) -> None:
        self.optimizer_state = self.submission.init_optimizer_state(
            workload=self.workload, model_params=self.params, model_state=self.model_state,
            hyperparameters=self.hparams, rng=self.backend.make_rng(seed))
        self.backend.sync(self.optimizer_state)

    def restore(self, canonical: dict, optimizer_files: dict[str, bytes], seed: int) -> None:
        """A checkpoint's parameters and optimizer state (as the files the backend wrote)."""
        self.params, self.model_state = self.workload.from_canonical(canonical)
        template = self.submission.init_optimizer_state(
            workload=self.workload, model_params=self.params, model_state=self.model_state,
            hyperparameters=self.hparams, rng=self.backend.make_rng(seed))
        with tempfile.TemporaryDirectory() as folder:
            for name, data in optimizer_files.items():
                (Path(folder) / name).write_bytes(data)
            self.optimizer_state = self.backend.load_optimizer_state(template, Path(folder))

    def step(self, global_step: int, select_seed: int, update_seed: int, train_state: dict,
             new_eval_results: list, sync: bool = False) -> dict:
        """One training step: `data_selection`, `update_params`. Returns whether it ran (`ok`) or
        the submission ended training (`training_complete`), and `finite`: False only where this
        step's parameters were checked and are not finite. Without `sync` they are not checked
        (the runner checks them at its next sync: a check reads every parameter, a sizeable part of a
        CPU step); the step waits for the step before (a marker queued behind it, read after this
        step is queued), so the device always has a step to run and at most two are in flight.
        `sync=True` (the runner before issue 28, for tests and benchmarks) waits for the device
        after the step instead and checks this step's parameters."""
        self.eval_results.extend(new_eval_results)
        if self._takes_train_state is None:  # AlgoPerf's v0.5 API has no train_state
            self._takes_train_state = accepts(self.submission.update_params, "train_state")
        extra = {"train_state": TrainState(train_state)} if self._takes_train_state else {}
        previous, self._in_flight = self._in_flight, None
        try:
            batch = self.submission.data_selection(
                workload=self.workload, input_queue=self.input_queue,
                optimizer_state=self.optimizer_state, current_param_container=self.params,
                model_state=self.model_state, hyperparameters=self.hparams,
                global_step=global_step, rng=self.backend.make_rng(select_seed))
            self.optimizer_state, self.params, self.model_state = self.submission.update_params(
                workload=self.workload, current_param_container=self.params,
                current_params_types=self.workload.model_params_types,
                model_state=self.model_state, hyperparameters=self.hparams, batch=batch,
                loss_type=self.spec.loss_type, optimizer_state=self.optimizer_state,
                eval_results=self.eval_results, global_step=global_step,
                rng=self.backend.make_rng(update_seed), **extra)
        except TrainingCompleteError:
            return {"status": "training_complete", "finite": True}
        if sync:
            return {"status": "ok", "finite": self.sync()}
        self._in_flight = self.backend.step_marker(self.params)
        self.backend.wait(previous)
        return {"status": "ok", "finite": True}

    def steps(self, global_step: int, seeds: list[tuple[int, int]], train_state: dict,
              new_eval_results: list, max_seconds: float, sync: bool = False) -> dict:
        """Up to `len(seeds)` training steps in one call, `step` for each from `global_step` on
        (`seeds`: each step's data-selection and update seeds), until one reports that training is
        complete or (with `sync`) that the parameters are not finite, or `max_seconds` have passed since the call
        began. Returns the last `step`'s answer and `ran`, the steps that ran (one that ended
        training does not count). Each step's `train_state` is the harness's at the call, its step
        count and times moved on by this call's steps (this process's clock: the harness times the
        whole call on its own). Why: a submission process's round trip costs about as much as a
        small step (docs/performance.md#steps-per-call)."""
        start, ran = time.perf_counter(), 0
        done = {"status": "ok", "finite": True}
        for select_seed, update_seed in seeds:
            elapsed = time.perf_counter() - start
            state = dict(train_state, global_step=global_step + ran,
                         accumulated_submission_time=train_state["accumulated_submission_time"] + elapsed,
                         remaining_time=max(0.0, train_state["remaining_time"] - elapsed))
            done = self.step(global_step + ran, select_seed, update_seed, state,
                             new_eval_results if ran == 0 else [], sync)
            if done["status"] != "ok":
                break
            ran += 1
            if not done["finite"] or time.perf_counter() - start >= max_seconds:
                break
        return {**done, "ran": ran}

    def sync(self) -> bool:
        """Wait until the device has run everything queued; whether the parameters are finite now."""
        self.backend.sync((self.optimizer_state, self.params, self.model_state))
        self._in_flight = None
        return bool(self.backend.all_finite(self.params))

    def _prepare(self, state: tuple, global_step: int, seed: int) -> tuple:
        optimizer_state, params, model_state = state
        state = self.submission.prepare_for_eval(
            workload=self.workload, current_param_container=params,
            current_params_types=self.workload.model_params_types, model_state=model_state,
            hyperparameters=self.hparams, loss_type=self.spec.loss_type,
            optimizer_state=optimizer_state, eval_results=self.eval_results,
            global_step=global_step, rng=self.backend.make_rng(seed))
        self.backend.sync(state)
        return state

    def prepare_for_eval(self, global_step: int, seed: int) -> None:
        state = (self.optimizer_state, self.params, self.model_state)
        self.optimizer_state, self.params, self.model_state = self._prepare(state, global_step, seed)

    def state(self) -> tuple:
        """(params, model_state) as they are now."""
        return self.params, self.model_state

    def canonical(self) -> dict[str, np.ndarray]:
        return {k: np.asarray(v) for k, v in self.workload.to_canonical(*self.state()).items()}

    def snapshot(self, keep_optimizer_state: bool) -> None:
        """Keep a copy of what an eval here would evaluate (deep copies: a submission may change
        its state in place). The workload, which a state may hold, is shared, not copied: copying
        it would also mark its class (copyreg's `__slotnames__`), which the guards forbid."""
        optimizer_state = self.optimizer_state if keep_optimizer_state else None
        self.snapshots.append(copy.deepcopy((optimizer_state, self.params, self.model_state),
                                            memo={id(self.workload): self.workload}))

    def prepare_snapshot(self, index: int, global_step: int, seed: int) -> None:
        """`prepare_for_eval` on snapshot `index`'s copy."""
        self.snapshots[index] = self._prepare(self.snapshots[index], global_step, seed)

    def snapshot_state(self, index: int) -> tuple:
        """(params, model_state) of snapshot `index`."""
        return self.snapshots[index][1], self.snapshots[index][2]

    def snapshot_canonical(self, index: int) -> dict[str, np.ndarray]:
        params, model_state = self.snapshot_state(index)
        return {k: np.asarray(v) for k, v in self.workload.to_canonical(params, model_state).items()}

    def drop_snapshots(self) -> None:
        self.snapshots = []

    def optimizer_files(self) -> dict[str, bytes]:
        """The optimizer state as the files the backend writes for a checkpoint."""
        with tempfile.TemporaryDirectory() as folder:
            self.backend.save_optimizer_state(self.optimizer_state, Path(folder))
            return {p.name: p.read_bytes() for p in sorted(Path(folder).iterdir()) if p.is_file()}

    def stream_position(self) -> int:
        return self.input_queue.position


class InProcess(SubmissionSide):
    """The submission side in the harness's own process (no isolation): the runner evaluates the
    side's own workload and parameters, as before the split."""

    isolation = "in-process"
    sandbox = "unsandboxed: the submission runs in the harness's process"
    # batches_steps stays False: no round trip to save, and the guards check after every step

    def freeze(self) -> None:
        pass

    def close(self) -> None:
        pass
