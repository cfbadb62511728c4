"""A small Vision Transformer for 28x28 images, in PyTorch. Mirrors model_jax.py line for line.

Images are cut into non-overlapping square patches (a reshape), each patch is embedded by one
Dense layer, learned position embeddings are added, and either a class token is prepended
(`pool="cls"`) or a multi-head attention pooling head reads the tokens (`pool="map"`). Encoder
blocks are pre- or post-layer-norm (`norm`), with a GELU MLP or a GELU-gated one (`mlp="glu"`).
Attention, MLP and layer norm are workloads/layers_pytorch.py's.
"""

import torch
from torch import nn

from workloads.layers_pytorch import Attention, LayerNorm, Mlp

LAYER_NORM_EPS = 1e-6
MLP_ACTIVATION = "gelu_tanh"


def patches(x, patch_size: int):
    """(N, H, W, C) images -> (N, H/p * W/p, p*p*C) flattened patches, row-major over the grid."""
    n, h, w, c = x.shape
    p = patch_size
    x = x.reshape(n, h // p, p, w // p, p, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(n, (h // p) * (w // p), p * p * c)


class Block(nn.Module):
    """Self-attention and MLP, each residual; layer norms before (pre) or after (post) the sums."""

    def __init__(self, width: int, num_heads: int, mlp_dim: int, glu: bool, norm: str):
        super().__init__()
        self.post_norm = norm == "post"
        self.norm1 = LayerNorm(width, LAYER_NORM_EPS)
        self.attention = Attention(width, num_heads)
        self.norm2 = LayerNorm(width, LAYER_NORM_EPS)
        self.mlp = Mlp(width, mlp_dim, MLP_ACTIVATION, gated=glu)

    def forward(self, x):
        if self.post_norm:
            x = self.norm1(x + self.attention(x, x))
            return self.norm2(x + self.mlp(x))
        y = self.norm1(x)
        x = x + self.attention(y, y)
        return x + self.mlp(self.norm2(x))


class MapHead(nn.Module):
    """Multi-head attention pooling: a learned probe query attends over the tokens, then a
    residual MLP on its layer norm (AlgoPerf's MAPHead). Output: (N, width)."""

    def __init__(self, width: int, num_heads: int, mlp_dim: int, glu: bool):
        super().__init__()
        self.probe = nn.Parameter(torch.zeros(1, 1, width))
        self.attention = Attention(width, num_heads)
        self.norm = LayerNorm(width, LAYER_NORM_EPS)
        self.mlp = Mlp(width, mlp_dim, MLP_ACTIVATION, gated=glu)

    def forward(self, x):
        y = self.attention(self.probe.expand(x.shape[0], -1, -1), x)
        y = y + self.mlp(self.norm(y))
        return y[:, 0]


class Model(nn.Module):
    """Patch embedding, position embeddings, class token or MAP head, `depth` encoder blocks,
    final layer norm (pre-norm blocks only: post-norm blocks end with one), linear head.

    inputs (N, H, W, C) images, channels last; output (N, num_classes) logits."""

    def __init__(self, patch_size=7, width=64, depth=4, num_heads=4, mlp_dim=128, mlp="gelu",
                 norm="pre", pool="cls", image_size=28, in_channels=1, num_classes=10):
        super().__init__()
        self.patch_size, self.pool, self.norm = patch_size, pool, norm
        glu = mlp == "glu"
        num_patches = (image_size // patch_size) ** 2
        self.patch_embedding = nn.Linear(patch_size * patch_size * in_channels, width)
        self.pos_embedding = nn.Parameter(torch.zeros(1, num_patches, width))
        if pool == "cls":
            self.cls_token = nn.Parameter(torch.zeros(1, 1, width))
        self.blocks = nn.ModuleList(Block(width, num_heads, mlp_dim, glu, norm) for _ in range(depth))
        if norm == "pre":
            self.encoder_norm = LayerNorm(width, LAYER_NORM_EPS)
        if pool == "map":
            self.map_head = MapHead(width, num_heads, mlp_dim, glu)
        self.head = nn.Linear(width, num_classes)

    def forward(self, x):
        x = self.patch_embedding(patches(x, self.patch_size)) + self.pos_embedding
        if self.pool == "cls":
            x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        for block in self.blocks:
            x = block(x)
        if self.norm == "pre":
            x = self.encoder_norm(x)
        x = x[:, 0] if self.pool == "cls" else self.map_head(x)
        return self.head(x)
