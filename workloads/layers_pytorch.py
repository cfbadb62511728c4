"""PyTorch layers that several families' models share.

`zero_padded` and `blank_past_end` implement the speech families' padding contract
(docs/workloads/speech.md). `MaskedBatchNorm` is batch norm over padded sequences (the speech families): its training
statistics count real positions only, as flax's `BatchNorm(use_fast_variance=False)(x, mask=...)`
computes them. It is a `BatchNorm1d`, so the harness's `model_fn` sets its momentum (whether the
running averages move) and the Schedule-Free baseline's re-estimation finds it; the harness does
not convert it to `SyncBatchNorm` (which takes no mask) on GPUs, so under data parallelism each
rank normalizes with its own shard's statistics.
"""

import torch
from torch import nn

from workloads.data.speech import BLANK, PADDED_CHARACTER_LOGIT


def zero_padded(x, paddings):
    """x (batch, time, ...) with the frames where `paddings` (batch, time) is 1 set to zero."""
    pad = paddings.reshape(*paddings.shape, *[1] * (x.ndim - 2)) > 0
    return torch.where(pad, torch.zeros((), dtype=x.dtype, device=x.device), x)


def blank_past_end(logits, paddings):
    """logits (batch, frames, classes) with every padded frame (`paddings` 1) a certain blank:
    logit 0 for the blank, PADDED_CHARACTER_LOGIT for every character."""
    blank = torch.full_like(logits[0, 0], PADDED_CHARACTER_LOGIT)
    blank[BLANK] = 0.0
    return torch.where(paddings[..., None] > 0, blank, logits)


class MaskedBatchNorm(nn.BatchNorm1d):
    """Batch norm over the last axis (features) whose training statistics are the mean and the
    biased variance over the real positions only (`mask` 1, broadcast over the trailing axes it
    lacks); the running averages move towards those (flax's rule: the harness's momentum 0.1 is
    flax's 0.9). In eval mode the running averages normalize every position."""

    def forward(self, x, mask):
        if not self.training:
            return (x - self.running_mean) * torch.rsqrt(self.running_var + self.eps) * self.weight + self.bias
        m = mask.reshape(*mask.shape, *[1] * (x.ndim - mask.ndim)).to(x.dtype)
        dims = tuple(range(x.ndim - 1))
        count = (m * torch.ones_like(x[..., :1])).sum()
        mean = (x * m).sum(dims) / count
        var = (((x - mean) * m) ** 2).sum(dims) / count
        if self.momentum:
            with torch.no_grad():
                self.running_mean.lerp_(mean.detach(), self.momentum)
                self.running_var.lerp_(var.detach(), self.momentum)
        return (x - mean) * torch.rsqrt(var + self.eps) * self.weight + self.bias
