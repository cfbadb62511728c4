#!/usr/bin/env bash
# Builds algobench's images from this checkout (docs/docker.md).
# Usage: docker/build.sh [cpu|cuda|all] [--local-base]     (default: cpu)
#   --local-base  build FROM the Debian image docker/base.sh makes from this machine's apt
#                 mirror (no container registry needed); it is made first when missing
# Environment: BASE (default debian:bookworm-slim), IMAGE (default algobench: tags IMAGE:cpu and
# IMAGE:cuda), CA_BUNDLE (default $PIP_CERT, else /etc/ssl/certs/ca-certificates.crt),
# TORCH_CPU_WHEEL (default: found in pip's find-links folders), DOCKER_HOST as docker reads it.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGETS=()
LOCAL_BASE=0
for arg in "$@"; do
  case "$arg" in
    cpu|cuda) TARGETS+=("$arg") ;;
    all) TARGETS+=(cpu cuda) ;;
    --local-base) LOCAL_BASE=1 ;;
    *) echo "docker/build.sh: unknown argument '$arg': use cpu, cuda, all or --local-base" >&2
       exit 2 ;;
  esac
done
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(cpu)
IMAGE="${IMAGE:-algobench}"
BASE="${BASE:-debian:bookworm-slim}"
if [ "$LOCAL_BASE" = 1 ]; then
  BASE=algobench-base:bookworm
  docker image inspect "$BASE" >/dev/null 2>&1 || bash docker/base.sh "$BASE"
fi

# Stage the build host's files in docker/host/ (copied only when changed, so the build cache holds).
stage() {  # stage SOURCE DEST
  if ! cmp -s "$1" "$2"; then cp -p "$1" "$2"; fi
}
CA_BUNDLE="${CA_BUNDLE:-${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}}"
if [ -f "$CA_BUNDLE" ]; then
  stage "$CA_BUNDLE" docker/host/ca-certificates.crt
else
  rm -f docker/host/ca-certificates.crt
fi
# The PyTorch CPU wheel that pyproject.toml pins, from pip's find-links folders (environment and
# configuration), for Python 3.11 on x86_64 as in the image.
TORCH_VERSION="$(sed -n 's/.*"torch==\([^"]*\)".*/\1/p' pyproject.toml | head -n 1)"
if [ -z "${TORCH_CPU_WHEEL:-}" ]; then
  FIND_LINKS="${PIP_FIND_LINKS:-} $(python3 -m pip config list 2>/dev/null \
    | sed -n "s/^[^=]*find-links='\(.*\)'$/\1/p" | tr '\n' ' ')"
  for folder in $FIND_LINKS; do
    for wheel in "${folder#file://}"/torch-"$TORCH_VERSION"+cpu-cp311-cp311-*x86_64.whl; do
      if [ -f "$wheel" ]; then TORCH_CPU_WHEEL="$wheel"; break 2; fi
    done
  done
fi
mkdir -p docker/host/wheels
find docker/host/wheels -name '*.whl' ! -name "$(basename "${TORCH_CPU_WHEEL:-none}")" -delete
if [ -n "${TORCH_CPU_WHEEL:-}" ]; then
  stage "$TORCH_CPU_WHEEL" "docker/host/wheels/$(basename "$TORCH_CPU_WHEEL")"
fi

COMMIT="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then COMMIT="$COMMIT-dirty"; fi
for target in "${TARGETS[@]}"; do
  echo "building $IMAGE:$target FROM $BASE (torch CPU wheel: ${TORCH_CPU_WHEEL:-none staged})"
  start=$SECONDS
  # --network host: the build reaches the package registries as this machine does (its DNS and
  # proxy), and needs no bridge network in the daemon.
  docker build --network host -f docker/Dockerfile --target "$target" \
    --build-arg BASE="$BASE" --build-arg GIT_COMMIT="$COMMIT" -t "$IMAGE:$target" .
  size="$(docker image inspect -f '{{.Size}}' "$IMAGE:$target")"
  echo "built $IMAGE:$target in $((SECONDS - start)) s, $((size / 1000000)) MB"
done
