"""The host speed record of a trial: a short, fixed measurement of how fast this host runs the
workload, taken off the clock before the timed loop, and its ratio to the reference host's.

The work is the workload's own eval forward pass (`eval_outputs`, the harness's path, in the
trial's framework) on the first validation eval batch, with parameters from a fixed seed: one
warm-up call (in JAX it compiles the eval function the evals reuse, so it costs the trial nothing
extra), then `REPEATS` timed calls; `seconds` is their median. It is the same work on every host,
uses the trial's own threads and devices, and needs no framework code here.

`reference_seconds` is the same work on the reference host, read from
workloads/calibration_reference.json (written by benchmarks/calibrate.py), per workload and
framework. `speed_factor = seconds / reference_seconds` (above 1: a slower host); the runner scales
the budget and the eval schedule by it, so a slower host allows the same work as the reference
host. Where no reference is recorded the factor is None and the trial runs unscaled.
docs/scoring.md#measurement-resolution.
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
REPEATS = 3  # timed calls after the warm-up: short on every base workload (docs/scoring.md)
SEED = 20_260_000  # the parameters' seed: fixed, so the work never depends on the trial's seed


def host_id(cpuinfo: str | None = None, hostname: str | None = None) -> str:
    """The host's name, its CPU's family/model/stepping and vector instruction sets, in one string:
    two trials with the same id ran on the same kind of host (harness/provenance.py's `cpu_info`)."""
    cpu = cpu_info(cpuinfo)
    flags = ",".join(cpu["cpu_vector_flags"]) or "none"
    return f"{hostname or socket.gethostname()} | {cpu['cpu']} | {cpu['cpu_id']} | {flags}"


def measure(work: Callable[[], Any], time_fn: Callable[[], float], repeats: int = REPEATS) -> list[float]:
    """Seconds of each of `repeats` calls of `work`, after one untimed warm-up call."""
    work()
    times = []
    for _ in range(repeats):
        start = time_fn()
        work()
        times.append(time_fn() - start)
    return times


def eval_forward_work(workload, backend, validation_batch: dict) -> Callable[[], Any]:
    """The calibration's work for a workload: its eval forward on `validation_batch`, at fixed
    parameters. `eval_outputs` returns host arrays, so each call has finished when it returns."""
    params, model_state = workload.init_model_fn(backend.make_rng(SEED))
    return lambda: workload.eval_outputs(params, model_state, validation_batch)


def measure_host(spec, framework: str, threads: int | None = None, data_dir: str | None = None,
                 repeats: int = REPEATS) -> list[float]:
    """One calibration of this host outside a trial (benchmarks/calibrate.py), set up as a trial
    is: the same cores, threads, JAX host devices, workload and first validation eval batch."""
    from harness import backends, clock
    from workloads.data import eval_batches
    from workloads.sources import load_source

    cores = backends.pin_cores(threads)
    if framework == "jax":  # before JAX starts: its host devices, one per core (as `algobench run`)
        backends.use_jax_host_devices(len(cores))
    backend = backends.load_backend(framework)
    backend.configure_threads(len(cores))
    workload = backend.make_workload(spec)
    splits = load_source(spec.data_source, data_dir)
    batch = next(eval_batches(splits["validation"], spec.eval_batch_size))
    return measure(eval_forward_work(workload, backend, batch), clock.perf_counter, repeats)


def load_reference(path: Path | str = REFERENCE_FILE) -> dict:
    """{workload: {framework: {"seconds": float, "host_id": str, ...}}}; {} when the file is absent."""
    path = Path(path)
    if not path.exists():
        return {}
    try:
        table = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error}); re-run benchmarks/calibrate.py") from None
    if not isinstance(table, dict):
        raise ValueError(f"{path}: expected an object of workloads; re-run benchmarks/calibrate.py")
    return table


def reference_seconds(workload: str, framework: str, path: Path | str = REFERENCE_FILE) -> float | None:
    entry = load_reference(path).get(workload, {}).get(framework)
    return float(entry["seconds"]) if entry else None


def record(repeats: list[float], reference: float | None, host: str) -> dict:
    """meta.json's `calibration` block."""
    seconds = statistics.median(repeats)
    factor = seconds / reference if reference else None
    return {"host_id": host, "seconds": seconds, "reference_seconds": reference,
            "speed_factor": factor, "repeats": list(repeats)}


def time_scale(calibration: dict | None) -> float:
    """The factor budgets and eval periods are multiplied by: the speed factor, or 1 (unscaled)
    where the trial has no calibration or no reference."""
    factor = (calibration or {}).get("speed_factor")
    return float(factor) if factor else 1.0
