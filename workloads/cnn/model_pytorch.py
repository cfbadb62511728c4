"""A small ResNet for 28x28 images, in PyTorch. Mirrors model_jax.py line for line."""

import torch
from torch import nn
import torch.nn.functional as F

ACTIVATIONS = {"relu": F.relu, "silu": F.silu, "gelu": lambda x: F.gelu(x, approximate="none")}


def conv3x3(c_in: int, c_out: int, stride: int) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)


class BatchNorm2d(nn.BatchNorm2d):
    """Batch norm whose running variance averages the *biased* batch variance, as flax's does.

    `nn.BatchNorm2d` averages the unbiased one (a factor n/(n-1), 0.1% at n = 784), so the
    frameworks' eval outputs would drift apart during training. Normalization itself is the same.
    """

    def forward(self, x):
        if not self.training:
            return super().forward(x)
        y = F.batch_norm(x, None, None, self.weight, self.bias, training=True, eps=self.eps)
        if self.momentum:
            with torch.no_grad():
                var, mean = torch.var_mean(x, dim=(0, 2, 3), correction=0)
                self.running_mean.lerp_(mean, self.momentum)
                self.running_var.lerp_(var, self.momentum)
        return y


def batch_norm(c: int) -> BatchNorm2d:
    return BatchNorm2d(c, eps=1e-5, momentum=0.1)


class Block(nn.Module):
    """conv-bn-act-conv-bn plus a (projected, when the shape changes) shortcut, then act."""

    def __init__(self, c_in: int, c_out: int, stride: int, activation: str):
        super().__init__()
        self.act = ACTIVATIONS[activation]
        self.conv1, self.bn1 = conv3x3(c_in, c_out, stride), batch_norm(c_out)
        self.conv2, self.bn2 = conv3x3(c_out, c_out, 1), batch_norm(c_out)
        self.project = stride != 1 or c_in != c_out
        if self.project:
            self.proj_conv = nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False)
            self.proj_bn = batch_norm(c_out)

    def forward(self, x):
        y = self.act(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        shortcut = self.proj_bn(self.proj_conv(x)) if self.project else x
        return self.act(y + shortcut)


class Model(nn.Module):
    """Stem conv at full resolution, one stride-2 residual block per further width, mean pool, dense."""

    def __init__(self, widths=(16, 32, 64), activation="relu", num_classes=10, in_channels=1,
                 bn_scale_init=1.0):
        super().__init__()
        self.act = ACTIVATIONS[activation]
        self.stem_conv, self.stem_bn = conv3x3(in_channels, widths[0], 1), batch_norm(widths[0])
        self.blocks = nn.ModuleList(
            Block(c_in, c_out, 2, activation) for c_in, c_out in zip(widths[:-1], widths[1:])
        )
        self.head = nn.Linear(widths[-1], num_classes)

    def forward(self, x):  # x: (N, H, W, C), channels last like the data
        x = x.permute(0, 3, 1, 2)
        x = self.act(self.stem_bn(self.stem_conv(x)))
        for block in self.blocks:
            x = block(x)
        return self.head(x.mean(dim=(2, 3)))
