"""PyTorch layers that several families' models share; layers_jax.py mirrors it name for name.

`Attention`, `Mlp` and `LayerNorm` are the Transformer layers of every family that has them (vit,
lm, translate, conformer; `LayerNorm` also deepspeech, gnn and dlrm): a family wires them, and
the same names (`width`, `num_heads`, `mlp_dim`) mean the same things in both frameworks.
`zero_padded` and `blank_past_end` implement the speech families' padding contract
(docs/workloads/speech.md). `MaskedBatchNorm` is batch norm over padded sequences (the speech families): its training
statistics count real positions only, as flax's `BatchNorm(use_fast_variance=False)(x, mask=...)`
computes them. It is a `BatchNorm1d`, so the harness's `model_fn` sets its momentum (whether the
running averages move) and the Schedule-Free baseline's re-estimation finds it; the harness does
not convert it to `SyncBatchNorm` (which takes no mask) on GPUs, so under data parallelism each
rank normalizes with its own shard's statistics.
"""

import math

import torch
import torch.nn.functional as F
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


class LayerNorm(nn.LayerNorm):
    """torch's layer norm over the last axis (`width` features): (x - mean) / sqrt(biased variance
    + epsilon) times a learned scale (ones; `weight` here, canonical `scale`) plus a bias (zeros)."""

    def __init__(self, width: int, epsilon: float):
        super().__init__(width, eps=epsilon)


def written_out_attention(q, k, v, mask, causal: bool, scale: float):
    """softmax(q k^T * scale + mask) v over (batch, heads, length, head width) tensors, the logits
    in memory; `mask` additive (or None), `causal` masks the keys after each query."""
    logits = (q @ k.transpose(-2, -1)) * scale
    if causal:
        n, m = logits.shape[-2:]
        later = torch.ones(n, m, dtype=torch.bool, device=q.device).triu(1)
        logits = logits.masked_fill(later, torch.finfo(q.dtype).min)
    if mask is not None:
        logits = logits + mask
    return torch.softmax(logits, dim=-1) @ v


def dot_product_attention(q, k, v, mask, causal: bool, scale: float):
    """The attention `Attention` computes: torch's fused kernel (`scaled_dot_product_attention`)
    for causal attention without a mask (lm, translate's decoder), which skips the masked half of
    the logits, and `written_out_attention` for the rest, where the kernel was slower on the CPU
    (vit's and translate's encoder's short sequences). Measured side by side in one process, all
    calls by the kernel against all written out (benchmarks/attention_kernel.py,
    docs/data/attention_kernel.json)."""
    if causal and mask is None:
        return F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=scale)
    return written_out_attention(q, k, v, mask, causal, scale)


class Attention(nn.Module):
    """Multi-head dot-product attention of the queries `x` (batch, queries, width) over the keys
    and values of `context` (batch, keys, width), by `dot_product_attention` below (the same math
    as `jax.nn.dot_product_attention` in layers_jax.py).

    Parameters: Dense layers `query`, `key`, `value` and `out`, each width -> width (the Dense
    layers run on 2-D rows, XLA's fast matmul path). Logits are q.k * scale per head, with scale
    = 1 / (sqrt(width / num_heads) * temperature); where `mask` (bool, broadcastable to (batch,
    num_heads, queries, keys)) is False the logit is the dtype's minimum, so a fully masked row
    attends uniformly; `causal=True` masks the keys after each query (queries and keys of one
    length). `keys_values` and `attend` split the call for cached decoding."""

    def __init__(self, width: int, num_heads: int, temperature: float = 1.0):
        super().__init__()
        self.num_heads, self.scale = num_heads, 1.0 / (math.sqrt(width // num_heads) * temperature)
        self.query, self.key = nn.Linear(width, width), nn.Linear(width, width)
        self.value, self.out = nn.Linear(width, width), nn.Linear(width, width)

    def heads(self, dense: nn.Linear, x):
        """dense(x) for x (batch, length, width), split into (batch, length, num_heads, head width)."""
        b, length, _ = x.shape
        return dense(x.reshape(b * length, -1)).reshape(b, length, self.num_heads, -1)

    def keys_values(self, context):
        return self.heads(self.key, context), self.heads(self.value, context)

    def attend(self, x, k, v, mask=None, causal: bool = False):
        q = self.heads(self.query, x)
        if mask is not None:  # additive: a fully masked row stays uniform (a boolean mask gives 0)
            mask = torch.where(mask, 0.0, torch.finfo(q.dtype).min).to(q.dtype)
            mask = mask.reshape((1,) * (4 - mask.dim()) + tuple(mask.shape))  # the kernel wants 4-D
        y = dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                                  mask, causal, self.scale)
        b, length = x.shape[:2]
        return self.out(y.transpose(1, 2).reshape(b * length, -1)).reshape(b, length, -1)

    def forward(self, x, context, mask=None, causal: bool = False):
        return self.attend(x, *self.keys_values(context), mask, causal)


ACTIVATIONS = {
    "gelu": lambda x: F.gelu(x, approximate="none"),  # exact, erf form
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "silu": F.silu,  # swish
    "tanh": torch.tanh,
}


class Mlp(nn.Module):
    """The Transformer feed-forward layer on the last axis: fc2(act(fc1(x))), Dense `fc1` width ->
    mlp_dim and `fc2` mlp_dim -> width; gated (`gated=True`): fc2(act(fc1(x)) * gate(x)) with a
    third Dense `gate` width -> mlp_dim (GLU variants: SwiGLU is `silu`, GeGLU `gelu`). `activation`
    is a key of ACTIVATIONS."""

    def __init__(self, width: int, mlp_dim: int, activation: str, gated: bool = False):
        super().__init__()
        self.act = ACTIVATIONS[activation]
        self.fc1 = nn.Linear(width, mlp_dim)
        self.gate = nn.Linear(width, mlp_dim) if gated else None
        self.fc2 = nn.Linear(mlp_dim, width)

    def forward(self, x):
        y = self.act(self.fc1(x))
        if self.gate is not None:
            y = y * self.gate(x)
        return self.fc2(y)
