"""A small Vision Transformer for 28x28 images, in flax. Mirrors model_pytorch.py line for line.

Images are cut into non-overlapping square patches (a reshape), each patch is embedded by one
Dense layer, learned position embeddings are added, and either a class token is prepended
(`pool="cls"`) or a multi-head attention pooling head reads the tokens (`pool="map"`). Encoder
blocks are pre- or post-layer-norm (`norm`), with a GELU MLP or a GELU-gated one (`mlp="glu"`).
Attention, MLP and layer norm are workloads/layers_jax.py's.
"""

import flax.linen as nn
import jax.numpy as jnp

from workloads.layers_jax import Attention, LayerNorm, Mlp

LAYER_NORM_EPS = 1e-6
MLP_ACTIVATION = "gelu_tanh"


def layer_norm(name: str) -> LayerNorm:
    return LayerNorm(LAYER_NORM_EPS, name=name)


def patches(x, patch_size: int):
    """(N, H, W, C) images -> (N, H/p * W/p, p*p*C) flattened patches, row-major over the grid."""
    n, h, w, c = x.shape
    p = patch_size
    x = x.reshape(n, h // p, p, w // p, p, c).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(n, (h // p) * (w // p), p * p * c)


class Block(nn.Module):
    """Self-attention and MLP, each residual; layer norms before (pre) or after (post) the sums."""

    width: int
    num_heads: int
    mlp_dim: int
    glu: bool
    norm: str

    @nn.compact
    def __call__(self, x):
        norm1, norm2 = layer_norm("norm1"), layer_norm("norm2")
        attention = Attention(self.width, self.num_heads, name="attention")
        mlp = Mlp(self.width, self.mlp_dim, MLP_ACTIVATION, gated=self.glu, name="mlp")
        if self.norm == "post":
            x = norm1(x + attention(x, x))
            return norm2(x + mlp(x))
        y = norm1(x)
        x = x + attention(y, y)
        return x + mlp(norm2(x))


class MapHead(nn.Module):
    """Multi-head attention pooling: a learned probe query attends over the tokens, then a
    residual MLP on its layer norm (AlgoPerf's MAPHead). Output: (N, width)."""

    width: int
    num_heads: int
    mlp_dim: int
    glu: bool

    @nn.compact
    def __call__(self, x):
        probe = self.param("probe", nn.initializers.zeros, (1, 1, self.width))
        y = Attention(self.width, self.num_heads, name="attention")(
            jnp.broadcast_to(probe, (x.shape[0], 1, self.width)), x)
        mlp = Mlp(self.width, self.mlp_dim, MLP_ACTIVATION, gated=self.glu, name="mlp")
        y = y + mlp(layer_norm("norm")(y))
        return y[:, 0]


class Model(nn.Module):
    """Patch embedding, position embeddings, class token or MAP head, `depth` encoder blocks,
    final layer norm (pre-norm blocks only: post-norm blocks end with one), linear head.

    inputs (N, H, W, C) images, channels last; output (N, num_classes) logits."""

    patch_size: int = 7
    width: int = 64
    depth: int = 4
    num_heads: int = 4
    mlp_dim: int = 128
    mlp: str = "gelu"
    norm: str = "pre"
    pool: str = "cls"
    image_size: int = 28
    in_channels: int = 1
    num_classes: int = 10

    @nn.compact
    def __call__(self, x, train: bool):
        glu = self.mlp == "glu"
        num_patches = (self.image_size // self.patch_size) ** 2
        x = nn.Dense(self.width, name="patch_embedding")(patches(x, self.patch_size))
        x = x + self.param("pos_embedding", nn.initializers.zeros, (1, num_patches, self.width))
        if self.pool == "cls":
            cls_token = self.param("cls_token", nn.initializers.zeros, (1, 1, self.width))
            x = jnp.concatenate([jnp.broadcast_to(cls_token, (x.shape[0], 1, self.width)), x], axis=1)
        for i in range(self.depth):
            x = Block(self.width, self.num_heads, self.mlp_dim, glu, self.norm, name=f"blocks_{i}")(x)
        if self.norm == "pre":
            x = layer_norm("encoder_norm")(x)
        x = x[:, 0] if self.pool == "cls" else MapHead(self.width, self.num_heads, self.mlp_dim, glu,
                                                       name="map_head")(x)
        return nn.Dense(self.num_classes, name="head")(x)
