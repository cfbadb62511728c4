"""The submitit executor: `run_task` (harness/executors.py) for every unfinished trial of a plan, as
a Slurm job array through submitit, or through submitit's local backend (the same code path minus
the scheduler). A job requeued by Slurm resumes its trial from the last checkpoint; a job that
reaches its time limit with no requeue left leaves its trial interrupted, not failed, to resume on
the next run (`TrialFunction`, `TimeLimitReached`)."""

from __future__ import annotations

import math
import signal
import time
from pathlib import Path
from typing import Any, Sequence

from harness.executors import PlanInterrupted, record_failure, record_interruption, run_task
from harness.logs import write_trial_meta
from harness.study import PlanError, Progress, trial_meta
from harness.task import TrialTask, budget_sec
from harness.trial import has_ended


class SubmititExecutor:
    """Submits `run_task` for every unfinished trial as one job array through submitit (Slurm, or
    submitit's local backend with `cluster="local"`), waits for the jobs and records the ones that
    died. A data-parallel PyTorch trial gets `devices` tasks per node, whose torch.distributed
    environment submitit sets.

    A job requeued by Slurm (preemption, `scontrol requeue`) resumes its trial from the last
    checkpoint, clock included. Near its time limit a job is requeued `timeout_requeues` times
    (submitit's `max_num_timeout`; `TrialFunction` is submitit-checkpointable); after that, or
    where Slurm killed it at the limit (state TIMEOUT), its trial is recorded as interrupted,
    not failed, and `run` raises `PlanInterrupted` once every job has ended: the next run
    resumes it."""

    def __init__(self, folder: str | Path, *, cluster: str | None = None,
                 parallel: int | None = None, threads: int | None = None,
                 timeout_min: int | None = None, slurm_partition: str | None = None,
                 gpus_per_trial: int = 0, timeout_requeues: int = 3, poll_s: float = 1.0,
                 **parameters: Any):
        if parallel is not None and parallel < 1:
            raise PlanError(f"--parallel must be at least 1, got {parallel}")
        if threads is not None and threads < 1:
            raise PlanError(f"--threads must be at least 1, got {threads}")
        self.folder, self.cluster, self.parallel = Path(folder), cluster, parallel
        self.threads, self.timeout_min, self.partition = threads, timeout_min, slurm_partition
        self.gpus_per_trial, self.poll_s, self.parameters = gpus_per_trial, poll_s, parameters
        self.timeout_requeues = timeout_requeues

    def _executor(self, tasks: Sequence[TrialTask]):
        import submitit

        executor = submitit.AutoExecutor(folder=self.folder, cluster=self.cluster,
                                         slurm_max_num_timeout=self.timeout_requeues,
                                         local_max_num_timeout=self.timeout_requeues)
        devices = max(t.devices for t in tasks)
        torch_dp = any(t.framework == "pytorch" for t in tasks) and devices > 1
        # generous: the budget is submission time only; setup and evals come on top
        budget_min = max(budget_sec(t.spec(), t.ruleset) for t in tasks) / 60
        params: dict[str, Any] = {
            "timeout_min": self.timeout_min or int(math.ceil(3 * budget_min)) + 10,
            "tasks_per_node": devices if torch_dp else 1, "nodes": 1,
            "cpus_per_task": self.threads or 2, **self.parameters}
        if self.gpus_per_trial:
            params["gpus_per_node"] = self.gpus_per_trial
        if self.parallel:
            params["slurm_array_parallelism"] = self.parallel
        if self.partition:
            params["slurm_partition"] = self.partition
        executor.update_parameters(name="algobench", **params)
        return executor

    def run(self, tasks: Sequence[TrialTask], progress: Progress) -> None:
        todo = []
        for task in tasks:
            meta = trial_meta(task)
            if has_ended(meta):
                progress.ended(task, meta, skipped=True)
                continue
            if meta is not None and "interrupted" in meta:  # how the last run ended: not this one
                del meta["interrupted"]
                write_trial_meta(task.folder, meta)
            todo.append(task)
        if not todo:
            return
        executor = self._executor(todo)
        # a job array needs one set of resources: one array per (framework, devices)
        jobs: list[tuple[Any, TrialTask]] = []
        for group in sorted({(t.framework, t.devices) for t in todo}):
            members = [t for t in todo if (t.framework, t.devices) == group]
            submitted = executor.map_array(TrialFunction(), members)  # the tasks, pickled
            jobs.extend(zip(submitted, members))
        for job, task in jobs:
            progress.started(task, f"(job {job.job_id})")
        waiting, interrupted = list(jobs), []
        while waiting:
            time.sleep(self.poll_s)
            progress.tick(task for _, task in waiting)
            for job, task in [w for w in waiting if w[0].done()]:
                waiting.remove((job, task))
                meta = trial_meta(task)
                if not has_ended(meta):
                    state = job.state  # fresh: without a result, `done()` came from sacct
                    if state == "TIMEOUT" and not (meta or {}).get("interrupted"):
                        meta = record_interruption(  # Slurm killed it at its time limit
                            task, f"job {job.job_id} reached its time limit (state TIMEOUT)")
                    if (meta or {}).get("interrupted"):
                        interrupted.append(task)
                        progress.running.discard(task.key)
                        print(f"stopped {task.key}: {meta['interrupted']}; resumes on the next run",
                              file=progress.stream, flush=True)
                        continue
                    meta = record_failure(task, *self._failure(job, state))
                progress.ended(task, meta)
        if interrupted:
            raise PlanInterrupted(f"{len(interrupted)} trial(s) stopped at the job time limit")

    @staticmethod
    def _failure(job, state: str) -> tuple[str, None, str]:
        """Why a job ended without ending its trial, and the tail of its stderr."""
        output = "\n".join((job.stderr() or "").strip().splitlines()[-20:])
        if job.paths.result_pickle.exists():  # the job's Python code ended: returned or raised
            try:
                job.result()
                return f"job {job.job_id} ended before the trial did", None, output
            except Exception as err:  # submitit's FailedJobError holds the job's traceback
                lines = str(err).strip().splitlines()
                return (f"job {job.job_id} failed: {lines[-1] if lines else type(err).__name__}",
                        None, output)
        # died hard (signal, OOM kill, node failure): no result; `job.result()` would first wait
        # 15 s for a result file that never comes
        return f"job {job.job_id} died without a result (state {state})", None, output


try:  # submitit is optional (the `slurm` extra); without it only the local executor runs
    from submitit.helpers import Checkpointable as _Checkpointable
except ImportError:  # pragma: no cover
    _Checkpointable = object


class TimeLimitReached(BaseException):
    """Raised in a Slurm job when the time-limit signal comes and submitit will not requeue the
    job (its `max_num_timeout` requeues are spent). A BaseException, so that the runner, which
    records any Exception as the trial's failure, lets it through: the trial stays resumable."""


class TrialFunction(_Checkpointable):
    """The callable submitit runs: `run_task` in the job's process. Checkpointable: on preemption
    or timeout submitit requeues the same call, and `run_trial` resumes from the checkpoint.

    Near the time limit (`--signal=USR2@90`, submitit's default) submitit's handler requeues the
    job and exits, while requeues are left. Once none are left it raises its UncompletedJobError
    in whatever the trial was doing, which the runner would record as the trial's failure; here it
    becomes `TimeLimitReached`, and the trial is recorded as interrupted instead (its meta.json
    says so and keeps status `running`), to resume on the next run."""

    def __call__(self, task: TrialTask) -> dict:
        if task.framework == "pytorch" and task.devices > 1:
            import submitit

            # RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT for torch.distributed, from Slurm
            submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
        _stop_at_time_limit()
        try:
            return run_task(task)
        except TimeLimitReached as reached:
            return record_interruption(task, str(reached))


def _stop_at_time_limit() -> None:
    """Wrap submitit's time-limit signal handler (installed before the job's function runs) so
    that its last word, "not requeued", reaches `TrialFunction` as `TimeLimitReached`."""
    import submitit
    from submitit.core.utils import UncompletedJobError

    try:
        environment = submitit.JobEnvironment()
    except RuntimeError:  # not in a submitit job: nothing to wrap
        return
    number = environment._usr_sig()  # the signal submitit listens to (SUBMITIT_PREEMPT_SIGNAL)
    handler = signal.getsignal(number)
    if not callable(handler):  # not under submitit: nothing to wrap
        return

    def on_time_limit(signum, frame):
        try:
            handler(signum, frame)  # checkpoint, requeue and exit, where a requeue is left
        except UncompletedJobError as err:
            raise TimeLimitReached(f"job {environment.job_id} reached its time limit with no "
                                   f"requeue left ({err})") from None

    signal.signal(number, on_time_limit)
