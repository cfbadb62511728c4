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


# The vector instruction sets that decide how fast PyTorch's and XLA's CPU kernels run: two hosts
# with the same "model name" (a VM's "Intel(R) Xeon(R) Processor") ran the same steps 1.8-2.8x apart
# (docs/workloads.md#step-times), so a trial records which of these its CPU has.
VECTOR_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_bf16", "avx512_fp16",
                "avx512_vnni", "amx_tile", "amx_bf16")


def cpu_info(cpuinfo: str | None = None) -> dict:
    """The CPU's model name, its family/model/stepping, and which of `VECTOR_FLAGS` it has, from
    the text of /proc/cpuinfo (read when not given); "unknown" and [] where it cannot be read."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            cpuinfo = ""
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        if not line.strip():
            break  # the first processor's block describes them all
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    ident = (f"family {fields['cpu family']} model {fields['model']} stepping {fields.get('stepping', '?')}"
             if "cpu family" in fields and "model" in fields else "unknown")
    flags = set(fields.get("flags", "").split())
    return {"cpu": fields.get("model name") or platform.processor() or "unknown", "cpu_id": ident,
            "cpu_vector_flags": [f for f in VECTOR_FLAGS if f in flags]}


def git_commit() -> str | None:
    """The checkout's commit (`+dirty` with uncommitted changes); in a container image, which
    holds no .git, the commit the image was built from (ALGOBENCH_GIT_COMMIT, docker/Dockerfile)."""
    if os.environ.get("ALGOBENCH_GIT_COMMIT"):
        return os.environ["ALGOBENCH_GIT_COMMIT"]
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
            **cpu_info(),
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
        # the in-process runner runs no sandbox; the submission process will record
        # harness.sandbox's status here (docs/integrity.md)
        "sandbox": "unsandboxed: the submission runs in the harness's process",
    }
