"""A DeepSpeech2-style CTC recognizer, in PyTorch. Mirrors model_jax.py line for line.

Inputs: {"inputs": (B, T, N_MELS) log-mel features, "input_paddings": (B, T), 1 = padding}; the
real frames of an utterance are a prefix. Output: logits (B, T / 4, classes); frames past an
utterance's end get the constant logits of a certain blank. Real frames' outputs do not depend on
what padded input frames hold: padded frames are zeroed before each convolution, batch-norm
statistics count real frames only, and the backward LSTM starts at each utterance's last real frame.
"""

import torch
import torch.nn.functional as F
from torch import nn

from workloads.layers_pytorch import LayerNorm, MaskedBatchNorm, blank_past_end, zero_padded

ACTIVATIONS = {"relu": F.relu, "tanh": torch.tanh}
FREQ_MASKS, MAX_FREQ_WIDTH = 2, 4  # SpecAugment: mel bands
TIME_MASKS, MAX_TIME_WIDTH = 2, 10  # SpecAugment: frames, inside the real ones


class UnmaskedLayerNorm(LayerNorm):
    """Layer norm over the last axis with the same call as `MaskedBatchNorm` (the mask is unused:
    each position is normalized on its own)."""

    def forward(self, x, mask):
        return super().forward(x)


def make_norm(kind: str, features: int) -> nn.Module:
    if kind == "batch":
        return MaskedBatchNorm(features, eps=1e-5, momentum=0.1)
    return UnmaskedLayerNorm(features, 1e-5)


def reverse_within_length(x, lengths):
    """Each utterance's first `length` frames in reverse order, the rest in place: the frame at
    t < length comes from length - 1 - t. Its own inverse."""
    t = torch.arange(x.shape[1], device=x.device)
    index = torch.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)
    return torch.gather(x, 1, index[..., None].expand(-1, -1, x.shape[-1]))


def spec_augment(x, lengths):
    """SpecAugment's masks (zeros: the features' mean) drawn from torch's global generator:
    FREQ_MASKS bands of 0..MAX_FREQ_WIDTH mel bands, TIME_MASKS spans of 0..MAX_TIME_WIDTH frames
    that lie inside each utterance's real frames."""
    batch, frames, mels = x.shape
    u = torch.rand(batch, FREQ_MASKS + TIME_MASKS, 2, device=x.device)
    f, t = torch.arange(mels, device=x.device), torch.arange(frames, device=x.device)
    masked = torch.zeros(batch, frames, mels, dtype=torch.bool, device=x.device)
    for k in range(FREQ_MASKS):
        width = torch.floor(u[:, k, 0] * (MAX_FREQ_WIDTH + 1))
        start = torch.floor(u[:, k, 1] * (mels - width + 1))
        band = (f >= start[:, None]) & (f < (start + width)[:, None])
        masked = masked | band[:, None, :]
    for k in range(FREQ_MASKS, FREQ_MASKS + TIME_MASKS):
        width = torch.minimum(torch.floor(u[:, k, 0] * (MAX_TIME_WIDTH + 1)), lengths)
        start = torch.floor(u[:, k, 1] * (lengths - width + 1))
        span = (t >= start[:, None]) & (t < (start + width)[:, None])
        masked = masked | span[:, :, None]
    return torch.where(masked, torch.zeros_like(x), x)


class BiLSTMLayer(nn.Module):
    """norm, then a bidirectional LSTM (hidden width/2 per direction, outputs concatenated); the
    backward direction runs over each utterance reversed within its real length."""

    def __init__(self, width: int, norm: str):
        super().__init__()
        self.norm = make_norm(norm, width)
        self.fwd = nn.LSTM(width, width // 2, batch_first=True)
        self.bwd = nn.LSTM(width, width // 2, batch_first=True)

    def forward(self, x, paddings, lengths):
        y = self.norm(x, 1.0 - paddings)
        forward_out, _ = self.fwd(y)
        backward_out, _ = self.bwd(reverse_within_length(y, lengths))
        return torch.cat([forward_out, reverse_within_length(backward_out, lengths)], dim=-1)


class Model(nn.Module):
    """Two 3x3 stride-2 convs over (time, mel) with norm and activation, dense to `width`,
    `num_lstm_layers` (residual) bidirectional LSTM layers, dense `width` + activation, dense to
    the classes."""

    def __init__(self, conv_channels=32, width=128, num_lstm_layers=2, activation="relu",
                 residual=True, norm="batch", specaugment=False, num_classes=29, num_mels=32):
        super().__init__()
        self.act = ACTIVATIONS[activation]
        self.residual, self.specaugment = residual, specaugment
        self.conv1 = nn.Conv2d(1, conv_channels, 3, stride=2, padding=1, bias=False)
        self.norm1 = make_norm(norm, conv_channels)
        self.conv2 = nn.Conv2d(conv_channels, conv_channels, 3, stride=2, padding=1, bias=False)
        self.norm2 = make_norm(norm, conv_channels)
        self.proj = nn.Linear(conv_channels * (num_mels // 4), width)
        self.layers = nn.ModuleList(BiLSTMLayer(width, norm) for _ in range(num_lstm_layers))
        self.hidden = nn.Linear(width, width)
        self.head = nn.Linear(width, num_classes)

    def forward(self, batch):
        x, paddings = batch["inputs"], batch["input_paddings"]
        if self.specaugment and self.training:
            x = spec_augment(x, (1.0 - paddings).sum(dim=1))
        pad2, pad4 = paddings[:, ::2], paddings[:, ::4]
        x = zero_padded(x, paddings)[:, None]  # (B, 1, T, mels)
        x = self.conv1(x).permute(0, 2, 3, 1)  # (B, T/2, mels/2, C): channels last, as in flax
        x = zero_padded(self.act(self.norm1(x, 1.0 - pad2)), pad2)
        x = self.conv2(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)  # (B, T/4, mels/4, C)
        x = self.act(self.norm2(x, 1.0 - pad4))
        x = self.proj(x.reshape(*x.shape[:2], -1))
        lengths = (1.0 - pad4).sum(dim=1).long()
        for layer in self.layers:
            y = layer(x, pad4, lengths)
            x = x + y if self.residual else y
        logits = self.head(self.act(self.hidden(x)))
        return blank_past_end(logits, pad4)
