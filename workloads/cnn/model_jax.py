"""A small ResNet for 28x28 images, in flax. Mirrors model_pytorch.py line for line."""

from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp

from workloads.layers_jax import gelu

ACTIVATIONS = {"relu": nn.relu, "silu": nn.silu, "gelu": gelu}


def conv3x3(c_out: int, stride: int, name: str) -> nn.Conv:
    return nn.Conv(c_out, (3, 3), strides=stride, padding=((1, 1), (1, 1)), use_bias=False, name=name)


def batch_norm(train: bool, name: str) -> nn.BatchNorm:
    return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5, name=name)


class Block(nn.Module):
    """conv-bn-act-conv-bn plus a (projected, when the shape changes) shortcut, then act."""

    c_out: int
    stride: int
    activation: str

    @nn.compact
    def __call__(self, x, train: bool):
        act = ACTIVATIONS[self.activation]
        y = act(batch_norm(train, "bn1")(conv3x3(self.c_out, self.stride, "conv1")(x)))
        y = batch_norm(train, "bn2")(conv3x3(self.c_out, 1, "conv2")(y))
        shortcut = x
        if self.stride != 1 or x.shape[-1] != self.c_out:
            proj = nn.Conv(self.c_out, (1, 1), strides=self.stride, padding="VALID", use_bias=False,
                           name="proj_conv")
            shortcut = batch_norm(train, "proj_bn")(proj(x))
        return act(y + shortcut)


class Model(nn.Module):
    """Stem conv at full resolution, one stride-2 residual block per further width, mean pool, dense."""

    widths: Sequence[int] = (16, 32, 64)
    activation: str = "relu"
    num_classes: int = 10
    in_channels: int = 1
    bn_scale_init: float = 1.0

    @nn.compact
    def __call__(self, x, train: bool):  # x: (N, H, W, C)
        act = ACTIVATIONS[self.activation]
        x = act(batch_norm(train, "stem_bn")(conv3x3(self.widths[0], 1, "stem_conv")(x)))
        for i, c_out in enumerate(self.widths[1:]):
            x = Block(c_out, 2, self.activation, name=f"blocks_{i}")(x, train)
        return nn.Dense(self.num_classes, name="head")(jnp.mean(x, axis=(1, 2)))
