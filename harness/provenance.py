"""What a trial ran on: hardware, library versions, git commit and command (for meta.json)."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
LIBRARIES = ("algobench", "numpy", "torch", "jax", "jaxlib", "flax", "optax", "scipy", "pandas")


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                             text=True, timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return (out.stdout.strip() + ("+dirty" if dirty else "")) if out.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired):
        return None


def provenance(framework: str, threads: int, num_devices: int, accelerator: str | None) -> dict:
    return {
        "algobench_version": _version("algobench"),
        "hardware": {
            "cpu": _cpu_model(),
            "cores_used": threads,
            "cores_available": os.cpu_count(),
            "accelerator": accelerator,
            "num_devices": num_devices,
            "platform": platform.platform(),
        },
        "versions": {"python": sys.version.split()[0], **{n: _version(n) for n in LIBRARIES}},
        "git_commit": git_commit(),
        "command": " ".join(sys.argv),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "framework_threads": threads,
    }
