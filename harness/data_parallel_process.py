"""The submission process of one rank of a data-parallel PyTorch trial (docs/integrity.md#data-parallel-trials).

Every harness rank (torchrun's) runs the runner's loop against its own `DataParallelProcess`, a
`SubmissionProcess` whose process joins the submission processes' own group at `init`: rank,
world size and a FileStore in the trial's rendezvous folder (`make_rendezvous`), never the
harness group's address. The workload's sharding and DDP then run in the submission processes,
over their group (workloads/pytorch_workload.py), as they ran over torchrun's ranks in one process.

What differs from a single-device trial's process:
- Its sandbox keeps the host's network (`Policy.share_net`: gloo and NCCL talk TCP, on the
  loopback only, GLOO_SOCKET_IFNAME=lo) and binds the rendezvous folder's `group/` read-write;
  every other trial's rendezvous folder stays hidden. meta.json's `sandbox` records the network.
- The batch-size process runs on rank 0 only, without network; its answer (or failure) is
  broadcast to every rank, whose processes are frozen meanwhile.
- The parameters the harness evaluates are rank 0's: rank 0's process hands them over and the
  harness ranks broadcast them among themselves; the other processes stay frozen.
- Every call the ranks make in lockstep ends with one all_reduce among the harness ranks (`agree`):
  whether a rank failed, whether every rank's parameters are finite (at a sync), whether any rank's submission
  said training is complete; so every rank's runner takes the same decision. A rank whose call
  fails writes its failure into the folder's `abort/` (which no sandbox sees) first; a rank waiting
  on its own process reads it there, kills its process and stops waiting. Every rank then raises
  the same failure: the first of those that ended a process (exit, kill, timeout), else the first.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

from harness import backends, clock, loader, sandbox
from harness.submission_process import SubmissionProcess, SubmissionProcessError

RENDEZVOUS_PARENT = "algobench-dp"  # under the temporary folder: every trial's rendezvous folder
RANK0_ONLY = ("canonical", "snapshot_canonical", "optimizer_files")  # rank 0's hand-overs
PEER_POLL_SEC = 0.5  # how often a rank waiting on its process looks for a peer's failure
SUBMISSION_VARIABLES = {"GLOO_SOCKET_IFNAME": "lo", "NCCL_SOCKET_IFNAME": "lo",
                        "TORCH_NCCL_ENABLE_MONITORING": "0"}  # a frozen peer is no hang


def make_rendezvous(backend, rank: int) -> Path:
    """The trial's rendezvous folder, made by rank 0 and broadcast to every harness rank: `group/`
    (the submission group's FileStore, bound into every rank's sandbox) and `abort/` (the ranks'
    failures, harness-only)."""
    folder = None
    if rank == 0:
        parent = Path(tempfile.gettempdir()) / RENDEZVOUS_PARENT
        parent.mkdir(exist_ok=True)
        folder = Path(tempfile.mkdtemp(dir=parent)).resolve()
        (folder / "group").mkdir()
        (folder / "abort").mkdir()
    return Path(backend.broadcast_object(None if folder is None else str(folder)))


class _PeerFailed(Exception):
    """Another rank's call failed while this rank waited on its own process (which was killed)."""


class DataParallelProcess(SubmissionProcess):
    """One rank's submission process of a data-parallel PyTorch trial (module docstring). `backend`
    is harness/pytorch_backend.py, whose harness group (torchrun's) the rank has joined."""

    poll_sec = PEER_POLL_SEC

    def __init__(self, task, backend, spec, cores: list[int], rank: int, world: int):
        self.backend, self.rank, self.world = backend, rank, world
        self.local_rank, self.local_world = backends.local_process_slot()
        self.rendezvous = make_rendezvous(backend, rank)
        self.asks_batch_size = rank == 0
        self._shared_batch_size: tuple | None = None
        super().__init__(task, backend, spec, cores)

    def _policy(self, task, cores: list[int]) -> sandbox.Policy:
        policy = super()._policy(task, cores)
        return dataclasses.replace(policy, hidden=(*policy.hidden, self.rendezvous.parent),
                                   shared=(self.rendezvous / "group",), share_net=True)

    def _environment(self) -> dict[str, str]:
        return {**super()._environment(), **SUBMISSION_VARIABLES, "RANK": str(self.rank),
                "WORLD_SIZE": str(self.world), "LOCAL_RANK": str(self.local_rank),
                "LOCAL_WORLD_SIZE": str(self.local_world)}

    def _distributed(self) -> dict:
        return {"store": str(self.rendezvous / "group" / "store"), "rank": self.rank,
                "world": self.world, "local_rank": self.local_rank}

    # the calls that differ from a single-device trial's
    def get_batch_size(self) -> dict:
        """Rank 0's batch-size process answers, while every rank's training process is frozen."""
        if self._shared_batch_size is None:
            self.freeze()
            self._shared_batch_size = self._from_rank0(super().get_batch_size)
        return _result(self._shared_batch_size)

    def state(self) -> tuple:
        """Rank 0's parameters, on every harness rank (its own workload, as a checkpoint restore)."""
        self.freeze()  # rank 0's process thaws for its call; the others stay frozen
        return self.workload.from_canonical(_result(self._from_rank0(lambda: self._call("canonical"))))

    def snapshot_state(self, index: int) -> tuple:
        self.freeze()
        return self.workload.from_canonical(_result(self._from_rank0(
            lambda: self._call("snapshot_canonical", index=index))))

    def _from_rank0(self, call: Callable[[], Any]) -> tuple:
        """Rank 0's `call()` as ("ok", value) or ("error", kind, message, stop_reason), on every rank."""
        outcome = None
        if self.rank == 0:
            try:
                outcome = ("ok", call())
            except loader.SubmissionError as err:
                outcome = ("error", "submission", str(err), "error")
            except Exception as err:  # raised on every rank, so no rank waits on rank 0
                outcome = ("error", "process", str(err), getattr(err, "stop_reason", "error"))
        return self.backend.broadcast_object(outcome)

    # One step a call: the ranks agree after every step (training complete on one rank, or
    # non-finite parameters at a sync), and DDP's collectives need every rank at the same step.
    batches_steps = False

    def _call(self, command: str, **args: Any) -> Any:
        """A round trip; every lockstep call (all but rank 0's hand-overs) ends in the ranks'
        agreement (module docstring)."""
        if command in RANK0_ONLY:
            try:
                return super()._call(command, **args)
            except (loader.SubmissionError, SubmissionProcessError) as err:
                self._write_failure(err)
                raise
        value, failed = None, False
        try:
            self._peer_failure()  # a rank-0-only hand-over failed since the last call
            value = super()._call(command, **args)
        except _PeerFailed:
            failed = True
        except (loader.SubmissionError, SubmissionProcessError) as err:
            self._write_failure(err)
            failed = True
        finite = failed or (bool(value) if command == "sync" else command != "step" or value["finite"])
        complete = not failed and command == "step" and value["status"] == "training_complete"
        any_failed, finite, complete = self.backend.agree(failed, finite, complete)
        if any_failed:
            raise self._first_failure()
        if command == "step":
            return {"status": "training_complete" if complete else value["status"], "finite": finite}
        return finite if command == "sync" else value

    def _write_failure(self, err: Exception) -> None:
        kind = "submission" if isinstance(err, loader.SubmissionError) else "process"
        record = {"time": clock.perf_counter(), "rank": self.rank, "kind": kind, "message": str(err),
                  "stop_reason": getattr(err, "stop_reason", "error")}
        path = self.rendezvous / "abort" / f"rank{self.rank}.json"
        path.with_suffix(".tmp").write_text(json.dumps(record))
        path.with_suffix(".tmp").replace(path)  # whole, or not there

    def _failures(self) -> list[dict]:
        return [json.loads(p.read_text()) for p in sorted((self.rendezvous / "abort").glob("*.json"))]

    def _first_failure(self) -> Exception:
        """The failure every rank raises: the first that ended a process, else the first."""
        failures = sorted(self._failures(), key=lambda f: (f["stop_reason"] == "error", f["time"]))
        first = failures[0]
        message = f"rank {first['rank']}: {first['message']}"
        if first["kind"] == "submission":
            return loader.SubmissionError(message)
        return SubmissionProcessError(message, first["stop_reason"])

    def _peer_failure(self) -> None:
        if any(f["rank"] != self.rank for f in self._failures()):
            self._kill()
            raise _PeerFailed()

    def close(self) -> None:
        """Kill this rank's processes; once every rank has come here (or 60 s passed: a rank
        that does not come has failed), rank 0 removes the rendezvous folder. Rank 0 has written
        meta.json before: a rank failing first cannot make torchrun stop it earlier."""
        super().close()
        self.backend.end_barrier()
        if self.rank == 0:
            shutil.rmtree(self.rendezvous, ignore_errors=True)


def _result(outcome: tuple) -> Any:
    """The value of a `_from_rank0` outcome, or its failure raised."""
    if outcome[0] == "ok":
        return outcome[1]
    _, kind, message, stop_reason = outcome
    if kind == "submission":
        raise loader.SubmissionError(message)
    raise SubmissionProcessError(message, stop_reason)
