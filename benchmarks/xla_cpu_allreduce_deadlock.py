"""The smallest reproduction of the JAX abort found by benchmarks/harness_overhead.py (issue 28):
XLA:CPU with two host devices, one jitted training step whose batch statistics and gradient are
all-reduced across them, queued without waiting (runs of 45 steps, one `block_until_ready` at
each run's end, as the benchmark's bare loop did). No algobench code is involved.

With every step of a run queued (`--in-flight 0`), on this 2-core machine, the process aborted
within its first 20 runs: "Termination timeout for `all reduce RendezvousKey{..., op_id=2}` of 40
seconds exceeded ... Expected 2 threads to join the rendezvous, but only 1 of them arrived",
the waiting thread an Eigen pool worker running `CpuPjRtRawLoadedExecutable::Execute`. With at
most one or two steps in flight (`--in-flight 1` or `2`: after queuing a step, wait for the one
`N - 1` steps before) it did not abort in the runs we tried (the report of issue 28 says how many).

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
