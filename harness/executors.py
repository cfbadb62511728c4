"""Executors: run the trials of a plan, each in a process of its own, so that a crash, an OOM kill or
a NaN loses that trial only.

- `run_task(task)`: the trial function every executor runs in the trial's own process; it calls
  `harness.trial.run_trial`, which skips a finished trial and resumes an interrupted one from its
  checkpoint, so re-running a plan finishes it without redoing anything.
- `LocalExecutor`: trials in parallel on this machine, each on its own disjoint share of the cores
  (and of the GPUs, where there are any); a data-parallel PyTorch trial runs under torchrun.
- `SubmititExecutor` (harness/submitit_executor.py): the same `run_task` as a Slurm job array
  through submitit (or through submitit's local backend, the same code path minus the scheduler).

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
from harness.logs import EVENTS_FILE, TrialLog, write_trial_meta
from harness.study import PlanError, Progress, trial_meta
from harness.task import TrialTask
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

