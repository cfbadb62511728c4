"""A message-passing graph network (AlgoPerf's OGBG model) over padded molecular graphs, in PyTorch.
Mirrors model_jax.py line for line.

Each batch holds B graphs padded to N nodes and E directed edges (workloads/data/molecules.py).
Gathers (node -> edge) and sums (edge -> node) index the B*N nodes of the batch flattened, so
padding never mixes graphs; padded nodes and edges are zeroed after every update, so they add
nothing to any sum, and a graph's output does not depend on how much padding it carries.
"""

import torch
import torch.nn.functional as F
from torch import nn

from workloads.data.molecules import EDGE_FEATURES, NODE_FEATURES, TASKS
from workloads.layers_pytorch import LayerNorm

ACTIVATIONS = {"relu": F.relu, "silu": F.silu, "gelu": lambda x: F.gelu(x, approximate="none")}
LAYER_NORM_EPS = 1e-6


class Update(nn.Module):
    """Dense over the concatenation of `num_inputs` feature vectors of width `hidden`, layer norm,
    activation (AlgoPerf's MLP with one hidden layer). The kernel's rows are used block by block:
    block i multiplies input i, so per-node inputs of an edge update are projected before they
    are gathered to the edges (the same function as concatenating first, with fewer flops)."""

    def __init__(self, num_inputs: int, hidden: int, activation: str):
        super().__init__()
        self.hidden, self.act = hidden, ACTIVATIONS[activation]
        self.dense = nn.Linear(num_inputs * hidden, hidden)
        self.norm = LayerNorm(hidden, LAYER_NORM_EPS)

    def block(self, x, i: int):
        """Input i times its block of the kernel (no bias)."""
        return x @ self.dense.weight[:, i * self.hidden:(i + 1) * self.hidden].T

    def forward(self, y):
        """Activation of the layer norm of `y` + bias, where `y` is the sum of the blocks."""
        return self.act(self.norm(y + self.dense.bias))


def gather(values, index):
    """values (B, N, H) at per-graph node indices `index` (B*E,) flattened over the batch: (B*E, H)."""
    return values.reshape(-1, values.shape[-1]).index_select(0, index)


def segment_sum(values, index, num_segments: int):
    """Sums of the rows of values (B*E, H) by flat node index: (num_segments, H)."""
    return values.new_zeros(num_segments, values.shape[-1]).index_add_(0, index, values)


class Model(nn.Module):
    """Encoders, `num_steps` graph-network blocks (edge, node, global updates with sums), decoder.

    inputs: dict of nodes (B, N, F_node), edges (B, E, F_edge), senders/receivers (B, E) int,
    node_mask (B, N), edge_mask (B, E). Output: (B, num_outputs) logits, one per task."""

    def __init__(self, hidden=32, num_steps=3, activation="relu", num_outputs=len(TASKS)):
        super().__init__()
        self.hidden = hidden
        self.node_embedding = nn.Linear(NODE_FEATURES, hidden)
        self.edge_embedding = nn.Linear(EDGE_FEATURES, hidden)
        self.steps = nn.ModuleList(Step(hidden, activation) for _ in range(num_steps))
        self.decoder = nn.Linear(hidden, num_outputs)

    def forward(self, inputs):
        node_mask = inputs["node_mask"][..., None]
        edge_mask = inputs["edge_mask"][..., None]
        b, n = node_mask.shape[:2]
        offsets = (torch.arange(b, device=node_mask.device) * n)[:, None]
        senders = (inputs["senders"].long() + offsets).reshape(-1)
        receivers = (inputs["receivers"].long() + offsets).reshape(-1)
        nodes = self.node_embedding(inputs["nodes"]) * node_mask
        edges = self.edge_embedding(inputs["edges"]) * edge_mask
        globals_ = nodes.new_zeros(b, self.hidden)
        for step in self.steps:
            nodes, edges, globals_ = step(nodes, edges, globals_, senders, receivers, node_mask, edge_mask)
        return self.decoder(globals_)


class Step(nn.Module):
    """One graph-network block: edges from [edge, sender, receiver, global]; nodes from [node,
    sum of outgoing edges, sum of incoming edges, global]; global from [global, sum of nodes, sum
    of edges] (jraph.GraphNetwork with sum aggregations)."""

    def __init__(self, hidden: int, activation: str):
        super().__init__()
        self.edge_update = Update(4, hidden, activation)
        self.node_update = Update(4, hidden, activation)
        self.global_update = Update(3, hidden, activation)

    def forward(self, nodes, edges, globals_, senders, receivers, node_mask, edge_mask):
        b, n, h = nodes.shape
        e = edges.shape[1]
        up = self.edge_update
        y = (up.block(edges, 0) + gather(up.block(nodes, 1), senders).reshape(b, e, h)
             + gather(up.block(nodes, 2), receivers).reshape(b, e, h) + up.block(globals_, 3)[:, None])
        edges = up(y) * edge_mask
        flat_edges = edges.reshape(b * e, h)
        outgoing = segment_sum(flat_edges, senders, b * n).reshape(b, n, h)
        incoming = segment_sum(flat_edges, receivers, b * n).reshape(b, n, h)
        up = self.node_update
        y = (up.block(nodes, 0) + up.block(outgoing, 1) + up.block(incoming, 2)
             + up.block(globals_, 3)[:, None])
        nodes = up(y) * node_mask
        up = self.global_update
        y = up.block(globals_, 0) + up.block(nodes.sum(1), 1) + up.block(edges.sum(1), 2)
        globals_ = up(y)
        return nodes, edges, globals_
