"""The sandbox of a trial's submission process: bubblewrap (`bwrap`, Debian package `bubblewrap`).

`command(policy, argv)` returns the command line that runs `argv` under bwrap with:
- the whole file system read-only (`--ro-bind / /`), a minimal /dev and a private /proc;
- the folders in `policy.hidden` replaced by empty in-memory folders (the results folder with
  every other trial and the plan's key, the data cache with the held-out splits), then the paths
  in `policy.readable` bound read-only again on top (the trial's training split);
- one writable folder, `policy.scratch` (also TMPDIR and HOME), which `prepare_scratch` empties
  before every trial, and the folders in `policy.shared` bound read-write on top of `hidden` (a
  data-parallel trial's rendezvous folder, which its ranks' processes share);
- every namespace unshared (`--unshare-all`: no network, its own PIDs, IPC and hostname), all
  capabilities dropped, a new session (`--new-session`: no terminal to inject input into), and
  `--die-with-parent`: when the harness's process ends, bwrap's PID namespace ends and every
  process the submission started with it;
- CPU affinity: `taskset -c` to the trial's cores inside the sandbox. Limit: a process may widen
  its own affinity with sched_setaffinity(2) within what its cgroup allows; a hard limit needs a
  cgroup cpuset (the executor's job, e.g. `systemd-run --scope -p AllowedCPUs=`) or a seccomp
  filter, neither of which this module installs (docs/integrity.md).
- `policy.share_net` (the training processes of a data-parallel trial only, whose collectives
  talk TCP over the host's loopback): the host's network namespace is kept (`--share-net` after
  `--unshare-all`), and meta.json's `sandbox` says so (`SHARED_NETWORK_NOTE`).

Where bwrap is missing or cannot make namespaces (user namespaces off in a container, seccomp
rules of the container runtime), `status()` says why, and the trial runs unsandboxed with
meta.json's `sandbox` reading "unsandboxed: <reason>". The tool does the isolation; this module
only chooses its options.
"""

from __future__ import annotations

import functools
import glob
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

BWRAP = "bwrap"
PROBE_TIMEOUT_S = 20
SHARED_NETWORK_NOTE = "network shared with the host (data-parallel collectives)"


@dataclass(frozen=True)
class Policy:
    """What one trial's submission process may see and use."""

    scratch: Path  # the one writable folder; emptied between trials
    readable: tuple[Path, ...] = ()  # read-only inside `hidden` (the training split's files)
    hidden: tuple[Path, ...] = ()  # masked by empty folders (results, the data cache)
    cores: tuple[int, ...] | None = None  # CPU affinity inside the sandbox (None: as inherited)
    devices: tuple[str, ...] | None = None  # device nodes passed through (None: /dev/nvidia*)
    shared: tuple[Path, ...] = ()  # read-write inside `hidden` (a data-parallel rendezvous folder)
    share_net: bool = False  # keep the host's network (data-parallel training processes only)


@dataclass(frozen=True)
class Status:
    available: bool
    detail: str  # "bubblewrap 0.8.0" or why not

    @property
    def meta(self) -> str:
        """meta.json's `sandbox`: the tool and version, or "unsandboxed: <reason>"."""
        return self.detail if self.available else f"unsandboxed: {self.detail}"


def _probe_args() -> list[str]:
    return [BWRAP, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-all",
            "--die-with-parent", "--new-session", "--", "true"]


@functools.lru_cache(maxsize=1)
def status() -> Status:
    """Whether bwrap can sandbox a process on this machine (checked once per process by running
    `true` under the options `command` uses)."""
    if shutil.which(BWRAP) is None:
        return Status(False, "bwrap is not installed (Debian package bubblewrap: "
                             "apt-get install bubblewrap)")
    try:
        probe = subprocess.run(_probe_args(), capture_output=True, text=True, timeout=PROBE_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as err:
        return Status(False, f"bwrap did not run ({err})")
    if probe.returncode != 0:
        first = (probe.stderr.strip().splitlines() or [f"exit code {probe.returncode}"])[0]
        return Status(False, f"bwrap cannot create its namespaces here ({first}); user "
                             "namespaces may be disabled in this container")
    version = subprocess.run([BWRAP, "--version"], capture_output=True, text=True).stdout.strip()
    return Status(True, version or "bubblewrap")


def prepare_scratch(scratch: Path | str) -> Path:
    """Empty the scratch folder (made if absent): nothing of one trial reaches the next."""
    scratch = Path(scratch)
    if scratch.exists():
        shutil.rmtree(scratch)
    scratch.mkdir(parents=True)
    return scratch


def bwrap_args(policy: Policy) -> list[str]:
    """The bwrap options of `policy` (module docstring), up to and including `--`."""
    args = [BWRAP, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    devices = policy.devices if policy.devices is not None else tuple(sorted(glob.glob("/dev/nvidia*")))
    for device in devices:
        args += ["--dev-bind", device, device]
    for folder in policy.hidden:
        args += ["--tmpfs", str(Path(folder).resolve())]
    for path in policy.readable:
        path = str(Path(path).resolve())
        args += ["--ro-bind", path, path]
    for folder in policy.shared:
        folder = str(Path(folder).resolve())
        args += ["--bind", folder, folder]
    scratch = str(Path(policy.scratch).resolve())
    args += ["--bind", scratch, scratch, "--chdir", scratch,
             "--setenv", "TMPDIR", scratch, "--setenv", "HOME", scratch, "--unshare-all"]
    if policy.share_net:  # after --unshare-all, which it overrides for the network only
        args += ["--share-net"]
    args += ["--die-with-parent", "--new-session", "--cap-drop", "ALL", "--"]
    return args


def command(policy: Policy, argv: Sequence[str]) -> tuple[list[str], str]:
    """(the command line to run `argv` under the sandbox, meta.json's `sandbox` value). Where bwrap
    does not work here, `argv` itself (with taskset where cores are given) and "unsandboxed: ..."."""
    pin = ["taskset", "-c", ",".join(str(c) for c in policy.cores)] if policy.cores else []
    found = status()
    if not found.available:
        return [*pin, *argv], found.meta
    note = f"{found.meta}; {SHARED_NETWORK_NOTE}" if policy.share_net else found.meta
    return [*bwrap_args(policy), *pin, *argv], note
