"""A small U-Net for image reconstruction (AlgoPerf's fastMRI model), in PyTorch. Mirrors model_jax.py
line for line.

Layout: images come as (N, H, W, 1) and are computed channels first (N, C, H, W). Every 3x3 conv
has no bias (a normalization follows it); the 2x up-sampling, a 2x2 stride-2 transposed conv in
AlgoPerf, is written as what it equals: a 1x1 conv to 4x the channels, then a depth-to-space
rearrangement (`F.pixel_shuffle`), so its kernel is an ordinary conv kernel in both frameworks.
"""

import torch
import torch.nn.functional as F
from torch import nn

ACTIVATIONS = {"leaky_relu": lambda x: F.leaky_relu(x, 0.2), "tanh": torch.tanh}
EPS = 1e-5


def normalize(x: torch.Tensor, norm: str) -> torch.Tensor:
    """Parameter-free normalization of (N, C, H, W): per example and channel over H, W
    ("instance", AlgoPerf's default), or per example over C, H, W ("layer")."""
    if norm == "instance":
        return F.instance_norm(x, eps=EPS)
    return F.layer_norm(x, x.shape[1:], eps=EPS)


class ConvBlock(nn.Module):
    """(3x3 conv, normalization, activation) twice."""

    def __init__(self, c_in: int, c_out: int, activation: str, norm: str):
        super().__init__()
        self.act, self.norm = ACTIVATIONS[activation], norm
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)

    def forward(self, x):
        x = self.act(normalize(self.conv1(x), self.norm))
        return self.act(normalize(self.conv2(x), self.norm))


class UpBlock(nn.Module):
    """2x up-sampling (a 2x2 stride-2 transposed conv, as 1x1 conv + depth-to-space), normalization,
    activation."""

    def __init__(self, c_in: int, c_out: int, activation: str, norm: str):
        super().__init__()
        self.act, self.norm = ACTIVATIONS[activation], norm
        self.conv = nn.Conv2d(c_in, 4 * c_out, 1, bias=False)

    def forward(self, x):
        return self.act(normalize(F.pixel_shuffle(self.conv(x), 2), self.norm))


class Model(nn.Module):
    """U-Net: `levels` down steps (conv block, 2x2 average pool) doubling the channels from
    `channels`, a bottom conv block, `levels` up steps (up block, concatenation with the skip, conv
    block), a 1x1 output conv. Input (N, H, W, 1), output (N, H, W)."""

    def __init__(self, channels=8, levels=2, activation="leaky_relu", norm="instance"):
        super().__init__()
        widths = [channels * 2**i for i in range(levels + 1)]
        self.down = nn.ModuleList(
            ConvBlock(c_in, c_out, activation, norm) for c_in, c_out in zip([1] + widths[:-2], widths[:-1])
        )
        self.bottom = ConvBlock(widths[-2], widths[-1], activation, norm)
        self.up = nn.ModuleList(UpBlock(2 * c, c, activation, norm) for c in reversed(widths[:-1]))
        self.up_conv = nn.ModuleList(ConvBlock(2 * c, c, activation, norm) for c in reversed(widths[:-1]))
        self.out_conv = nn.Conv2d(channels, 1, 1)

    def forward(self, x):  # x: (N, H, W, 1)
        x = x.permute(0, 3, 1, 2)
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = F.avg_pool2d(x, 2)
        x = self.bottom(x)
        for up, conv in zip(self.up, self.up_conv):
            x = conv(torch.cat([up(x), skips.pop()], dim=1))
        return self.out_conv(x)[:, 0]
