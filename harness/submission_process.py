"""The process a submission runs in, and the harness's handle on it (docs/integrity.md#process-split).

`SubmissionProcess` runs the submission's side (harness/submission_side.py) in
`python -m harness.submission_process FD` (its loop: harness/submission_main.py), started in a
new session, under bubblewrap where the machine allows (harness/sandbox.py); the runner
(harness/runner.py) calls it as it calls an in-process side, and the timing rules stay there, on
the harness's clock around each call. A data-parallel rank's: harness/data_parallel_process.py.

What crosses between the processes: commands go down as pickles (harness to submission); answers
come back as JSON and NumPy `.npz` bytes read with `allow_pickle=False`, never as pickles, so the
submission process cannot make the harness run code. The held-out splits, the clock, the log and
the runner never enter the submission process: it gets the training split in a sealed memory file
whose descriptor follows `start_training` (harness/array_handoff.py). While the harness evaluates,
logs or checkpoints, the submission process and every process it started are stopped (SIGSTOP;
SIGCONT before the next command); at the trial's end they are killed (SIGKILL).
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from multiprocessing import reduction
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

from harness import array_handoff, clock, loader, process_control, sandbox
from harness.task import budget_sec

REPO_ROOT = Path(__file__).resolve().parent.parent
# The calls the runner charges to the submission: each may take what is left of the trial's budget
# and a grace (docs/integrity.md#timeouts); every other call gets UNTIMED_TIMEOUT_SEC.
TIMED_COMMANDS = ("load", "get_batch_size", "init_optimizer_state", "step", "steps", "sync",
                  "prepare_for_eval")
GRACE_MIN_SEC, GRACE_FRACTION = 10.0, 0.1  # the grace: max(10 s, a tenth of the budget)
UNTIMED_TIMEOUT_SEC = 600.0  # harness work in the submission process (parameters, checkpoints)
STARTUP_TIMEOUT_SEC = 600.0  # `init`: the interpreter and the framework start (no submission yet)
# what torchrun sets for a harness rank (its rank, its group's store): never a submission's
TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR",
                      "MASTER_PORT")
TORCHRUN_PREFIXES = ("TORCHELASTIC_", "GROUP_", "ROLE_")


class SubmissionProcessError(Exception):
    """The submission process failed a command (its traceback) or ended (how); the trial fails
    with `stop_reason` and this message."""

    def __init__(self, message: str, stop_reason: str = "error"):
        super().__init__(message)
        self.stop_reason = stop_reason


# -- the harness's handle on a submission process ------------------------------------------------
class SubmissionProcess:
    """The runner's handle on a submission process: the same calls as `SubmissionSide`, each a
    round trip over a socket pair. `workload` is the harness's own instance, which evaluates the
    parameters the process hands over in canonical form (`from_canonical`, as a checkpoint
    restore). The process is frozen by `freeze()` and thawed by the next call.

    The process never receives the workload's name: it gets the spec without it (`_unnamed`), and
    `get_batch_size(workload_name)` runs in a second, short-lived process of its own
    (`batch_size_process`, docs/integrity.md#the-workload-name)."""

    isolation = "separate-process"
    batches_steps = True  # the runner may ask for several steps a round trip (`steps`)

    def __init__(self, task, backend, spec, cores: list[int], *, answers_batch_size: bool = False):
        self.workload = None if answers_batch_size else backend.make_workload(spec)
        self.workload_name = spec.base_name  # the harness's: sent to the batch-size process only
        self.scratch = sandbox.prepare_scratch(
            Path(tempfile.gettempdir()) / f"algobench-scratch-{os.getpid()}-{id(self):x}")
        ours, theirs = socket.socketpair()
        argv = [sys.executable, "-m", "harness.submission_process", str(theirs.fileno())]
        argv, self.sandbox = sandbox.command(self._policy(task, cores), argv)
        self.process = subprocess.Popen(argv, pass_fds=[theirs.fileno()], start_new_session=True,
                                        env=self._environment(), cwd=self.scratch,
                                        preexec_fn=process_control.ignore_termination_signals)
        theirs.close()
        self.conn = Connection(ours.detach())
        self.frozen: list[int] = []
        # what is left of the trial's budget, as the harness last told it (`step`'s train_state),
        # less the timed calls since; before the first step, the spec's (reference-host) budget
        self.budget = budget_sec(spec, task.ruleset)
        self.budget_left = self.budget
        # started while this one starts (off the clock), the submission imported there
        self.batch_size_process, self._batch_size_error, self._batch_size_answer = None, None, None
        if not answers_batch_size and self.asks_batch_size:
            self._start_batch_size_process(task, backend, spec, cores)
        try:
            self._call("init", framework=task.framework, submission_dir=task.submission_dir,
                       hyperparameters=task.hyperparameters, spec=_unnamed(spec),
                       cores=list(cores or []), distributed=self._distributed(),
                       trains=not answers_batch_size)
        except BaseException:
            self.close()
            raise

    # what a subclass changes (harness/data_parallel_process.py)
    asks_batch_size = True  # whether this instance starts the batch-size process

    def _policy(self, task, cores: list[int]) -> sandbox.Policy:
        """The sandbox of the process: its scratch folder, the results folder and data cache hidden."""
        return sandbox.Policy(scratch=self.scratch, hidden=_hidden_folders(task),
                              cores=tuple(cores) if cores else None)

    def _environment(self) -> dict[str, str]:
        """The process's environment: the harness's, with the repository importable and without
        torchrun's variables (its rank and its process group's address)."""
        env = {k: v for k, v in os.environ.items()
               if k not in TORCHRUN_VARIABLES and not k.startswith(TORCHRUN_PREFIXES)}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
        return env

    def _distributed(self) -> dict | None:
        """The submission group the process joins at `init` (None: it runs alone)."""
        return None

    poll_sec = 3600.0  # how long `_receive` waits between two looks at `_peer_failure`

    def _peer_failure(self) -> None:
        """Raise when the trial failed elsewhere while this process was waited for (a
        data-parallel peer); alone, never."""

    def _start_batch_size_process(self, task, backend, spec, cores) -> None:
        """The process that will answer `get_batch_size`: the same sandbox, the same unnamed
        spec, the submission imported (`load`, off the clock: the import is timed in this
        process), then frozen. A failure is kept for `get_batch_size` to raise, in the trial."""
        try:
            self.batch_size_process = SubmissionProcess(task, backend, spec, cores,
                                                        answers_batch_size=True)
            self.batch_size_process.load()
            self.batch_size_process.freeze()
        except Exception as err:  # a submission that cannot be imported fails its trial there
            self._batch_size_error = err
            self._end_batch_size_process()

    def _end_batch_size_process(self) -> None:
        if self.batch_size_process is not None:
            self.batch_size_process.close()  # its processes killed, its scratch folder removed
            self.batch_size_process = None

    # the calls of SubmissionSide, as round trips
    def load(self) -> dict:
        return self._call("load")

    def get_batch_size(self) -> dict:
        """`get_batch_size(workload_name)` in the batch-size process, which alone is told the
        name, while this process is frozen; that process ends before this one runs again: of what
        the submission computes there, only the batch size reaches training."""
        if self._batch_size_error is not None:
            raise self._batch_size_error
        if self._batch_size_answer is None:
            self.freeze()
            try:
                self._batch_size_answer = self.batch_size_process._call(
                    "get_batch_size", workload_name=self.workload_name)
            except Exception as err:
                self._batch_size_error = err
                raise
        return self._batch_size_answer

    def start_training(self, train_split: dict, batch_size: int, data_seed: int,
                       stream_position: int, init_seed: int) -> None:
        # The training split only, in a sealed memory file whose descriptor follows the command
        # (harness/array_handoff.py): no disk write in the trial's setup, whose time varied most
        # with the disk's, and no pickle of it over the socket, which took most of the setup.
        fd, layout = array_handoff.to_memory_file(train_split)
        try:
            self._call("start_training", handle=fd, train_split=layout, batch_size=batch_size,
                       data_seed=data_seed, stream_position=stream_position, init_seed=init_seed)
        finally:
            os.close(fd)

    def init_optimizer_state(self, seed: int) -> None:
        self._call("init_optimizer_state", seed=seed)

    def restore(self, canonical: dict, optimizer_files: dict[str, bytes], seed: int) -> None:
        self._call("restore", canonical=canonical, optimizer_files=optimizer_files, seed=seed)

    def step(self, global_step, select_seed, update_seed, train_state, new_eval_results,
             sync: bool = False) -> dict:
        self.budget = float(train_state["max_allowed_runtime_sec"])
        self.budget_left = float(train_state["remaining_time"])
        status = self._call("step", global_step=global_step, select_seed=select_seed,
                            update_seed=update_seed, train_state=dict(train_state),
                            new_eval_results=new_eval_results, sync=sync)
        return {"status": str(status["status"]), "finite": bool(status["finite"])}

    def steps(self, global_step, seeds, train_state, new_eval_results, max_seconds: float,
              sync: bool = False) -> dict:
        """Several steps in one round trip (`SubmissionSide.steps`)."""
        self.budget = float(train_state["max_allowed_runtime_sec"])
        self.budget_left = float(train_state["remaining_time"])
        done = self._call("steps", global_step=global_step, seeds=[list(s) for s in seeds],
                          train_state=dict(train_state), new_eval_results=new_eval_results,
                          max_seconds=max_seconds, sync=sync)
        return {"status": str(done["status"]), "finite": bool(done["finite"]), "ran": int(done["ran"])}

    def sync(self) -> bool:
        return bool(self._call("sync"))

    def prepare_for_eval(self, global_step: int, seed: int) -> None:
        self._call("prepare_for_eval", global_step=global_step, seed=seed)

    def state(self) -> tuple:
        return self.workload.from_canonical(self._call("canonical"))

    def canonical(self) -> dict[str, np.ndarray]:
        return self._call("canonical")

    def snapshot(self, keep_optimizer_state: bool) -> None:
        self._call("snapshot", keep_optimizer_state=keep_optimizer_state)

    def prepare_snapshot(self, index: int, global_step: int, seed: int) -> None:
        self._call("prepare_snapshot", index=index, global_step=global_step, seed=seed)

    def snapshot_state(self, index: int) -> tuple:
        return self.workload.from_canonical(self._call("snapshot_canonical", index=index))

    def drop_snapshots(self) -> None:
        self._call("drop_snapshots")

    def optimizer_files(self) -> dict[str, bytes]:
        return {name: data.tobytes() for name, data in self._call("optimizer_files").items()}

    def stream_position(self) -> int:
        return int(self._call("stream_position"))

    # the process
    def freeze(self) -> None:
        """Stop the submission process and every process it started (SIGSTOP), so nothing of
        the submission computes while the clock is stopped. Processes are found as descendants,
        again until no new one appears (one may fork while the others stop)."""
        while self.process.poll() is None:  # (an ended process's number may be reused)
            found = [p for p in process_control.descendants(self.process.pid) if p not in self.frozen]
            if not found:
                return
            for pid in found:
                process_control.send_signal(pid, signal.SIGSTOP)
            self.frozen += found

    def _thaw(self) -> None:
        for pid in self.frozen:
            process_control.send_signal(pid, signal.SIGCONT)
        self.frozen = []

    def close(self) -> None:
        """Kill the process group and every descendant (SIGKILL); remove the scratch folder."""
        self._end_batch_size_process()
        self._kill()
        self.conn.close()
        shutil.rmtree(self.scratch, ignore_errors=True)

    def _kill(self) -> None:
        for pid in process_control.descendants(self.process.pid) if self.process.poll() is None else []:
            process_control.send_signal(pid, signal.SIGKILL)
        try:  # also what is left of its group after it ended (its session's processes)
            os.killpg(self.process.pid, signal.SIGKILL)
        except OSError:
            pass
        self.process.wait()

    def _call(self, command: str, handle: int | None = None, **args: Any) -> Any:
        """`command` with `args` (a pickle), then `handle`, a descriptor the process receives
        right after the command (harness/submission_main.py), where given; its answer."""
        if self._batch_size_answer is not None or self._batch_size_error is not None:
            self._end_batch_size_process()  # it answered (or failed): it ends before this one runs
        self._thaw()
        start = clock.perf_counter()
        timeout = self._timeout(command)
        try:
            self.conn.send((command, args))
            if handle is not None:
                reduction.send_handle(self.conn, handle, self.process.pid)
            header = json.loads(self._receive(command, start + timeout))
            arrays = (_read_arrays(self._receive(command, start + timeout))
                      if header.get("arrays") else None)
        except (EOFError, OSError, ValueError):
            raise SubmissionProcessError(self._how_it_ended(command), "submission_exited") from None
        finally:
            if command in TIMED_COMMANDS:
                self.budget_left -= clock.perf_counter() - start
        if header["status"] == "submission_error":
            raise loader.SubmissionError(header["message"])
        if header["status"] == "error":
            raise SubmissionProcessError(
                f"the submission's {command} failed in the submission process:\n{header['traceback']}")
        return arrays if arrays is not None else header.get("value")

    def _timeout(self, command: str) -> float:
        """How long `command` may take: a timed call what is left of the budget and the grace,
        any other call UNTIMED_TIMEOUT_SEC."""
        if command in TIMED_COMMANDS:
            return max(0.0, self.budget_left) + self._grace()
        return STARTUP_TIMEOUT_SEC if command == "init" else UNTIMED_TIMEOUT_SEC

    def _grace(self) -> float:
        return max(GRACE_MIN_SEC, GRACE_FRACTION * self.budget)

    def _receive(self, command: str, deadline: float) -> bytes:
        """The next message of the submission process, waited for until `deadline` (the
        harness's clock); past it, the process is killed and the trial ends: on its budget after
        a timed call (the time was the submission's), as failed (`submission_timeout`) otherwise."""
        while True:  # in waits of `poll_sec` at most: poll(2) takes no more than 24 days
            left = deadline - clock.perf_counter()
            if self.conn.poll(min(max(0.0, left), self.poll_sec)):
                return self.conn.recv_bytes()
            if left <= self.poll_sec:
                break
            self._peer_failure()
        self._kill()
        if command in TIMED_COMMANDS:
            raise SubmissionProcessError(
                f"the submission's {_WHAT_RUNS.get(command, command)} did not return within the "
                f"trial's remaining budget and a grace of {self._grace():g} s: "
                "the submission process was killed and the trial ended on its budget, the time "
                "charged to the submission", "budget")
        raise SubmissionProcessError(
            f"the submission process did not answer the harness's {command} (off the clock) within "
            f"{self._timeout(command):g} s: it was killed and the trial failed; a submission's state "
            "must save, copy and hand over its parameters promptly", "submission_timeout")

    def _how_it_ended(self, command: str) -> str:
        try:
            code = self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            return f"the submission process stopped answering during {command}"
        sandboxed = not self.sandbox.startswith("unsandboxed")
        number = -code if code < 0 else code - 128 if sandboxed and code > 128 else None
        if number in set(signal.Signals):  # bwrap reports its child's signal as 128 + number
            name = signal.Signals(number).name
            return (f"the submission process was killed by {name} during {command}"
                    + (" (out of memory, or killed by itself or another process)"
                       if name == "SIGKILL" else ""))
        return (f"the submission process exited with code {code} during {command} (a submission "
                "may not end its process: os._exit, sys.exit, SystemExit or KeyboardInterrupt)")


def _unnamed(spec):
    """The spec without the workload's name (the base workload's too) and the fields that spell
    it out: what the submission process gets. Its model family still names the model code, as
    AlgoPerf's workload classes do (docs/integrity.md#the-workload-name)."""
    return dataclasses.replace(spec, name="", base=None, description="", targets_source="",
                               data_source="")


_WHAT_RUNS = {"step": "data_selection or update_params", "steps": "data_selection or update_params",
              "load": "import",
              "init_optimizer_state": "init_optimizer_state", "prepare_for_eval": "prepare_for_eval",
              "get_batch_size": "get_batch_size"}


def _hidden_folders(task) -> tuple[Path, ...]:
    """Folders the sandbox masks: the results folder (other trials, this trial's own log) and the
    data cache (the held-out splits), unless one holds the code the process must import."""
    from workloads.data import cache_dir

    needed = [REPO_ROOT, Path(task.submission_dir).resolve(), Path(sys.prefix).resolve()]
    hidden = []
    for folder in (Path(task.out).resolve(), cache_dir().resolve()):
        if folder.is_dir() and not any(n == folder or folder in n.parents for n in needed):
            hidden.append(folder)
    return tuple(hidden)


def _read_arrays(data: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(data), allow_pickle=False) as saved:
        return {k: saved[k] for k in saved.files}


if __name__ == "__main__":
    process_control.die_with_the_harness()
    process_control.keep_freed_memory()
    from harness.submission_main import serve

    serve(Connection(int(sys.argv[1])))
    os._exit(0)  # the harness closed the connection: no thread of the submission keeps this alive
