"""`JaxWorkload.to_device` moves a batch in one `jax.device_put` (benchmarks/batch_transfer.py):
each array must land exactly as one call per array put it, split over the mesh's batch axis where
its length divides, replicated where it does not."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from harness.backends import with_jax_host_devices

REPO = Path(__file__).resolve().parents[2]

SCRIPT = """
import sys
import numpy as np
import jax
sys.path.insert(0, {repo!r}); sys.path.insert(0, {benchmarks!r})
from batch_transfer import per_array
from harness.jax_backend import make_workload
from workloads.registry import get_spec

workload = make_workload(get_spec("smoke"))
assert workload.mesh.size == 2, jax.devices()
batch = {{"inputs": np.arange(4 * 3, dtype=np.float32).reshape(4, 3), "targets": np.arange(3, dtype=np.int32)}}
moved, before = workload.to_device(batch), per_array(workload, batch)
for key, array in batch.items():
    assert moved[key].sharding == before[key].sharding, key
    np.testing.assert_array_equal(np.asarray(moved[key]), array)
assert moved["inputs"].sharding == workload.batch_sharded  # 4 rows over 2 devices
assert moved["targets"].sharding == workload.replicated  # 3 rows do not divide
print("ok")
"""


def test_one_call_moves_every_array_as_one_call_per_array_did(tmp_path):
    env = with_jax_host_devices(os.environ, 2)
    script = SCRIPT.format(repo=str(REPO), benchmarks=str(REPO / "benchmarks"))
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-2000:]
