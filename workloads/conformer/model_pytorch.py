"""A small Conformer (AlgoPerf's LibriSpeech Conformer, laptop scale) for CTC speech recognition,
in PyTorch. Mirrors model_jax.py line for line (same parameter names, same arithmetic); attention,
feed-forward MLP and layer norm are workloads/layers_pytorch.py's. docs/workloads/conformer.md.

Padding is exact: the outputs at real frames do not depend on what the padded input frames hold
(activations at padded frames are zeroed before every convolution, attention never looks at
padded keys, batch norm takes its statistics over real frames only), and the logits at padded
output frames are replaced by a certain blank."""

import torch
import torch.nn.functional as F
from torch import nn

from workloads.layers_pytorch import Attention, LayerNorm, MaskedBatchNorm, Mlp, blank_past_end, zero_padded

LN_EPS = 1e-5
BN_EPS = 1e-5
ACTIVATIONS = {"swish": "silu", "gelu": "gelu"}  # the config's name -> layers_pytorch.ACTIVATIONS'


def layer_norm(d: int) -> LayerNorm:
    return LayerNorm(d, LN_EPS)


class Subsampling(nn.Module):
    """Two 3x3 convolutions with stride 2 over (time, mel) with ReLU, padded frames zeroed before
    each; the (mel, channel) features of each frame flattened and projected to `d_model`."""

    def __init__(self, channels: int, n_mels: int, d_model: int):
        super().__init__()
        self.conv1 = nn.Conv2d(1, channels, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, stride=2, padding=1)
        self.dense = nn.Linear(channels * (-(-n_mels // 4)), d_model)

    def forward(self, x, paddings):  # x: (batch, time, mel), paddings: (batch, time)
        x = zero_padded(x, paddings)[:, None]  # (batch, 1, time, mel)
        x = F.relu(self.conv1(x))
        paddings = paddings[:, ::2]
        x = F.relu(self.conv2(zero_padded(x.transpose(1, 2), paddings).transpose(1, 2)))
        paddings = paddings[:, ::2]
        x = x.permute(0, 2, 3, 1)  # (batch, time, mel, channels), flax's layout
        return self.dense(x.reshape(*x.shape[:2], -1)), paddings


class DepthwiseConv(nn.Module):
    """A depthwise convolution over time ('SAME' zero padding) written as a sum of shifted
    frames: `kernel` (features, 1, kernel_size) in `nn.Conv1d`'s layout (the canonical form
    transposes it to flax's (kernel_size, 1, features)), plus a bias."""

    def __init__(self, features: int, kernel_size: int):
        super().__init__()
        self.kernel_size = kernel_size
        self.kernel = nn.Parameter(torch.empty(features, 1, kernel_size))
        self.bias = nn.Parameter(torch.empty(features))

    def forward(self, x):  # x: (batch, time, features)
        t, half = x.shape[1], self.kernel_size // 2
        padded = F.pad(x, (0, 0, half, self.kernel_size - 1 - half))
        out = self.bias
        for i in range(self.kernel_size):
            out = out + padded[:, i : i + t] * self.kernel[:, 0, i]
        return out


class ConvModule(nn.Module):
    """Layer norm, pointwise dense to 2 d_model and GLU, padded frames zeroed, depthwise conv over
    time, batch norm over real frames (or layer norm), swish, pointwise dense."""

    def __init__(self, d_model: int, kernel_size: int, norm: str):
        super().__init__()
        self.ln = layer_norm(d_model)
        self.pointwise1 = nn.Linear(d_model, 2 * d_model)
        self.depthwise = DepthwiseConv(d_model, kernel_size)
        self.batch_norm = norm == "batch_norm"
        self.norm = (MaskedBatchNorm(d_model, eps=BN_EPS, momentum=0.1) if self.batch_norm
                     else layer_norm(d_model))
        self.pointwise2 = nn.Linear(d_model, d_model)

    def forward(self, x, paddings):
        value, gate = self.pointwise1(self.ln(x)).chunk(2, dim=-1)
        x = self.depthwise(zero_padded(value * torch.sigmoid(gate), paddings))
        x = self.norm(x, 1.0 - paddings) if self.batch_norm else self.norm(x)
        return self.pointwise2(F.silu(x))


class ConformerBlock(nn.Module):
    """x + ffn1(ln)/2, x + attention(ln), x + conv, x + ffn2(ln)/2, layer norm `ln`. The
    feed-forward MLPs are Dense to `mlp_dim`, the activation, Dense back; attention is
    self-attention with logits q.k / (sqrt(head_dim) * temperature) and padded frames masked out
    as keys."""

    def __init__(self, d_model, num_heads, mlp_dim, kernel_size, norm, ffn_activation, temperature):
        super().__init__()
        activation = ACTIVATIONS[ffn_activation]
        self.ffn1_norm, self.ffn1 = layer_norm(d_model), Mlp(d_model, mlp_dim, activation)
        self.attn_norm, self.attn = layer_norm(d_model), Attention(d_model, num_heads, temperature)
        self.conv = ConvModule(d_model, kernel_size, norm)
        self.ffn2_norm, self.ffn2 = layer_norm(d_model), Mlp(d_model, mlp_dim, activation)
        self.ln = layer_norm(d_model)

    def forward(self, x, paddings):
        x = x + 0.5 * self.ffn1(self.ffn1_norm(x))
        y = self.attn_norm(x)
        x = x + self.attn(y, y, paddings[:, None, None, :] <= 0)
        x = x + self.conv(x, paddings)
        x = x + 0.5 * self.ffn2(self.ffn2_norm(x))
        return self.ln(x)


class Model(nn.Module):
    """Conv subsampling (4x in time), `num_layers` Conformer blocks of width `d_model`, a dense to
    the classes; logits (batch, time / 4, num_classes), certain blanks at padded frames."""

    def __init__(self, num_classes=29, n_mels=32, subsampling_channels=32, d_model=96, num_heads=4,
                 num_layers=3, ffn_hidden=384, kernel_size=15, conv_norm="batch_norm",
                 ffn_activation="swish", attention_temp=1.0):
        super().__init__()
        self.subsampling = Subsampling(subsampling_channels, n_mels, d_model)
        self.blocks = nn.ModuleList(
            ConformerBlock(d_model, num_heads, ffn_hidden, kernel_size, conv_norm, ffn_activation,
                           attention_temp)
            for _ in range(num_layers)
        )
        self.head = nn.Linear(d_model, num_classes)

    def forward(self, inputs):  # {"inputs": (batch, time, mel), "input_paddings": (batch, time)}
        x, paddings = self.subsampling(inputs["inputs"], inputs["input_paddings"])
        for block in self.blocks:
            x = block(x, paddings)
        logits = self.head(x)
        return blank_past_end(logits, paddings)
