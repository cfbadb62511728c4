"""Attention by the framework's kernel against the same math written out, side by side in one run.

The shared `Attention` of each framework computes attention by its layers module's
`dot_product_attention`, and each framework has two formulations of it, the choice this benchmark
measures:

- PyTorch (workloads/layers_pytorch.py): torch's fused kernel (`scaled_dot_product_attention`)
  or `written_out_attention`; the layer takes the kernel for causal attention only.
- JAX (workloads/layers_jax.py): `kernel_attention` (`jax.nn.dot_product_attention`) or
  `written_out_attention`, chosen by the module's switch `USE_KERNEL`, read when a step is traced.

It times training steps of the reference baseline (NAdamW point 0) on each workload that has
attention, in one process per framework run, with every attention call by the kernel and with
every call written out, alternating `--repeats` times in blocks of `--steps` steps, and prints the
seconds per step of each and their ratio (kernel / written out; below 1: the kernel is faster).
PyTorch swaps the function in place in one training; JAX sets up one training per choice, each
jitted (in the untimed first round) with the switch set to its choice. One process and
alternation put both on the same host at the same moment, so the ratio is free of the host's
wander between processes. Both give the same outputs (the check runs first).

    .venv/bin/python benchmarks/attention_kernel.py --frameworks pytorch jax \\
        --workloads vit translate lm conformer --out docs/data/attention_kernel.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from functools import partial
from pathlib import Path
from typing import Callable, Iterator

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))  # this folder's scripts

from step_time import Training  # noqa: E402

from harness.backends import FRAMEWORKS  # noqa: E402

WORKLOADS = ("vit", "translate", "lm", "conformer")
CHOICES = ("kernel", "written_out")


def torch_kernel_attention(q, k, v, mask, causal: bool, scale: float):
    """layers_pytorch's `dot_product_attention` signature, by torch's fused kernel for every call."""
    import torch.nn.functional as F

    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal, scale=scale)


def check_same_outputs(framework: str) -> float:
    """The largest difference between the framework's two formulations on a masked and a causal
    call (PyTorch: an additive mask; JAX: a boolean one)."""
    import numpy as np

    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((2, 7, 4, 8)).astype(np.float32) for _ in range(3))
    keep = rng.random((2, 1, 1, 7)) > 0.3
    if framework == "pytorch":
        import torch

        from workloads.layers_pytorch import written_out_attention

        q, k, v = (torch.from_numpy(a).transpose(1, 2) for a in (q, k, v))  # (batch, heads, length, width)
        mask = torch.where(torch.from_numpy(keep), 0.0, torch.finfo(q.dtype).min)
        kernel, written_out = torch_kernel_attention, written_out_attention
    else:
        from workloads import layers_jax

        mask, kernel, written_out = keep, layers_jax.kernel_attention, layers_jax.written_out_attention
    return max(float(np.abs(np.asarray(kernel(q, k, v, m, c, 0.3)) - np.asarray(written_out(q, k, v, m, c, 0.3))).max())
               for m, c in ((mask, False), (None, True)))


@contextlib.contextmanager
def steps_by_choice(framework: str, workload: str, threads: int | None) -> Iterator[dict[str, Callable[[int], None]]]:
    """{choice: one training step with every attention call by that choice} on `workload`; the
    layers module's shipped choice is back when the block ends."""
    if framework == "pytorch":
        from workloads import layers_pytorch

        training = Training.set_up("submissions/nadamw", workload, "pytorch", threads)
        functions = {"kernel": torch_kernel_attention, "written_out": layers_pytorch.written_out_attention}
        shipped = layers_pytorch.dot_product_attention

        def step(choice: str, i: int) -> None:
            layers_pytorch.dot_product_attention = functions[choice]  # what Attention calls
            training.step(i)

        try:
            yield {choice: partial(step, choice) for choice in CHOICES}
        finally:
            layers_pytorch.dot_product_attention = shipped
        return
    from workloads import layers_jax

    # one training (so one jitted step) per choice: a jitted step keeps the formulation it was
    # traced with; the switch is set before every step, and counts at the first (the compile)
    trainings = {choice: Training.set_up("submissions/nadamw", workload, "jax", threads) for choice in CHOICES}
    shipped = layers_jax.USE_KERNEL

    def step(choice: str, i: int) -> None:
        layers_jax.USE_KERNEL = choice == "kernel"
        trainings[choice].step(i)

    try:
        yield {choice: partial(step, choice) for choice in CHOICES}
    finally:
        layers_jax.USE_KERNEL = shipped


def measure(framework: str, workload: str, repeats: int, steps: int, threads: int | None) -> dict:
    """Seconds per step of each choice and their ratios, alternating blocks of `steps` steps
    `repeats` times after an untimed round (JAX compiles there)."""
    times = {choice: [] for choice in CHOICES}
    counts = dict.fromkeys(CHOICES, 0)
    with steps_by_choice(framework, workload, threads) as step_fns:
        for repeat in range(repeats + 1):  # the first round warms up, untimed
            for choice in (CHOICES if repeat % 2 else CHOICES[::-1]):
                start = time.perf_counter()
                for _ in range(steps):
                    step_fns[choice](counts[choice])
                    counts[choice] += 1
                if repeat:
                    times[choice].append((time.perf_counter() - start) / steps)
    ratios = [k / w for k, w in zip(times["kernel"], times["written_out"])]
    return {"framework": framework, "workload": workload,
            **{f"{c}_sec_per_step": statistics.median(t) for c, t in times.items()},
            "ratio_median": statistics.median(ratios), "ratio_min": min(ratios),
            "ratio_max": max(ratios), "repeats": repeats, "steps": steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frameworks", nargs="+", choices=FRAMEWORKS, default=["pytorch"])
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10, help="steps per block")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--out", help="write the results as JSON")
    args = parser.parse_args()

    from harness import backends, calibration

    if "jax" in args.frameworks:  # before JAX starts, as a trial: one host device per core
        backends.use_jax_host_devices(len(backends.pin_cores(args.threads)))
    for framework in args.frameworks:
        difference = check_same_outputs(framework)
        assert difference < 1e-5, f"{framework}: the written-out attention differs from the kernel by {difference}"
    results = []
    for framework in args.frameworks:
        for workload in args.workloads:
            row = measure(framework, workload, args.repeats, args.steps, args.threads)
            results.append(row)
            print(f"{framework} {workload}: kernel {1e3 * row['kernel_sec_per_step']:.1f} ms/step, "
                  f"written out {1e3 * row['written_out_sec_per_step']:.1f} ms/step, kernel / written "
                  f"out {row['ratio_median']:.3f} (range {row['ratio_min']:.3f}-{row['ratio_max']:.3f})",
                  flush=True)
    host = calibration.host_id()
    print(f"host: {host}")
    if args.out:
        Path(args.out).write_text(json.dumps({"host_id": host, "results": results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
