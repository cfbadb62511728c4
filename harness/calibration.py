"""The host speed record of a trial: a short, fixed measurement of how fast this host computes,
taken off the clock before the timed loop, and its ratio to the reference host's.

The work is a fixed float32 matrix product (`MATRIX_SIZE` square, NumPy on one BLAS thread: the
same work in both frameworks' trials), timed on each core of the trial in turn (the measuring
thread pinned to it) in `ROUNDS` rounds; in a round, each core runs `BLOCKS_PER_ROUND` blocks of
`CALLS_PER_BLOCK` products after a short warm-up, and keeps its fastest block. `seconds` is the
median of those fastest blocks over the rounds and cores. Why this measurement
(docs/scoring.md#host-calibration): on a shared virtual host the speed of a core wanders by 10-20%
within minutes, and a product split over two threads waits for the slower of them at every call:
the same product on both cores at once spread by 21-25% over 10 fresh processes, the one-thread
product by about 4% (benchmarks/calibrate.py). The fastest block of a cache-resident product is the
core's undisturbed speed; the median over rounds and cores keeps one slow episode of the host
(a second or so, on both cores) from setting the calibration alone. The ratio that calibration
predicts between hosts is measured by benchmarks/normalization_error.py and stated wherever times
are normalized.

`reference_seconds` is the same measurement on the reference host, read from
workloads/calibration_reference.json (written by benchmarks/calibrate.py). `speed_factor =
seconds / reference_seconds` (above 1: a slower host); the runner scales the budget and the eval
schedule by it, so a slower host allows the same work as the reference host. Where no reference
is recorded the factor is None and the trial runs unscaled.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
from pathlib import Path
from typing import Any, Callable

import numpy as np
from threadpoolctl import threadpool_limits

from harness.provenance import cpu_info

REPO_ROOT = Path(__file__).resolve().parent.parent
REFERENCE_FILE = REPO_ROOT / "workloads" / "calibration_reference.json"
MATRIX_SIZE = 256  # float32, 256 KiB a matrix: cache-resident, so the product is compute-bound
CALLS_PER_BLOCK = 4  # about 1.5 ms a block on one core of the reference host: short enough to fall between interruptions
BLOCKS_PER_ROUND = 40  # per core and round
ROUNDS = 5  # about 0.7 s in all on a 2-core reference host
WARM_UP_CALLS = 5  # per core and round: the matrices back in this core's cache
SEED = 20_260_000  # the matrices' seed: fixed, so the work is the same on every host


def product_work(size: int = MATRIX_SIZE, seed: int = SEED) -> Callable[[], Any]:
    """The calibration's work: one `size` x `size` float32 product in NumPy (on one BLAS thread
    when called inside `measure_cores`)."""
    rng = np.random.default_rng(seed)
    a, b = (rng.standard_normal((size, size), dtype=np.float32) for _ in range(2))
    return lambda: a @ b


def host_id(cpuinfo: str | None = None, hostname: str | None = None) -> str:
    """The host's name, its CPU's family/model/stepping and vector instruction sets, in one string:
    two trials with the same id ran on the same kind of host (harness/provenance.py's `cpu_info`)."""
    cpu = cpu_info(cpuinfo)
    flags = ",".join(cpu["cpu_vector_flags"]) or "none"
    return f"{hostname or socket.gethostname()} | {cpu['cpu']} | {cpu['cpu_id']} | {flags}"


def measure(work: Callable[[], Any], time_fn: Callable[[], float], blocks: int = BLOCKS_PER_ROUND,
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


def measure_cores(time_fn: Callable[[], float], work: Callable[[], Any] | None = None,
                  rounds: int = ROUNDS, **measure_options) -> list[list[float]]:
    """The blocks of every (round, core) in turn: `measure` on each core this process may run on,
    with the calling thread pinned to that core and the BLAS on one thread, `rounds` times over.
    The thread's own affinity is restored afterwards. Where threads cannot be pinned (not Linux),
    one group a round, wherever the thread runs."""
    work = work or product_work()
    can_pin = hasattr(os, "sched_setaffinity")
    cores = sorted(os.sched_getaffinity(0)) if can_pin else [None]
    groups = []
    with threadpool_limits(limits=1):  # the product on this thread alone (NumPy's BLAS pool)
        try:
            for _ in range(rounds):
                for core in cores:
                    if core is not None:
                        os.sched_setaffinity(0, {core})  # pid 0: the calling thread only
                    groups.append(measure(work, time_fn, **measure_options))
        finally:
            if can_pin:
                os.sched_setaffinity(0, cores)
    return groups


def measure_host(threads: int | None = None) -> list[list[float]]:
    """One calibration of this host outside a trial (benchmarks/calibrate.py), on the cores a
    trial with `threads` cores would have."""
    from harness import backends, clock

    backends.pin_cores(threads)
    return measure_cores(clock.perf_counter)


def load_reference(path: Path | str = REFERENCE_FILE) -> dict:
    """{"seconds": float, "host_id": str, ...} of the reference host; {} when absent."""
    path = Path(path)
    if not path.exists():
        return {}
    try:
        table = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error}); re-run benchmarks/calibrate.py") from None
    if not isinstance(table, dict) or not isinstance(table.get("seconds"), (int, float)):
        raise ValueError(f"{path}: expected an object with \"seconds\"; re-run "
                         "benchmarks/calibrate.py --write-reference")
    return table


def reference_seconds(path: Path | str = REFERENCE_FILE) -> float | None:
    entry = load_reference(path)
    return float(entry["seconds"]) if entry else None


def summary(groups: list[list[float]]) -> dict:
    """The calibration: the median over the groups (rounds x cores) of each group's fastest block;
    and how disturbed the host was while measured: the 10% quantile and the median of all blocks
    over it, and the slowest group's fastest block over it (a slow core or a slow episode)."""
    fastest = [min(group) for group in groups]
    seconds = statistics.median(fastest)
    ordered = sorted(t for group in groups for t in group)
    return {"seconds": seconds, "groups": len(groups), "blocks": len(ordered),
            "q10_over_seconds": ordered[len(ordered) // 10] / seconds,
            "median_over_seconds": statistics.median(ordered) / seconds,
            "slowest_group_over_seconds": max(fastest) / seconds}


def record(groups: list[list[float]], reference: float | None, host: str) -> dict:
    """meta.json's `calibration` block."""
    measured = summary(groups)
    factor = measured["seconds"] / reference if reference else None
    return {"host_id": host, **measured, "reference_seconds": reference, "speed_factor": factor,
            "matrix_size": MATRIX_SIZE, "calls_per_block": CALLS_PER_BLOCK}


def time_scale(calibration: dict | None) -> float:
    """The factor budgets and eval periods are multiplied by: the speed factor, or 1 (unscaled)
    where the trial has no calibration or no reference."""
    factor = (calibration or {}).get("speed_factor")
    return float(factor) if factor else 1.0
