"""PyTorch and JAX step times of the same workloads, measured side by side.

A step is what the harness times per training step: the submission's `data_selection` (with the
batch's transfer to the device) and `update_params`, then a device sync. Each measurement is a
fresh process per (workload, framework) that takes `--warmup` steps (JAX compiles there), then
times `--steps` steps; frameworks alternate inside every repeat, so machine noise hits both alike.
Prints, per workload, the median [min, max] milliseconds per step of each framework over the
repeats, the JAX/PyTorch ratio of the medians, and the largest host CPU steal of its measurements
(harness/host_load.py; a measurement with over 5% is flagged where it is printed).

`--clock cpu` times the process's CPU time instead of the wall clock: on a machine that other jobs
share, waiting for a core is then not counted (cache and memory contention still are). It is a fair
measure with `--threads 1` only: with more threads it adds up every thread's time, spinning included.

    .venv/bin/python benchmarks/step_time.py --workloads cnn dlrm gnn --repeats 5
    .venv/bin/python benchmarks/step_time.py --workloads cnn --threads 1 --clock cpu

`--before DIR` measures another checkout (its own benchmarks/step_time.py, run in DIR) beside this
one, alternating the two inside every repeat, and prints per workload and framework the ratio of
this checkout's median step time to DIR's (a restructuring's "no slowdown" check); `--out FILE`
keeps every measurement as JSON.

    git worktree add /tmp/before <commit>
    .venv/bin/python benchmarks/step_time.py --workloads cnn lm --before /tmp/before --out results/st.json

`--jax-host-devices N ...` also measures JAX on N host devices (XLA's own threads spreading each
device's program over the cores), alternating with the default of one device per core, and prints
each over the default (this checkout only, not with `--before`).

    .venv/bin/python benchmarks/step_time.py --workloads lm translate --jax-host-devices 1

`--jax-xla-flags FLAGS ...` likewise measures JAX with each of these XLA flags added to the
default's, alternating with it (an XLA:CPU option's effect on the step):

    .venv/bin/python benchmarks/step_time.py --workloads lm --jax-xla-flags=--xla_cpu_multi_thread_eigen=false
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import host_load, process_control
from harness.backends import FRAMEWORKS

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Training:
    """The reference submission's training state on a workload, set up as a trial sets it up
    (cores, JAX host devices, threads, the trial's batch stream, its batch size), and one step of
    it: `data_selection` (with the batch's transfer to the device) and `update_params`. Shared by
    the step-time and profile benchmarks."""

    backend: Any
    spec: Any
    module: Any
    hparams: Any
    workload: Any
    queue: Any
    params: Any
    model_state: Any
    opt: Any
    cores: list[int]

    @classmethod
    def set_up(cls, submission: str, workload: str, framework: str, threads: int | None) -> "Training":
        from harness import backends, loader
        from harness.seeds import derive_seed
        from harness.spec import Hyperparameters
        from harness.task import hyperparameters_for, ruleset_of
        from workloads.data import TrainStream
        from workloads.registry import get_spec
        from workloads.sources import load_source

        cores = backends.pin_cores(threads)
        framework, _, flags = framework.partition("+")  # "jax+--xla_...": JAX with more XLA flags
        if flags:
            os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flags}".strip()
        framework, _, devices = framework.partition(":")  # "jax:1": JAX on one host device
        if devices:
            os.environ.update(backends.with_jax_host_devices(os.environ, int(devices)))
        elif framework == "jax":  # as a trial does: one host device per core
            backends.use_jax_host_devices(len(cores))
        backend = backends.load_backend(framework)
        backend.configure_threads(len(cores))
        spec = get_spec(workload, pending_ok=True)  # step time needs no targets
        module = loader.load_submission(submission, framework)
        hparams = Hyperparameters(hyperparameters_for(submission, ruleset_of(submission), 0, 0, 0))
        wl = backend.make_workload(spec)
        batch_size = int(module.get_batch_size(workload_name=spec.base_name))
        stream = TrainStream(load_source(spec.data_source)["train"], batch_size, derive_seed(0, "data"))
        params, model_state = wl.init_model_fn(backend.make_rng(1))
        opt = module.init_optimizer_state(workload=wl, model_params=params, model_state=model_state,
                                          hyperparameters=hparams, rng=backend.make_rng(2))
        return cls(backend, spec, module, hparams, wl, (wl.to_device(b) for b in stream), params,
                   model_state, opt, cores)

    def step(self, step: int) -> None:
        """One training step, then a device sync."""
        self.dispatch(step)
        self.sync()

    def dispatch(self, step: int) -> None:
        """One training step, without waiting for the device (as a trial runs its steps)."""
        batch = self.module.data_selection(
            workload=self.workload, input_queue=self.queue, optimizer_state=self.opt,
            current_param_container=self.params, model_state=self.model_state,
            hyperparameters=self.hparams, global_step=step, rng=self.backend.make_rng(3))
        self.opt, self.params, self.model_state = self.module.update_params(
            workload=self.workload, current_param_container=self.params,
            current_params_types=self.workload.model_params_types, model_state=self.model_state,
            hyperparameters=self.hparams, batch=batch, loss_type=self.spec.loss_type,
            optimizer_state=self.opt, eval_results=[], global_step=step,
            rng=self.backend.make_rng(4), train_state=None)

    def sync(self) -> None:
        self.backend.sync((self.opt, self.params, self.model_state))


def measure(submission: str, workload: str, framework: str, steps: int, warmup: int,
            threads: int | None, clock: str = "wall") -> tuple[float, float | None]:
    """Seconds per step of `submission` on `workload` in `framework`, in this process, of the wall
    clock or of this process's CPU time (`clock="cpu"`), and the host's CPU steal fraction on this
    process's cores while the steps ran (None where not counted)."""
    import time

    timer = time.perf_counter if clock == "wall" else time.process_time
    training = Training.set_up(submission, workload, framework, threads)
    start, steal = 0.0, None
    for step in range(warmup + steps):
        if step == warmup:
            training.sync()
            start, steal = timer(), host_load.StealMeter(training.cores)
        training.step(step)
    return (timer() - start) / steps, steal.fraction()


def run_child(args, workload: str, framework: str, repo: Path = REPO) -> dict:
    """One measurement in a fresh process of the checkout `repo` (its own step_time.py)."""
    command = [sys.executable, str(repo / "benchmarks" / "step_time.py"), "--child", workload,
               framework, "--submission", args.submission,
               "--steps", str(args.steps), "--warmup", str(args.warmup), "--clock", args.clock]
    if args.threads:
        command += ["--threads", str(args.threads)]
    # the checkout's own packages first: the venv's editable install points at this one; malloc's
    # thresholds fixed as in a trial (harness/process_control.py), in both checkouts alike
    env = {**process_control.fixed_allocator_environment(dict(os.environ)), "PYTHONPATH": str(repo)}
    done = subprocess.run(command, cwd=repo, capture_output=True, text=True, env=env)
    if done.returncode:
        sys.exit(f"{workload} {framework} ({repo}) failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", nargs="+", default=["cnn"])
    parser.add_argument("--submission", default="submissions/nadamw")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="CPU cores (default: all)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="wall clock (default) or the process's CPU time (fair with --threads 1)")
    parser.add_argument("--before", help="another checkout to measure beside this one")
    parser.add_argument("--out", help="write every measurement to this JSON file")
    parser.add_argument("--jax-host-devices", type=int, nargs="+", default=[],
                        help="also measure JAX on each of these numbers of host devices, side by "
                             "side (a trial's JAX has one per core)")
    parser.add_argument("--jax-xla-flags", nargs="+", default=[],
                        help="also measure JAX with each of these XLA_FLAGS added (one host device "
                             "per core), side by side")
    parser.add_argument("--child", nargs=2, metavar=("WORKLOAD", "FRAMEWORK"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        seconds, steal = measure(args.submission, *args.child, args.steps, args.warmup, args.threads,
                                 args.clock)
        print(json.dumps({"seconds_per_step": seconds, "host_steal": steal}))
        return
    checkouts = {"this": REPO, **({"before": Path(args.before).resolve()} if args.before else {})}
    measured = (*FRAMEWORKS, *(f"jax:{n}" for n in args.jax_host_devices),
                *(f"jax+{flags}" for flags in args.jax_xla_flags))
    results = {(c, w, f): [] for c in checkouts for w in args.workloads for f in measured}
    steals = {w: [] for w in args.workloads}
    for i in range(args.repeats):
        for workload in args.workloads:
            for framework in (measured if i % 2 == 0 else measured[::-1]):
                order = list(checkouts) if i % 2 == 0 else list(checkouts)[::-1]
                for checkout in order:
                    child = run_child(args, workload, framework, checkouts[checkout])
                    ms, steal = 1000 * child["seconds_per_step"], child["host_steal"]
                    results[checkout, workload, framework].append(ms)
                    steals[workload].append(steal)
                    note = host_load.describe(steal)
                    label = "" if len(checkouts) == 1 else f" {checkout:6}"
                    print(f"repeat {i} {workload:12} {framework:8}{label} {ms:8.1f} ms/step"
                          f"{'; ' + note if note else ''}", flush=True)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({
            "host_id": _host_id(), "steps": args.steps, "warmup": args.warmup, "repeats": args.repeats,
            "threads": args.threads, "clock": args.clock, "submission": args.submission, "checkouts": {c: str(p) for c, p in checkouts.items()},
            "ms_per_step": [{"checkout": c, "workload": w, "framework": f, "values": v}
                            for (c, w, f), v in results.items()]}, indent=1) + "\n")
    print(f"\n{args.submission}, {args.steps} steps after {args.warmup} warm-up steps, "
          f"{args.repeats} repeats, {args.clock} clock: ms/step median [min, max]")
    print("| workload | PyTorch ms/step | JAX ms/step | JAX/PyTorch | max host steal |\n|---|---|---|---|---|")
    for workload in args.workloads:
        cells, medians = [], []
        for framework in FRAMEWORKS:
            values = results["this", workload, framework]
            medians.append(statistics.median(values))
            cells.append(f"{medians[-1]:.1f} [{min(values):.1f}, {max(values):.1f}]")
        print(f"| {workload} | {cells[0]} | {cells[1]} | {medians[1] / medians[0]:.2f}x | "
              f"{host_load.largest(steals[workload])} |")
    variants = [(f"jax:{n}", f"{n} host devices") for n in args.jax_host_devices]
    variants += [(f"jax+{flags}", f"`{flags}`") for flags in args.jax_xla_flags]
    if variants:
        print("\nJAX in other settings (host devices, XLA flags): ms/step median [min, max], and over "
              "the default's")
    for workload in args.workloads:
        default = statistics.median(results["this", workload, "jax"])
        for key, name in variants:
            values = results["this", workload, key]
            print(f"| {workload} | {name} | {statistics.median(values):.1f} [{min(values):.1f}, "
                  f"{max(values):.1f}] | {statistics.median(values) / default:.3f} |")

    if args.before:
        print(f"\nthis checkout against {args.before}: median ms/step and their ratio (this / before)")
        print("| workload | framework | this | before | this/before |\n|---|---|---|---|---|")
        for workload in args.workloads:
            for framework in FRAMEWORKS:
                now = statistics.median(results["this", workload, framework])
                then = statistics.median(results["before", workload, framework])
                print(f"| {workload} | {framework} | {now:.1f} | {then:.1f} | {now / then:.3f} |")


def _host_id() -> str:
    from harness.calibration import host_id

    return host_id()


if __name__ == "__main__":
    main()
