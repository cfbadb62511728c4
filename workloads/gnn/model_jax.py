"""A message-passing graph network (AlgoPerf's OGBG model) over padded molecular graphs, in flax.
Mirrors model_pytorch.py line for line.

Each batch holds B graphs padded to N nodes and E directed edges (workloads/data/molecules.py).
Gathers (node -> edge) and sums (edge -> node) run per graph (vmapped over the batch axis), so
padding never mixes graphs; padded nodes and edges are zeroed after every update, so they add
nothing to any sum, and a graph's output does not depend on how much padding it carries.
model_pytorch.py indexes the B*N nodes of the batch flattened instead, the same function: here
the batch axis stays a batch dimension of the gathers and scatters, which the data-parallel mesh
splits (docs/performance.md#jax-against-pytorch-where-a-step-goes).
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

from workloads.data.molecules import TASKS
from workloads.layers_jax import LayerNorm, gelu

ACTIVATIONS = {"relu": nn.relu, "silu": nn.silu, "gelu": gelu}
LAYER_NORM_EPS = 1e-6


class DenseParams(nn.Module):
    """A Dense layer's kernel (features_in, features) and bias, handed out to be used by blocks."""

    features_in: int
    features: int

    @nn.compact
    def __call__(self):
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (self.features_in, self.features))
        return kernel, self.param("bias", nn.initializers.zeros, (self.features,))


class Update(nn.Module):
    """Dense over the concatenation of `num_inputs` feature vectors of width `hidden`, layer norm,
    activation (AlgoPerf's MLP with one hidden layer). The kernel's rows are used block by block:
    block i multiplies input i, so per-node inputs of an edge update are projected before they
    are gathered to the edges (the same function as concatenating first, with fewer flops)."""

    num_inputs: int
    hidden: int
    activation: str

    def setup(self):
        self.act = ACTIVATIONS[self.activation]
        self.dense = DenseParams(self.num_inputs * self.hidden, self.hidden)
        self.norm = LayerNorm(LAYER_NORM_EPS)

    def block(self, x, i: int):
        """Input i times its block of the kernel (no bias)."""
        return x @ self.dense()[0][i * self.hidden:(i + 1) * self.hidden]

    def __call__(self, y):
        """Activation of the layer norm of `y` + bias, where `y` is the sum of the blocks."""
        return self.act(self.norm(y + self.dense()[1]))


def gather(values, index):
    """values (B, N, H) at each graph's node indices `index` (B, E): (B, E, H)."""
    return jax.vmap(lambda v, i: v[i])(values, index)


def segment_sum(values, index, num_segments: int):
    """Each graph's sums of the rows of values (B, E, H) by node index (B, E): (B, num_segments, H)."""
    return jax.vmap(lambda v, i: jax.ops.segment_sum(v, i, num_segments))(values, index)


class Model(nn.Module):
    """Encoders, `num_steps` graph-network blocks (edge, node, global updates with sums), decoder.

    inputs: dict of nodes (B, N, F_node), edges (B, E, F_edge), senders/receivers (B, E) int,
    node_mask (B, N), edge_mask (B, E). Output: (B, num_outputs) logits, one per task."""

    hidden: int = 32
    num_steps: int = 3
    activation: str = "relu"
    num_outputs: int = len(TASKS)

    def setup(self):
        self.node_embedding = nn.Dense(self.hidden)
        self.edge_embedding = nn.Dense(self.hidden)
        self.steps = [Step(self.hidden, self.activation) for _ in range(self.num_steps)]
        self.decoder = nn.Dense(self.num_outputs)

    def __call__(self, inputs, train: bool):
        node_mask = inputs["node_mask"][..., None]
        edge_mask = inputs["edge_mask"][..., None]
        b = node_mask.shape[0]
        senders = inputs["senders"].astype(jnp.int32)
        receivers = inputs["receivers"].astype(jnp.int32)
        nodes = self.node_embedding(inputs["nodes"]) * node_mask
        edges = self.edge_embedding(inputs["edges"]) * edge_mask
        globals_ = jnp.zeros((b, self.hidden), nodes.dtype)
        for step in self.steps:
            nodes, edges, globals_ = step(nodes, edges, globals_, senders, receivers, node_mask, edge_mask)
        return self.decoder(globals_)


class Step(nn.Module):
    """One graph-network block: edges from [edge, sender, receiver, global]; nodes from [node,
    sum of outgoing edges, sum of incoming edges, global]; global from [global, sum of nodes, sum
    of edges] (jraph.GraphNetwork with sum aggregations)."""

    hidden: int
    activation: str

    def setup(self):
        self.edge_update = Update(4, self.hidden, self.activation)
        self.node_update = Update(4, self.hidden, self.activation)
        self.global_update = Update(3, self.hidden, self.activation)

    def __call__(self, nodes, edges, globals_, senders, receivers, node_mask, edge_mask):
        n = nodes.shape[1]
        up = self.edge_update
        y = (up.block(edges, 0) + gather(up.block(nodes, 1), senders)
             + gather(up.block(nodes, 2), receivers) + up.block(globals_, 3)[:, None])
        edges = up(y) * edge_mask
        outgoing = segment_sum(edges, senders, n)
        incoming = segment_sum(edges, receivers, n)
        up = self.node_update
        y = (up.block(nodes, 0) + up.block(outgoing, 1) + up.block(incoming, 2)
             + up.block(globals_, 3)[:, None])
        nodes = up(y) * node_mask
        up = self.global_update
        y = up.block(globals_, 0) + up.block(nodes.sum(1), 1) + up.block(edges.sum(1), 2)
        globals_ = up(y)
        return nodes, edges, globals_
