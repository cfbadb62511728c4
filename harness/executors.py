"""Executors: run the trials of a plan, each in a process of its own, so that a crash, an OOM kill or
a NaN loses that trial only.

- `run_task(task)`: the trial function every executor runs in the trial's own process; it calls
  `harness.trial.run_trial`, which skips a finished trial and resumes an interrupted one from its
  checkpoint, so re-running a plan finishes it without redoing anything.
- `LocalExecutor`: trials in parallel on this machine, each on its own disjoint share of the cores
  (and of the GPUs, where there are any); a data-parallel PyTorch trial runs under torchrun.
- `SubmititExecutor`: the same `run_task` as a Slurm job array through submitit (or through
  submitit's local backend, the same code path minus the scheduler).

A trial whose process dies without ending the trial is recorded by `record_exit`: killed by a
signal (kill -9, the OOM killer) after the trial wrote a checkpoint, as interrupted
(`record_interruption`: the next run resumes it from that checkpoint); otherwise (an exit code,
`os._exit`, a signal before any checkpoint, or a second kill at the same checkpoint) by
`record_failure`: meta.json gets status `failed`, stop reason `error`, the exit code, and the tail
of the process's output as `error`. A submission's Python exception is recorded as the trial's
failure by the runner itself; a full disk stops the trial resumable (exit code EXIT_DISK_FULL).

The local executor's trial processes run harness/worker.py.
"""

from __future__ import annotations

import math
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any, Sequence

from harness import backends, checkpoint
from harness.logs import EVENTS_FILE, META_FILE, TrialLog, atomic_write_json, write_trial_meta
from harness.study import PlanError, Progress, trial_meta
from harness.task import TrialTask, budget_sec
from harness.trial import has_ended

WORKER_LOG = "worker.log"  # the trial process's stdout and stderr, appended on every run
EXIT_DISK_FULL = 75  # a trial process's exit code when the disk filled up (sysexits' EX_TEMPFAIL)


# -- the trial function ------------------------------------------------------------------------
def trial_environment(task: TrialTask, environ: dict | None = None,
                      cores: int | None = None) -> dict[str, str]:
    """The environment a trial process on `cores` cores (default: this process's) needs. JAX: its
    host (CPU) devices, one per core or the task's data-parallel devices where more
    (`backends.jax_host_devices`), which XLA reads once, when JAX's CPU backend starts."""
    env = dict(os.environ if environ is None else environ)
    if task.framework == "jax":
        cores = len(os.sched_getaffinity(0)) if cores is None else cores
        env = backends.with_jax_host_devices(env, backends.jax_host_devices(task.devices, cores))
    return env


def run_task(task: TrialTask) -> dict:
    """Run one trial in this process and return its meta.json (also when it was already done)."""
    if task.framework == "jax":
        env = trial_environment(task)
        if "jax" in sys.modules and os.environ.get("XLA_FLAGS") != env["XLA_FLAGS"]:
            raise RuntimeError("jax was imported before the trial could set its device count; "
                               "run the trial in a fresh process")
        os.environ["XLA_FLAGS"] = env["XLA_FLAGS"]
    from harness.trial import run_trial  # after XLA_FLAGS

    return run_trial(task)


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name} (exit code {code})"
        except ValueError:
            return f"killed by signal {-code} (exit code {code})"
    return f"exited with code {code} before the trial ended"


def _tail(path: Path, lines: int = 20) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 16384))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _meta_or_identity(task: TrialTask) -> dict:
    """The trial's meta.json, or its identity from the plan where the runner wrote nothing yet."""
    meta = trial_meta(task)
    if meta is not None:
        return meta
    return {**task.identity_meta(task.spec()), "base_seed": task.base_seed, "status": "running"}


def record_failure(task: TrialTask, reason: str, exit_code: int | None = None,
                   output: str = "") -> dict:
    """Record a trial whose process ended without ending the trial as `failed`. A meta.json that
    already says how the trial ended (the runner wrote it) is kept as it is."""
    meta = _meta_or_identity(task)
    if has_ended(meta):
        return meta
    meta.update(status="failed", stop_reason="error", exit_code=exit_code,
                error=f"{output.rstrip()}\n{reason}".strip(),  # the reason is the last line
                finished_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    write_trial_meta(task.folder, meta)
    return meta


def record_interruption(task: TrialTask, reason: str, **fields: Any) -> dict:
    """Record a trial stopped from outside before its end (a Slurm time limit, its process killed)
    as interrupted: meta.json keeps status `running` (so the next run resumes it from its last
    checkpoint, clock included) and says why under `interrupted`; events.jsonl gets an
    `interrupted` event (with `fields`), which the resumed trial keeps. A trial that already
    ended is left as it is."""
    meta = _meta_or_identity(task)
    if has_ended(meta):
        return meta
    meta["interrupted"] = reason
    task.folder.mkdir(parents=True, exist_ok=True)
    write_trial_meta(task.folder, meta)
    if (task.folder / EVENTS_FILE).exists():
        TrialLog.resume(task.folder).add_event("interrupted", wall_time=time.time(), reason=reason,
                                               **fields)
    return meta


def record_exit(task: TrialTask, exit_code: int, output: str = "") -> dict:
    """Record a trial whose process ended (`exit_code`, negative for a signal) without ending the
    trial. Killed by a signal after the trial wrote a checkpoint: interrupted, to resume from it on
    the next run. Killed again at the checkpoint an earlier kill left it at (an OOM or a
    submission that kills itself there would repeat forever), exited, or killed before any
    checkpoint: failed for good. Exited with EXIT_DISK_FULL (the disk filled up): interrupted,
    where meta.json can still be written."""
    if exit_code == EXIT_DISK_FULL:
        reason = (f"no space left on the device for {task.folder}; free space and run the same "
                  "command again")
        try:
            return record_interruption(task, reason)
        except OSError:  # still full: meta.json stays `running`, as the trial left it
            return {**(trial_meta(task) or {}), "status": "running", "interrupted": reason}
    reason = f"trial process {describe_exit(exit_code)}"
    resume_from = checkpoint.latest(task.folder) if exit_code < 0 else None
    if resume_from is not None:
        events = TrialLog.resume(task.folder).events if (task.folder / EVENTS_FILE).exists() else []
        if not any(e.get("event") == "interrupted" and e.get("checkpoint") == resume_from.name
                   for e in events):
            return record_interruption(task, f"{reason}; resumes from its checkpoint "
                                             f"{resume_from.name}", checkpoint=resume_from.name)
        reason += f" again at its checkpoint {resume_from.name}; not resumed a second time"
    return record_failure(task, reason, exit_code, output)


class PlanInterrupted(KeyboardInterrupt):
    """Some trials of the plan stopped before their end without failing (a Slurm time limit).
    A KeyboardInterrupt, so that the CLI says what it says after Ctrl-C: the plan is unfinished,
    and the same command again resumes the interrupted trials."""


# -- the local executor ------------------------------------------------------------------------
def visible_gpus() -> list[str]:
    """The GPUs trials may use: CUDA_VISIBLE_DEVICES when set, else what `nvidia-smi -L` lists."""
    if "CUDA_VISIBLE_DEVICES" in os.environ:
        return [g for g in os.environ["CUDA_VISIBLE_DEVICES"].split(",") if g.strip()]
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [str(i) for i, line in enumerate(out.stdout.splitlines()) if line.startswith("GPU ")]


class LocalExecutor:
    """Runs trials in parallel on this machine, `parallel` at a time, each in a process of its own
    on its own equal, disjoint share of the cores (and `task.devices` GPUs each, where there are
    GPUs; `gpus=[]` keeps the trials on the CPU). Cores left over by the division stay idle, so
    that every trial of a plan runs on the same number of cores.

    Hand-written scheduling rather than a process pool: a pool worker that dies breaks the whole
    pool (concurrent.futures' BrokenProcessPool), and per-trial cores, environment and exit codes
    are what this executor is for."""

    def __init__(self, parallel: int = 1, threads: int | None = None, *,
                 cores: Sequence[int] | None = None, gpus: Sequence[str] | None = None,
                 poll_s: float = 0.1):
        cores = sorted(os.sched_getaffinity(0) if cores is None else cores)
        self.gpus = list(visible_gpus() if gpus is None else gpus)
        self.hide_gpus = gpus is not None and not self.gpus  # gpus=[]: trials on the CPU only
        if parallel < 1:
            raise PlanError(f"--parallel must be at least 1, got {parallel}")
        if parallel > len(cores):
            raise PlanError(f"--parallel {parallel} is more than the {len(cores)} cores available; "
                            f"use --parallel {len(cores)} or fewer")
        threads = len(cores) // parallel if threads is None else threads
        if threads < 1 or threads * parallel > len(cores):
            raise PlanError(f"--threads {threads} x --parallel {parallel} needs "
                            f"{threads * parallel} cores, {len(cores)} are available; lower one")
        self.parallel, self.threads, self.poll_s = parallel, threads, poll_s
        self.core_slots = [cores[i * threads:(i + 1) * threads] for i in range(parallel)]

    def check(self, tasks: Sequence[TrialTask]) -> None:
        """Reject what cannot run here, before anything starts."""
        devices = max((t.devices for t in tasks), default=1)
        if self.gpus and devices * self.parallel > len(self.gpus):
            raise PlanError(f"--devices {devices} x --parallel {self.parallel} needs "
                            f"{devices * self.parallel} GPUs, {len(self.gpus)} are visible; lower one")
        torch_dp = max((t.devices for t in tasks if t.framework == "pytorch"), default=1)
        if not self.gpus and torch_dp > self.threads:
            raise PlanError(f"--devices {torch_dp} runs {torch_dp} PyTorch processes per trial but "
                            f"each trial has {self.threads} cores; use --parallel "
                            f"{max(1, len(sum(self.core_slots, [])) // torch_dp)} or fewer devices")

    def _launch(self, task: TrialTask, cores: list[int], gpus: list[str]):
        env = trial_environment(task, cores=len(cores))
        env.update(ALGOBENCH_CORES=",".join(map(str, cores)), ALGOBENCH_PARENT_PID=str(os.getpid()),
                   OMP_NUM_THREADS=str(max(1, len(cores) // task.devices)))
        if self.gpus or self.hide_gpus:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(gpus)
        task.folder.mkdir(parents=True, exist_ok=True)
        log = open(task.folder / WORKER_LOG, "ab")
        log.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S%z')} cores {cores}\n".encode())
        log.flush()
        # its own session: a Ctrl-C in the terminal reaches this executor only, which stops the
        # trials itself (they stay resumable)
        proc = subprocess.Popen([sys.executable, "-m", "harness.worker", task.to_json()],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                env=env, start_new_session=True)
        return proc, log

    def run(self, tasks: Sequence[TrialTask], progress: Progress) -> None:
        self.check(tasks)
        pending = deque()
        for task in tasks:
            meta = trial_meta(task)
            if has_ended(meta):
                progress.ended(task, meta, skipped=True)
            else:
                pending.append(task)
        free_cores = list(self.core_slots)
        per_trial = max((t.devices for t in tasks), default=1)
        free_gpus = [self.gpus[i:i + per_trial] for i in range(0, len(self.gpus), per_trial)]
        free_gpus = [g for g in free_gpus if len(g) == per_trial] or [[]]
        running: dict[Any, tuple] = {}
        interrupted = []
        try:
            while pending or running:
                while pending and free_cores and (free_gpus or not self.gpus):
                    task, cores = pending.popleft(), free_cores.pop(0)
                    gpus = free_gpus.pop(0) if self.gpus else []
                    proc, log = self._launch(task, cores, gpus)
                    running[proc] = (task, cores, gpus, log)
                    progress.started(task, f"(cores {','.join(map(str, cores))}"
                                           f"{', gpus ' + ','.join(gpus) if gpus else ''})")
                time.sleep(self.poll_s)
                progress.tick(entry[0] for entry in running.values())
                for proc in [p for p in running if p.poll() is not None]:
                    task, cores, gpus, log = running.pop(proc)
                    log.close()
                    free_cores.append(cores)
                    if self.gpus:
                        free_gpus.append(gpus)
                    meta = trial_meta(task)
                    if not has_ended(meta):
                        meta = record_exit(task, proc.returncode, _tail(task.folder / WORKER_LOG))
                    if not has_ended(meta):
                        interrupted.append(task)
                        progress.running.discard(task.key)
                        print(f"stopped {task.key}: {meta['interrupted']}; resumes on the next run",
                              file=progress.stream, flush=True)
                        continue
                    progress.ended(task, meta)
            if interrupted:
                raise PlanInterrupted(f"{len(interrupted)} trial process(es) killed after a "
                                      "checkpoint")
        finally:  # interrupted (Ctrl-C, SIGTERM): stop the trials; each resumes on the next run
            for proc, (task, _, _, log) in running.items():
                _stop(proc)
                log.close()


def _stop(proc: subprocess.Popen, grace_s: float = 10.0) -> None:
    """Stop a trial process and everything it started (its own process group; torchrun stops its
    workers on SIGTERM, and they die with it). The trial keeps status `running`: not failed, resumable."""
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


# -- the submitit (Slurm) executor ---------------------------------------------------------------
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
