"""What the harness does to processes at the operating system's level: signals, the process tree,
and the memory allocator's thresholds. Used by the submission process and the harness's handle on it
(harness/submission_process.py) and by `harness.trial.run_trial` (the allocator, for the harness's
own process)."""

from __future__ import annotations

import os
import signal
import warnings
from pathlib import Path


def ignore_termination_signals() -> None:
    """In the submission process (and bwrap) before it starts: ignore SIGTERM and SIGINT, which
    Slurm (a preemption, a time limit) and a terminal send to every process of a job or session.
    The harness alone ends the submission process (SIGKILL, or with itself: PR_SET_PDEATHSIG and
    bwrap's --die-with-parent), so that it checkpoints or records a trial as it does alone."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def descendants(root: int) -> list[int]:
    """`root` and every process below it, read from /proc (parents before children)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry))
    found, queue = [], [root]
    while queue:
        pid = queue.pop(0)
        found.append(pid)
        queue += children.get(pid, [])
    return found


def send_signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def die_with_the_harness() -> None:
    """SIGKILL this process when the harness's process ends, also where bwrap (whose
    `--die-with-parent` does this) is not used: Linux's prctl(PR_SET_PDEATHSIG), which the standard
    library does not wrap, through ctypes."""
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


# glibc's malloc (mallopt(3)): M_MMAP_THRESHOLD and M_TRIM_THRESHOLD, and the largest values its
# dynamic thresholds reach (DEFAULT_MMAP_THRESHOLD_MAX on 64 bits, and twice that)
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD = 32 * 2**20
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD


def keep_freed_memory() -> None:
    """Keep the memory a training step frees for the next step, as the harness's process does.

    glibc's malloc returns the top of its heap to the system once more than its trim threshold is
    free, and that threshold grows only when a large block it had mapped on its own is freed. In
    the harness's process an eval frees such blocks and the threshold rises above a step's
    activations; the submission process never evaluates, so at each step's end it gave back the step's
    activations (about 20 MB for `unet`) and the next step faulted them in again, page by page
    (thousands of page faults a step where the harness's process had none: PyTorch's
    convolutional workloads were 13-46% slower per step, docs/integrity.md). Fixing both
    thresholds at the values the dynamic ones reach makes the submission process behave as a
    long-running process from its first step. Through ctypes: the standard library does not wrap
    mallopt; elsewhere than glibc nothing changes."""
    import ctypes

    try:
        libc = ctypes.CDLL(None)
        libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
        libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    except (OSError, AttributeError):
        pass


def ignore_jax_fork_warning() -> None:
    """Silence JAX's RuntimeWarning that `os.fork()` was called in a process where JAX runs
    threads. The harness starts processes (the submission process, `uname`, `git`) only through
    `subprocess`, whose child runs exec at once and never touches JAX's threads, so the warning
    would only add a false alarm to a trial's output (and to a bad-input error's one line)."""
    warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called", category=RuntimeWarning)


def fixed_allocator_environment(environ: dict[str, str]) -> dict[str, str]:
    """A copy of `environ` that gives a child process `keep_freed_memory`'s thresholds from its
    start, through glibc's tunables (its MALLOC_*_ environment variables): for benchmarks that
    compare processes of different checkouts, whose code may not call `keep_freed_memory`."""
    return {**environ, "MALLOC_MMAP_THRESHOLD_": str(MMAP_THRESHOLD),
            "MALLOC_TRIM_THRESHOLD_": str(TRIM_THRESHOLD)}
