"""benchmarks/jax_step_variants.py: its variants parse as XLA options or formulations, a
formulation swaps the models' GELU only while it lasts, a tiny run writes a record whose table
reads back, and docs/performance.md holds the recorded table as generated."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.benchmark_scripts import load_benchmark

REPO = Path(__file__).resolve().parents[2]


variants = load_benchmark("jax_step_variants")


def test_a_variant_is_xla_options_or_a_named_formulation():
    assert variants.parse_variant("gelu_erfc") == {"formulation": "gelu_erfc"}
    assert variants.parse_variant("a=true,b=3,c=CPU_X,d=False") == {
        "xla": {"a": True, "b": 3, "c": "CPU_X", "d": False}}
    for bad in ("gelu_erf", "=3", "a=1,b"):
        with pytest.raises(SystemExit):
            variants.parse_variant(bad)


def test_a_formulation_swaps_the_models_functions_while_it_lasts():
    import flax.linen as nn
    import numpy as np
    from flax.linen import normalization

    from workloads import layers_jax
    from workloads.cnn import model_jax as cnn
    from workloads.gnn import model_jax as gnn

    tables = [layers_jax.ACTIVATIONS, cnn.ACTIVATIONS, gnn.ACTIVATIONS]
    x = np.linspace(-3, 3, 7, dtype=np.float32)
    with variants.FORMULATIONS["gelu_erfc"]():
        assert all(t["gelu"] is not layers_jax.gelu for t in tables)
        assert np.array_equal(cnn.ACTIVATIONS["gelu"](x), nn.gelu(x, approximate=False))
        assert layers_jax.ACTIVATIONS["silu"] is nn.silu
    assert all(t["gelu"] is layers_jax.gelu for t in tables)
    two_pass = normalization._compute_stats
    with variants.FORMULATIONS["batch_norm_one_pass"]():
        assert normalization._compute_stats is not two_pass
    assert normalization._compute_stats is two_pass
    from workloads.conformer import model_jax as conformer

    x, paddings = np.ones((2, 3, 4), np.float32), np.array([[0, 0, 1], [0, 1, 1]], np.float32)
    with variants.FORMULATIONS["zero_padded_by_mask"]():
        assert conformer.zero_padded is not layers_jax.zero_padded
        np.testing.assert_array_equal(conformer.zero_padded(x, paddings), layers_jax.zero_padded(x, paddings))
    assert conformer.zero_padded is layers_jax.zero_padded


def test_a_tiny_run_on_smoke_writes_a_record_whose_table_reads_back(tmp_path):
    out = tmp_path / "variants.json"
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks/jax_step_variants.py"), "--workloads", "smoke",
         "--variants", "xla_cpu_enable_concurrency_optimized_scheduler=true", "--rounds", "2",
         "--steps", "2", "--out", str(out)], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    record = json.loads(out.read_text())
    (result,) = record["results"]
    assert set(result["rounds_ms"]) == {variants.AS_IS, "xla_cpu_enable_concurrency_optimized_scheduler=true"}
    assert all(len(r) == 2 and min(r) > 0 for r in result["rounds_ms"].values())
    assert variants.table(record).splitlines()[-1] in done.stdout


def test_the_recorded_tables_are_those_in_the_doc():
    record = json.loads((REPO / "docs/data/jax_step_variants_stop47.json").read_text())
    doc = (REPO / "docs/performance.md").read_text()
    for run in record["runs"]:
        assert variants.table(run) in doc
