#!/usr/bin/env bash
# Sets everything up, then runs the NAdamW baseline on the default workload (cnn: a small ResNet on
# Fashion-MNIST) in PyTorch and in JAX, printing each framework's time-to-target.
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/setup.sh
for framework in pytorch jax; do
  .venv/bin/algobench run submissions/nadamw --workload cnn --framework "$framework" --out results/quickstart
done
