"""`gnn`: a message-passing graph network predicting 24 structure-derived binary properties of NCI
molecules, scored by mean average precision (AlgoPerf's OGBG-molpcba domain). docs/workloads/gnn.md."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from workloads.data.molecules import (EDGE_FEATURES, GRAPH_KEYS, MAX_EDGES, MAX_NODES, empty_graphs,
                                      NODE_FEATURES, TASKS)
from workloads.initializers import truncated_normal
from workloads.spec import LossType, WorkloadSpec, variant


def init_rule(config: Mapping):
    """LeCun (fan-in, truncated normal) for the decoder; He for the other kernels (the default)."""

    def rule(name: str, shape: tuple, rng: np.random.Generator):
        if name == "decoder/kernel":
            return truncated_normal(rng, shape, np.sqrt(1.0 / shape[0]))
        return None

    return rule


def example_batch(spec: WorkloadSpec, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Made-up graphs of the data's form: random molecule-like sizes (1 to MAX_NODES atoms, a
    chain plus random extra bonds, every bond in both directions, padding edges at node 0),
    random features on real atoms and bonds only, 0/1 targets."""
    batch = empty_graphs(n)
    for i in range(n):
        atoms = int(rng.integers(1, MAX_NODES + 1))
        bonds = [(a - 1, a) for a in range(1, atoms)]  # a chain, then a few ring closures
        extra = int(rng.integers(0, min(atoms, MAX_EDGES // 2 - len(bonds)) + 1)) if atoms > 2 else 0
        bonds += [tuple(rng.choice(atoms, 2, replace=False)) for _ in range(extra)]
        batch["nodes"][i, :atoms] = rng.random((atoms, NODE_FEATURES)) < 0.3
        batch["node_mask"][i, :atoms] = 1.0
        for b, (u, v) in enumerate(bonds):
            batch["edges"][i, 2 * b] = batch["edges"][i, 2 * b + 1] = rng.random(EDGE_FEATURES) < 0.5
            batch["senders"][i, 2 * b: 2 * b + 2] = (u, v)
            batch["receivers"][i, 2 * b: 2 * b + 2] = (v, u)
        batch["edge_mask"][i, : 2 * len(bonds)] = 1.0
    batch["targets"] = (rng.random((n, spec.num_outputs)) < 0.3).astype(np.float32)
    return batch


GNN = WorkloadSpec(
    name="gnn",
    family="gnn",
    description="Graph network (edge, node, global updates) on 4,906 NCI molecules from RDKit, "
                "24 structure-derived binary properties; mean average precision",
    data_source="nci_molecules",
    input_shape=(MAX_NODES, NODE_FEATURES),  # the nodes of one graph; input_keys lists the rest
    num_outputs=len(TASKS),
    loss_type=LossType.SIGMOID_CROSS_ENTROPY,
    target_metric="mean_average_precision",
    lower_is_better=False,
    metrics="multilabel_average_precision",
    input_keys=GRAPH_KEYS,
    validation_target=0.925,
    test_target=0.9,
    max_runtime_sec=280.0,
    step_hint=2500,
    eval_batch_size=500,
    model_config={"hidden": 32, "num_steps": 3, "activation": "relu"},
    targets_source="docs/targets.md#gnn",
)

# AlgoPerf's OGBG variants (activation functions, model size). Each has its own targets from
# `algobench set-targets` (docs/targets.md).
GNN_GELU = variant(
    GNN,
    "gnn_gelu",
    model_config={"activation": "gelu"},
    description="gnn with GELU activations (exact, erf form)",
    validation_target=0.935,
    test_target=0.905,
    step_hint=2500,
    max_runtime_sec=210.0,
    targets_source="docs/targets.md#gnn_gelu",
)

GNN_SILU = variant(
    GNN,
    "gnn_silu",
    model_config={"activation": "silu"},
    description="gnn with SiLU activations",
    validation_target=0.94,
    test_target=0.91,
    step_hint=2500,
    max_runtime_sec=190.0,
    targets_source="docs/targets.md#gnn_silu",
)

GNN_LARGE = variant(
    GNN,
    "gnn_large",
    model_config={"hidden": 48, "num_steps": 4},
    description="gnn wider and deeper: width 48, 4 message-passing steps",
    validation_target=0.94,
    test_target=0.91,
    step_hint=2500,
    max_runtime_sec=470.0,
    targets_source="docs/targets.md#gnn_large",
)

SPECS = [GNN, GNN_GELU, GNN_SILU, GNN_LARGE]
