"""A DLRM-style click model in flax. Mirrors model_pytorch.py line for line.

Input (N, 39) float32: 13 dense features, then 26 categorical ids stored as floats. The bottom MLP
maps the dense features to one `embed_dim` vector; each categorical id picks a row of its table (one
concatenated table, each feature's rows starting at its offset); the pairwise dot products of these
27 vectors (upper triangle) and the bottom vector feed the top MLP, whose one output is the logit.
"""

from collections.abc import Sequence

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from workloads.dlrm.spec import interaction_pairs
from workloads.layers_jax import LayerNorm


class Model(nn.Module):
    """Bottom MLP, embeddings, dot interactions, top MLP (optionally with layer norm after each
    hidden dense layer, and residual connections between top layers of equal width)."""

    table_sizes: Sequence[int]
    num_dense: int = 13
    embed_dim: int = 16
    bottom_widths: Sequence[int] = (64, 32)
    top_widths: Sequence[int] = (128, 128, 64)
    layer_norm: bool = False
    residual: bool = False
    embed_init_scale: float = 1.0

    @nn.compact
    def __call__(self, x, train: bool):  # x: (N, 13 + 26)
        offsets = jnp.asarray(np.cumsum((0, *self.table_sizes[:-1])), jnp.int32)
        pairs = jnp.asarray(interaction_pairs(len(self.table_sizes) + 1))
        dense, ids = x[:, : self.num_dense], x[:, self.num_dense :].astype(jnp.int32) + offsets
        bottom = dense
        for k, width in enumerate((*self.bottom_widths, self.embed_dim)):
            y = nn.Dense(width, name=f"bottom_{k}")(bottom)
            bottom = nn.relu(LayerNorm(1e-6, name=f"bottom_norm_{k}")(y) if self.layer_norm else y)
        table = nn.Embed(int(sum(self.table_sizes)), self.embed_dim, name="embedding")
        vectors = jnp.concatenate([bottom[:, None, :], table(ids)], axis=1)  # (N, 27, D)
        dots = jnp.einsum("nid,njd->nij", vectors, vectors).reshape(len(x), -1)[:, pairs]
        h = jnp.concatenate([bottom, dots], axis=1)
        for k, width in enumerate(self.top_widths):
            y = nn.Dense(width, name=f"top_{k}")(h)
            y = nn.relu(LayerNorm(1e-6, name=f"top_norm_{k}")(y) if self.layer_norm else y)
            h = h + y if self.residual and y.shape == h.shape else y
        return nn.Dense(1, name="head")(h)[:, 0]
