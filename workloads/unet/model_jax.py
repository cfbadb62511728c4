"""A small U-Net for image reconstruction (AlgoPerf's fastMRI model), in flax. Mirrors
model_pytorch.py line for line.

Layout: channels last (N, H, W, C) throughout. Kernels are HWIO, as flax's nn.Conv keeps them (the
shared initializer and the PyTorch mirror expect that layout); a 1x1 conv is a matmul. The 2x
up-sampling, a 2x2 stride-2 transposed conv in AlgoPerf, is written as what it equals: a 1x1 conv to
4x the channels, then a depth-to-space rearrangement, so its kernel is an ordinary conv kernel in
both frameworks. 3x3 convs are XLA's own (lax.conv_general_dilated): at these widths they are as
fast as PyTorch's (docs/workloads/unet.md), and the im2col alternatives measured slower.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

ACTIVATIONS = {"leaky_relu": lambda x: nn.leaky_relu(x, 0.2), "tanh": jnp.tanh}
EPS = 1e-5


def normalize(x: jax.Array, norm: str) -> jax.Array:
    """Parameter-free normalization of (N, H, W, C): per example and channel over H, W
    ("instance", AlgoPerf's default), or per example over H, W, C ("layer")."""
    axes = (1, 2) if norm == "instance" else (1, 2, 3)
    mean = jnp.mean(x, axis=axes, keepdims=True)
    var = jnp.mean(jnp.square(x - mean), axis=axes, keepdims=True)
    return (x - mean) * jax.lax.rsqrt(var + EPS)


class Conv(nn.Module):
    """A stride-1 'same' conv without bias (with one when `use_bias`); kernel (k, k, in, out)."""

    features: int
    size: int = 3
    use_bias: bool = False

    @nn.compact
    def __call__(self, x):
        k = self.size
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (k, k, x.shape[-1], self.features))
        if k == 1:
            y = x @ kernel[0, 0]
        else:
            y = jax.lax.conv_general_dilated(x, kernel, (1, 1), "SAME",
                                             dimension_numbers=("NHWC", "HWIO", "NHWC"))
        if self.use_bias:
            y = y + self.param("bias", nn.initializers.zeros, (self.features,))
        return y


class ConvBlock(nn.Module):
    """(3x3 conv, normalization, activation) twice."""

    c_out: int
    activation: str
    norm: str

    @nn.compact
    def __call__(self, x):
        act = ACTIVATIONS[self.activation]
        x = act(normalize(Conv(self.c_out, name="conv1")(x), self.norm))
        return act(normalize(Conv(self.c_out, name="conv2")(x), self.norm))


class UpBlock(nn.Module):
    """2x up-sampling (a 2x2 stride-2 transposed conv, as 1x1 conv + depth-to-space), normalization,
    activation."""

    c_out: int
    activation: str
    norm: str

    @nn.compact
    def __call__(self, x):
        n, h, w, _ = x.shape
        y = Conv(4 * self.c_out, size=1, name="conv")(x)
        # channel c * 4 + i * 2 + j goes to pixel (2h + i, 2w + j), as F.pixel_shuffle does
        y = y.reshape(n, h, w, self.c_out, 2, 2).transpose(0, 1, 4, 2, 5, 3).reshape(n, 2 * h, 2 * w, self.c_out)
        return ACTIVATIONS[self.activation](normalize(y, self.norm))


def avg_pool2(x: jax.Array) -> jax.Array:
    n, h, w, c = x.shape
    return x.reshape(n, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


class Model(nn.Module):
    """U-Net: `levels` down steps (conv block, 2x2 average pool) doubling the channels from
    `channels`, a bottom conv block, `levels` up steps (up block, concatenation with the skip, conv
    block), a 1x1 output conv. Input (N, H, W, 1), output (N, H, W)."""

    channels: int = 8
    levels: int = 2
    activation: str = "leaky_relu"
    norm: str = "instance"

    @nn.compact
    def __call__(self, x, train: bool):  # x: (N, H, W, 1)
        widths = [self.channels * 2**i for i in range(self.levels + 1)]
        skips = []
        for i, c_out in enumerate(widths[:-1]):
            x = ConvBlock(c_out, self.activation, self.norm, name=f"down_{i}")(x)
            skips.append(x)
            x = avg_pool2(x)
        x = ConvBlock(widths[-1], self.activation, self.norm, name="bottom")(x)
        for i, c in enumerate(reversed(widths[:-1])):
            up = UpBlock(c, self.activation, self.norm, name=f"up_{i}")(x)
            x = ConvBlock(c, self.activation, self.norm, name=f"up_conv_{i}")(jnp.concatenate([up, skips.pop()], axis=-1))
        return Conv(1, size=1, use_bias=True, name="out_conv")(x)[..., 0]
