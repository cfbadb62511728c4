"""The gnn family: the molecule data builder (shapes, determinism, labels, cache) and the graph
network's handling of padding, in both frameworks. Parity itself is in test_parity.py."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from workloads.data import molecules
from workloads.data.molecules import (EDGE_FEATURES, GRAPH_KEYS, MAX_EDGES, MAX_NODES,
                                      NODE_FEATURES, TASKS, build_graphs)
from workloads.registry import PENDING, REGISTRY
from workloads.workload_base import example_batch

pytest.importorskip("rdkit")

ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"
NITROBENZENE = "O=[N+]([O-])c1ccccc1"
PARACETAMOL = "CC(=O)Nc1ccc(O)cc1"
ALANINE = "CC(N)C(=O)O"
TOO_LARGE = "C" * (MAX_NODES + 1)
SMILES = [ASPIRIN, "not a molecule", NITROBENZENE, TOO_LARGE, PARACETAMOL, ALANINE, "CCO", "c1ccccc1"]
KEPT = [ASPIRIN, NITROBENZENE, PARACETAMOL, ALANINE, "CCO", "c1ccccc1"]


@pytest.fixture(scope="module")
def graphs():
    return build_graphs(SMILES)


def label(graphs, i, task):
    return graphs["targets"][i, TASKS.index(task)]


def test_builder_shapes_and_dtypes(graphs):
    n = len(KEPT)  # the unparsable and the too-large molecule are dropped
    shapes = {"nodes": (n, MAX_NODES, NODE_FEATURES), "edges": (n, MAX_EDGES, EDGE_FEATURES),
              "senders": (n, MAX_EDGES), "receivers": (n, MAX_EDGES), "node_mask": (n, MAX_NODES),
              "edge_mask": (n, MAX_EDGES), "targets": (n, len(TASKS))}
    assert set(graphs) == set(GRAPH_KEYS) | {"targets"}
    for key, shape in shapes.items():
        assert graphs[key].shape == shape, key
        assert graphs[key].dtype == (np.int32 if key in ("senders", "receivers") else np.float32), key
    assert set(np.unique(graphs["targets"])) <= {0.0, 1.0}


def test_builder_is_deterministic(graphs):
    again = build_graphs(SMILES)
    for key in graphs:
        np.testing.assert_array_equal(graphs[key], again[key], err_msg=key)


def test_graph_structure(graphs):
    atoms = [13, 9, 11, 6, 3, 6]  # heavy atoms of the kept molecules
    bonds = [13, 9, 11, 5, 2, 6]
    np.testing.assert_array_equal(graphs["node_mask"].sum(1), atoms)
    np.testing.assert_array_equal(graphs["edge_mask"].sum(1), [2 * b for b in bonds])
    for i, (a, b) in enumerate(zip(atoms, bonds)):
        s, r = graphs["senders"][i], graphs["receivers"][i]
        # every bond in both directions, as consecutive edges; padding edges at node 0
        np.testing.assert_array_equal(s[: 2 * b : 2], r[1 : 2 * b : 2])
        np.testing.assert_array_equal(r[: 2 * b : 2], s[1 : 2 * b : 2])
        assert s[: 2 * b].max() < a and r[: 2 * b].max() < a
        assert not s[2 * b:].any() and not r[2 * b:].any()
        assert not graphs["nodes"][i, a:].any() and not graphs["edges"][i, 2 * b:].any()
        # each real atom has exactly one element, degree, charge, hybridization, H-count slot
        assert np.all(graphs["nodes"][i, :a, :10].sum(1) == 1)
        assert np.all(graphs["nodes"][i, :a, 10:16].sum(1) == 1)
        # the degree one-hot agrees with the edges
        degree = np.bincount(s[: 2 * b], minlength=MAX_NODES)[:a]
        np.testing.assert_array_equal(graphs["nodes"][i, :a, 10:16].argmax(1), np.minimum(degree, 5))


def test_labels(graphs):
    aspirin, nitrobenzene, paracetamol, alanine, ethanol, benzene = range(6)
    assert label(graphs, aspirin, "carboxylic_acid") == 1 and label(graphs, aspirin, "ester") == 1
    assert label(graphs, aspirin, "amide") == 0
    assert label(graphs, nitrobenzene, "nitro") == 1 and label(graphs, aspirin, "nitro") == 0
    assert label(graphs, paracetamol, "amide") == 1 and label(graphs, paracetamol, "ester") == 0
    assert label(graphs, alanine, "primary_amine") == 1 and label(graphs, alanine, "chiral_center") == 1
    assert label(graphs, ethanol, "alcohol") == 1 and label(graphs, ethanol, "chiral_center") == 0
    assert label(graphs, benzene, "logp_gt_3") == 0 and label(graphs, benzene, "fused_rings") == 0
    # a reference drug is the molecule most similar to itself
    assert label(graphs, aspirin, "similar_to_aspirin") == 1
    assert label(graphs, paracetamol, "similar_to_paracetamol") == 1


def test_real_data_splits_and_label_rates():
    """The cached full data set (built by the first test run that needs it, about 15 s)."""
    data = molecules.load_molecules()
    assert {k: len(v["targets"]) for k, v in data.items()} == {"train": 3906, "validation": 500, "test": 500}
    targets = np.concatenate([v["targets"] for v in data.values()])
    rates = targets.mean(0)
    assert np.all(rates > 0.05) and np.all(rates < 0.4), dict(zip(TASKS, rates.round(3)))


def test_cache_hit_needs_no_rdkit(tmp_path):
    env = {**os.environ, "ALGOBENCH_CACHE_DIR": str(tmp_path)}
    code = ("import sys; from workloads.data.molecules import load_molecules; "
            "d = load_molecules(num_validation=5, num_test=5, limit=40); "
            "print(sorted(len(v['targets']) for v in d.values()), 'rdkit' in sys.modules)")

    def run():
        return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                              check=True).stdout.split("\n")[-2]

    assert run() == "[5, 5, 30] True"  # built: RDKit imported
    assert run() == "[5, 5, 30] False"  # from the cache: RDKit never imported


# -- the model: padding changes nothing, in both frameworks -------------------------------------

SPECS = {**REGISTRY, **PENDING}
GNN_NAMES = sorted(n for n, s in SPECS.items() if s.family == "gnn")


def outputs(framework: str, spec, batch):
    """The model's outputs for `batch` from the seed-3 weights (identical in both frameworks)."""
    if framework == "pytorch":
        from harness.pytorch_backend import make_rng
        from workloads.pytorch_workload import PyTorchWorkload as Workload
    else:
        from harness.jax_backend import make_rng
        from workloads.jax_workload import JaxWorkload as Workload
    workload = Workload(spec)
    params, state = workload.init_model_fn(make_rng(3))
    return workload.eval_outputs(params, state, batch)


def with_garbage_padding(batch, rng, extra_nodes=5, extra_edges=12):
    """`batch` with more padding slots and random values in every padding slot."""
    out = {}
    for key in GRAPH_KEYS:
        value = batch[key]
        extra = extra_nodes if key in ("nodes", "node_mask") else extra_edges
        pad = [(0, 0), (0, extra)] + [(0, 0)] * (value.ndim - 2)
        out[key] = np.pad(value, pad)
    n = out["node_mask"].shape[1]
    for key, mask in (("nodes", "node_mask"), ("edges", "edge_mask")):
        padding = out[mask] == 0
        out[key][padding] = rng.standard_normal(out[key][padding].shape)
    padding = out["edge_mask"] == 0
    out["senders"][padding] = rng.integers(0, n, padding.sum())
    out["receivers"][padding] = rng.integers(0, n, padding.sum())
    out["targets"] = batch["targets"]
    return out


@pytest.mark.parametrize("framework", ["pytorch", "jax"])
def test_padding_changes_no_output(framework):
    spec = SPECS["gnn"]
    batch = example_batch(spec, 8, seed=4)
    clean = outputs(framework, spec, batch)
    padded = outputs(framework, spec, with_garbage_padding(batch, np.random.default_rng(0)))
    np.testing.assert_allclose(padded, clean, atol=1e-5)
    # a graph's output does not depend on the other graphs of its batch
    alone = outputs(framework, spec, {k: v[2:3] for k, v in batch.items()})
    np.testing.assert_allclose(alone[0], clean[2], atol=1e-5)


@pytest.mark.parametrize("framework", ["pytorch", "jax"])
def test_empty_graphs_give_finite_outputs(framework):
    """Eval batches are padded with all-zero graphs (no nodes, no edges)."""
    spec = SPECS["gnn"]
    batch = {k: np.zeros_like(v) for k, v in example_batch(spec, 2, seed=0).items()}
    assert np.all(np.isfinite(outputs(framework, spec, batch)))


@pytest.mark.parametrize("name", GNN_NAMES)
def test_example_batch_is_valid(name):
    batch = example_batch(SPECS[name], 16, seed=0)
    assert set(batch) == set(GRAPH_KEYS) | {"targets"}
    for i in range(16):
        atoms, edges = int(batch["node_mask"][i].sum()), int(batch["edge_mask"][i].sum())
        assert batch["node_mask"][i, :atoms].all() and batch["edge_mask"][i, :edges].all()
        assert batch["senders"][i, :edges].max(initial=0) < atoms
        np.testing.assert_array_equal(batch["senders"][i, :edges:2], batch["receivers"][i, 1:edges:2])
