"""Fixtures of the harness tests: `slurm_cluster`, a one-node Slurm cluster on this machine
(scripts/slurm_cluster.sh), started once per test session and stopped at its end."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "slurm_cluster.sh"
SLURM_BINARIES = ("munged", "mungekey", "mariadbd", "slurmdbd", "slurmctld", "slurmd", "sbatch",
                  "sacct", "sacctmgr", "scontrol", "squeue")


@dataclass(frozen=True)
class SlurmCluster:
    folder: Path  # slurm.conf, logs, state
    conf: Path  # SLURM_CONF for clients (set in this process's environment while it runs)
    start_s: float  # how long it took to start


def slurm_unavailable() -> str | None:
    """Why the Slurm tests cannot run here, or None."""
    if os.name != "posix" or os.geteuid() != 0:
        return "the Slurm tests start slurmctld and slurmd, which need root; run them as root"
    path = f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin"
    missing = [b for b in SLURM_BINARIES if shutil.which(b, path=path) is None]
    if missing:
        return (f"Slurm is not installed (no {', '.join(missing)}); "
                "run `scripts/slurm_cluster.sh install` as root first")
    return None


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    reason = slurm_unavailable()
    if reason:
        pytest.skip(reason)
    # one cluster per pytest-xdist worker, each on its own ports
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    port = int(os.environ.get("ALGOBENCH_SLURM_PORT", "16817")) + 10 * int(worker[2:] or 0)
    folder = tmp_path_factory.mktemp("slurm")
    env = {**os.environ, "ALGOBENCH_SLURM_PORT": str(port)}
    begin = time.monotonic()
    started = subprocess.run(["bash", str(SCRIPT), "start", str(folder)], env=env,
                             capture_output=True, text=True, timeout=300)
    if started.returncode != 0:
        pytest.fail(f"the Slurm cluster did not start:\n{started.stdout}{started.stderr}")
    cluster = SlurmCluster(folder, folder / "slurm.conf", time.monotonic() - begin)
    previous = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(cluster.conf)
    try:
        yield cluster
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop", str(folder)], env=env,
                       capture_output=True, timeout=120)
        if previous is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = previous
