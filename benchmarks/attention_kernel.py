"""PyTorch attention: the fused kernel against the same math written out, side by side in one run.

The shared `Attention` (workloads/layers_pytorch.py) computes attention by
`dot_product_attention`: torch's fused kernel (`scaled_dot_product_attention`) for causal attention,
the math written out (`written_out_attention`) for the rest; the choice this benchmark measures. It
times training steps of the reference baseline (NAdamW point 0) on each workload that
has attention, in one process, with every attention call by the kernel and with every call written
out, alternating `--repeats` times in blocks of `--steps` steps, and prints the seconds per step of
each and their ratio (fused / written out; below 1: the kernel is faster). One process and
alternation put both on the same host at the same moment, so the ratio is free of the host's
wander between processes. Both give the same outputs (the check runs first).

    .venv/bin/python benchmarks/attention_kernel.py --workloads vit translate lm conformer
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))  # this folder's scripts

from step_time import Training  # noqa: E402

WORKLOADS = ("vit", "translate", "lm", "conformer")


def fused_attention(q, k, v, mask, causal: bool, scale: float):
    """`dot_product_attention`'s signature, by torch's fused kernel."""
    import torch.nn.functional as F

    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal, scale=scale)


def check_same_outputs() -> float:
    """The largest difference between the two on a masked and a causal call."""
    import torch

    from workloads.layers_pytorch import written_out_attention

    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 4, 7, 8, generator=g) for _ in range(3))
    mask = torch.where(torch.rand(2, 1, 1, 7, generator=g) > 0.3, 0.0, torch.finfo(q.dtype).min)
    return max(float((fused_attention(q, k, v, mask, False, 0.3)
                      - written_out_attention(q, k, v, mask, False, 0.3)).abs().max()),
               float((fused_attention(q, k, v, None, True, 0.3)
                      - written_out_attention(q, k, v, None, True, 0.3)).abs().max()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10, help="steps per block")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--out", help="write the results as JSON")
    args = parser.parse_args()

    from harness import calibration
    from workloads import layers_pytorch

    difference = check_same_outputs()
    assert difference < 1e-5, f"the written-out attention differs from the kernel by {difference}"
    shipped = layers_pytorch.dot_product_attention
    kernels = {"fused": fused_attention, "written_out": layers_pytorch.written_out_attention}
    results = []
    try:
        for workload in args.workloads:
            training = Training.set_up("submissions/nadamw", workload, "pytorch", args.threads)
            times = {name: [] for name in kernels}
            step = 0
            for repeat in range(args.repeats + 1):  # the first round warms up, untimed
                for name in (list(kernels) if repeat % 2 else list(kernels)[::-1]):
                    layers_pytorch.dot_product_attention = kernels[name]  # what Attention calls
                    start = time.perf_counter()
                    for _ in range(args.steps):
                        training.step(step)
                        step += 1
                    if repeat:
                        times[name].append((time.perf_counter() - start) / args.steps)
            ratios = [f / w for f, w in zip(times["fused"], times["written_out"])]
            row = {"workload": workload, **{f"{n}_sec_per_step": statistics.median(t) for n, t in times.items()},
                   "ratio_median": statistics.median(ratios), "ratio_min": min(ratios),
                   "ratio_max": max(ratios), "repeats": args.repeats, "steps": args.steps}
            results.append(row)
            print(f"{workload}: fused {1e3 * row['fused_sec_per_step']:.1f} ms/step, written out "
                  f"{1e3 * row['written_out_sec_per_step']:.1f} ms/step, fused / written out "
                  f"{row['ratio_median']:.3f} (range {row['ratio_min']:.3f}-{row['ratio_max']:.3f})",
                  flush=True)
    finally:
        layers_pytorch.dot_product_attention = shipped
    host = calibration.host_id()
    print(f"host: {host}")
    if args.out:
        Path(args.out).write_text(json.dumps({"host_id": host, "results": results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
