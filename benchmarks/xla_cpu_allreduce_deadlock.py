"""The smallest reproduction of the JAX abort found by benchmarks/harness_overhead.py (issue 28):
XLA:CPU with two host devices, one jitted training step whose batch statistics and gradient are
all-reduced across them, queued without waiting (runs of 45 steps, one `block_until_ready` at
each run's end, as the benchmark's bare loop did). No algobench code is involved.

What it showed on this 2-core machine (loaded; jax/jaxlib 0.10.2), `--runs 100` or 400:
- every step of a run queued (`--in-flight 0`, 45 steps): 3 of 3 processes aborted within their
  first 20 runs, with the benchmark's message: "Termination timeout for `all reduce
  RendezvousKey{..., op_id=2}` of 40 seconds exceeded ... Expected 2 threads to join the
  rendezvous, but only 1 of them arrived"; the waiting thread an Eigen pool worker running
  `CpuPjRtRawLoadedExecutable::Execute`, the Python main thread inside the call that queues a
  step (faulthandler), not in `block_until_ready`;
- at most 40 in flight (`--in-flight 40`): aborted in its first run;
- at most 30, 2 or 1 in flight: no abort in 40-60 runs each (1,800-2,700 steps).
XLA:CPU's client lets at most 32 computations be in flight per device
(`max_inflight_computations_per_device`, 32 by default) and makes the caller wait beyond that:
the abort comes where the queue outgrows that limit. Our reading, not checked in XLA's code: the
caller blocks while queuing a two-device step, one device's part launched and the other's not,
and the launched part's all-reduce waits for a participant that never comes. Ours
to avoid: a trial queues at most two steps (the runner reads the step before's finite flag), the
benchmark's bare loop now as well.

    .venv/bin/python benchmarks/xla_cpu_allreduce_deadlock.py --in-flight 0   # aborts (exit 134)
    .venv/bin/python benchmarks/xla_cpu_allreduce_deadlock.py --in-flight 2   # prints "done"
"""

from __future__ import annotations

import argparse
import faulthandler
import os
import time

STEPS_PER_RUN = 45  # the benchmark's bare loop: --warmup 5 + --steps 40


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=400)
    parser.add_argument("--in-flight", type=int, default=0,
                        help="steps queued at most (0: a whole run, as a plain JAX loop)")
    parser.add_argument("--devices", type=int, default=2, help="XLA host devices")
    args = parser.parse_args()
    os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={args.devices}"
    faulthandler.enable()  # an abort prints the Python stack too

    import jax
    import numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    mesh = Mesh(np.array(jax.devices()), ("batch",))
    replicated, split = NamedSharding(mesh, PartitionSpec()), NamedSharding(mesh, PartitionSpec("batch"))

    def loss(weights, x):
        y = jax.lax.conv_general_dilated(x, weights["conv"], (1, 1), "SAME",
                                         dimension_numbers=("NHWC", "HWIO", "NHWC"))
        y = (y - y.mean((0, 1, 2))) / (y.std((0, 1, 2)) + 1e-5)  # batch statistics: an all-reduce
        return ((jax.nn.relu(y).mean((1, 2)) @ weights["dense"]) ** 2).mean()

    @jax.jit
    def step(weights, x):
        grads = jax.grad(loss)(weights, x)  # replicated weights, split batch: an all-reduce
        return jax.tree.map(lambda w, g: w - 1e-3 * g, weights, grads)

    key = jax.random.PRNGKey(0)
    weights = jax.device_put({"conv": jax.random.normal(key, (3, 3, 1, 32)),
                              "dense": jax.random.normal(key, (32, 10))}, replicated)
    rng = np.random.default_rng(0)
    batches = [jax.device_put(rng.random((128, 28, 28, 1), dtype=np.float32), split)
               for _ in range(STEPS_PER_RUN)]
    start, queued = time.time(), []
    for run in range(args.runs):
        for batch in batches:
            weights = step(weights, batch)
            queued = (queued + [weights])[-args.in_flight:] if args.in_flight else []
            if args.in_flight and len(queued) == args.in_flight:
                jax.block_until_ready(queued[0])
        jax.block_until_ready(weights)
        if run % 20 == 0:
            print(f"run {run}: {time.time() - start:.0f} s", flush=True)
    print(f"done: {args.runs * STEPS_PER_RUN} steps, at most {args.in_flight or STEPS_PER_RUN} in flight")


if __name__ == "__main__":
    main()
