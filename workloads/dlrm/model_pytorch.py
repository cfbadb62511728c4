"""A DLRM-style click model in PyTorch. Mirrors model_jax.py line for line.

Input (N, 39) float32: 13 dense features, then 26 categorical ids stored as floats. The bottom MLP
maps the dense features to one `embed_dim` vector; each categorical id picks a row of its table (one
concatenated table, each feature's rows starting at its offset); the pairwise dot products of these
27 vectors (upper triangle) and the bottom vector feed the top MLP, whose one output is the logit.
"""

from itertools import pairwise

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from workloads.dlrm.spec import interaction_pairs
from workloads.layers_pytorch import LayerNorm


class Model(nn.Module):
    """Bottom MLP, embeddings, dot interactions, top MLP (optionally with layer norm after each
    hidden dense layer, and residual connections between top layers of equal width)."""

    def __init__(self, table_sizes, num_dense=13, embed_dim=16, bottom_widths=(64, 32),
                 top_widths=(128, 128, 64), layer_norm=False, residual=False, embed_init_scale=1.0):
        super().__init__()
        self.num_dense, self.layer_norm, self.residual = num_dense, layer_norm, residual
        self.register_buffer("offsets", torch.tensor(np.cumsum((0, *table_sizes[:-1])), dtype=torch.long),
                             persistent=False)
        self.register_buffer("pairs", torch.from_numpy(interaction_pairs(len(table_sizes) + 1)),
                             persistent=False)
        self.embedding = nn.Embedding(int(sum(table_sizes)), embed_dim)
        bottom = (num_dense, *bottom_widths, embed_dim)
        self.bottom = nn.ModuleList(nn.Linear(a, b) for a, b in pairwise(bottom))
        n = len(table_sizes) + 1
        top = (embed_dim + n * (n - 1) // 2, *top_widths)
        self.top = nn.ModuleList(nn.Linear(a, b) for a, b in pairwise(top))
        if layer_norm:
            self.bottom_norm = nn.ModuleList(LayerNorm(b, 1e-6) for b in bottom[1:])
            self.top_norm = nn.ModuleList(LayerNorm(b, 1e-6) for b in top[1:])
        self.head = nn.Linear(top[-1], 1)

    def forward(self, x):  # x: (N, 13 + 26)
        dense, ids = x[:, : self.num_dense], x[:, self.num_dense :].long() + self.offsets
        bottom = dense
        for k, layer in enumerate(self.bottom):
            y = layer(bottom)
            bottom = F.relu(self.bottom_norm[k](y) if self.layer_norm else y)
        vectors = torch.cat([bottom[:, None, :], self.embedding(ids)], dim=1)  # (N, 27, D)
        dots = torch.bmm(vectors, vectors.transpose(1, 2)).flatten(1)[:, self.pairs]
        h = torch.cat([bottom, dots], dim=1)
        for k, layer in enumerate(self.top):
            y = layer(h)
            y = F.relu(self.top_norm[k](y) if self.layer_norm else y)
            h = h + y if self.residual and y.shape == h.shape else y
        return self.head(h)[:, 0]
