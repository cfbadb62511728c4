"""The host speed record of a trial: a short, fixed measurement of how fast this host computes,
taken off the clock before the timed loop, and its ratio to the reference host's.

The work is a fixed matrix product (`MATRIX_SIZE` square, float32, in the trial's framework, with
its own threads and device: `backend.matmul_work`), timed in `BLOCKS` blocks of `CALLS_PER_BLOCK`
products after a warm-up; `seconds` is the fastest block. Why this and not the workload's own
pass, and why the fastest block (docs/scoring.md#host-calibration): on a shared virtual host the
speed of one core wanders by 10-20% within minutes, invisible to the guest as steal; a median of
a few calls of the workload's eval forward carried that wander into the calibration (9-18%
coefficient of variation over 10 fresh processes on one host), while the fastest of many short
blocks of a cache-resident product is the host's undisturbed speed, which the wander does not
move. The ratio that calibration predicts between hosts is measured by
benchmarks/normalization_error.py and stated wherever times are normalized.

`reference_seconds` is the same measurement on the reference host, per framework, read from
workloads/calibration_reference.json (written by benchmarks/calibrate.py). `speed_factor =
seconds / reference_seconds` (above 1: a slower host); the runner scales the budget and the eval
schedule by it, so a slower host allows the same work as the reference host. Where no reference
is recorded the factor is None and the trial runs unscaled.
"""

from __future__ import annotations

import json
import socket
import statistics
from pathlib import Path
from typing import Any, Callable

from harness.provenance import cpu_info

REPO_ROOT = Path(__file__).resolve().parent.parent
REFERENCE_FILE = REPO_ROOT / "workloads" / "calibration_reference.json"
MATRIX_SIZE = 256  # float32, 256 KiB a matrix: cache-resident, so the product is compute-bound
CALLS_PER_BLOCK = 4  # about 1-2 ms a block on a 2-core host: short enough to fall between interruptions
BLOCKS = 300  # blocks timed after the warm-up; about half a second on the reference host
WARM_UP_CALLS = 20
SEED = 20_260_000  # the matrix's seed: fixed, so the work is the same on every host


def host_id(cpuinfo: str | None = None, hostname: str | None = None) -> str:
    """The host's name, its CPU's family/model/stepping and vector instruction sets, in one string:
    two trials with the same id ran on the same kind of host (harness/provenance.py's `cpu_info`)."""
    cpu = cpu_info(cpuinfo)
    flags = ",".join(cpu["cpu_vector_flags"]) or "none"
    return f"{hostname or socket.gethostname()} | {cpu['cpu']} | {cpu['cpu_id']} | {flags}"


def measure(work: Callable[[], Any], time_fn: Callable[[], float], blocks: int = BLOCKS,
            calls_per_block: int = CALLS_PER_BLOCK, warm_up: int = WARM_UP_CALLS) -> list[float]:
    """Seconds of each of `blocks` blocks of `calls_per_block` calls of `work`, after `warm_up`
    untimed calls. `work` must return only once its result is computed."""
    for _ in range(warm_up):
        work()
    times = []
    for _ in range(blocks):
        start = time_fn()
        for _ in range(calls_per_block):
            work()
        times.append(time_fn() - start)
    return times


def measure_host(framework: str, threads: int | None = None) -> list[float]:
    """One calibration of this host outside a trial (benchmarks/calibrate.py), set up as a trial
    is: the same cores, threads and JAX host devices as `algobench run`."""
    from harness import backends, clock

    cores = backends.pin_cores(threads)
    if framework == "jax":  # before JAX starts: its host devices, one per core (as `algobench run`)
        backends.use_jax_host_devices(len(cores))
    backend = backends.load_backend(framework)
    backend.configure_threads(len(cores))
    return measure(backend.matmul_work(MATRIX_SIZE, SEED), clock.perf_counter)


def load_reference(path: Path | str = REFERENCE_FILE) -> dict:
    """{framework: {"seconds": float, "host_id": str, "threads": int, ...}}; {} when absent."""
    path = Path(path)
    if not path.exists():
        return {}
    try:
        table = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error}); re-run benchmarks/calibrate.py") from None
    if not isinstance(table, dict):
        raise ValueError(f"{path}: expected an object of frameworks; re-run benchmarks/calibrate.py")
    return table


def reference_seconds(framework: str, path: Path | str = REFERENCE_FILE) -> float | None:
    entry = load_reference(path).get(framework)
    return float(entry["seconds"]) if entry else None


def summary(blocks: list[float]) -> dict:
    """The fastest block (the calibration), and the spread of the blocks: their 10% quantile and
    median over the fastest, which show how disturbed the host was while it was measured."""
    ordered = sorted(blocks)
    fastest = ordered[0]
    return {"seconds": fastest, "blocks": len(ordered),
            "q10_over_fastest": ordered[len(ordered) // 10] / fastest,
            "median_over_fastest": statistics.median(ordered) / fastest}


def record(blocks: list[float], reference: float | None, host: str) -> dict:
    """meta.json's `calibration` block."""
    measured = summary(blocks)
    factor = measured["seconds"] / reference if reference else None
    return {"host_id": host, **measured, "reference_seconds": reference, "speed_factor": factor,
            "matrix_size": MATRIX_SIZE, "calls_per_block": CALLS_PER_BLOCK}


def time_scale(calibration: dict | None) -> float:
    """The factor budgets and eval periods are multiplied by: the speed factor, or 1 (unscaled)
    where the trial has no calibration or no reference."""
    factor = (calibration or {}).get("speed_factor")
    return float(factor) if factor else 1.0
