"""A JAX trial never imports torch and a PyTorch trial never imports JAX (docs/architecture.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
OTHER = {"jax": ["torch"], "pytorch": ["jax", "flax", "optax"]}


@pytest.mark.parametrize("framework", ["pytorch", "jax"])
def test_a_trial_imports_only_its_framework(tmp_path, framework):
    script = (
        "import sys\n"
        "from harness.task import make_task\n"
        "from harness.trial import run_trial\n"
        f"meta = run_trial(make_task('submissions/nadamw', 'smoke', '{framework}', r'{tmp_path}'))\n"
        "assert meta['status'] == 'completed', meta\n"
        f"print(sorted(m for m in {OTHER[framework]!r} if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"
