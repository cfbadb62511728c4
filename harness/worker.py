"""One trial's process under the local executor: `python -m harness.worker TASK_JSON`.

Before anything heavy is imported it takes the cores the executor gave it (ALGOBENCH_CORES) and
asks the kernel to kill it when its parent dies, so that killing the executor, even with SIGKILL,
leaves no trial running unattended. A data-parallel PyTorch trial runs torchrun's launcher here
(`torch.distributed.run`), whose ranks run this module again: they inherit the cores, and
`backends.pin_cores` gives each rank its own share of them.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Linux's parent-death signal. Hand-written (ctypes): neither subprocess nor torchrun sets it."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: an orphaned trial runs to its end
        return
    parent = os.environ.get("ALGOBENCH_PARENT_PID")
    if parent and "LOCAL_RANK" not in os.environ and os.getppid() != int(parent):
        os._exit(1)  # the executor died before the signal was set


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m harness.worker TASK_JSON", file=sys.stderr)
        return 2
    die_with_parent()
    cores = os.environ.get("ALGOBENCH_CORES")
    if cores:
        os.sched_setaffinity(0, [int(c) for c in cores.split(",")])

    from harness.task import TrialTask

    task = TrialTask.from_json(argv[0])
    if task.framework == "pytorch" and task.devices > 1 and "LOCAL_RANK" not in os.environ:
        from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
        from torch.distributed.run import main as torchrun

        try:  # torchrun --standalone: a free port per trial, so parallel trials never collide
            torchrun(["--standalone", f"--nproc-per-node={task.devices}", "-m", "harness.worker",
                      argv[0]])
        except ChildFailedError as err:
            print(f"torchrun: {err}", file=sys.stderr, flush=True)
            return 1
        return 0

    from harness.executors import EXIT_DISK_FULL, run_task
    from harness.logs import DiskFullError

    try:
        meta = run_task(task)
    except DiskFullError as err:  # the trial stays resumable; the executor says why
        print(err, file=sys.stderr, flush=True)
        return EXIT_DISK_FULL
    rank = int(os.environ.get("RANK", 0))
    print(f"rank {rank}: {meta.get('status')} ({meta.get('stop_reason')})", flush=True)
    if meta.get("status") == "failed":
        print(meta.get("error") or "", file=sys.stderr, flush=True)
        # a rank other than 0 writes nothing: its non-zero exit makes torchrun stop the others
        return 1 if rank else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
