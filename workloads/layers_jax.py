"""Flax layers that several families' JAX models share, where flax's own is slow on the CPU.

`zero_padded` and `blank_past_end` implement the speech families' padding contract
(docs/workloads/speech.md). `LayerNorm` has flax `nn.LayerNorm`'s parameters (`scale`, `bias`) and arithmetic, with its
gradient written out: autodiff's long elementwise chain through the normalization is duplicated
by XLA:CPU's fusion into every consumer of a residual stream's gradient, which made a 4-block
ViT step 3-4x slower than PyTorch's (docs/workloads/vit.md).
"""

from functools import partial

import flax.linen as nn
import jax
import jax.numpy as jnp

from workloads.data.speech import BLANK, PADDED_CHARACTER_LOGIT


def zero_padded(x, paddings):
    """x (batch, time, ...) with the frames where `paddings` (batch, time) is 1 set to zero."""
    pad = paddings.reshape(*paddings.shape, *[1] * (x.ndim - 2)) > 0
    return jnp.where(pad, jnp.zeros((), x.dtype), x)


def blank_past_end(logits, paddings):
    """logits (batch, frames, classes) with every padded frame (`paddings` 1) a certain blank:
    logit 0 for the blank, PADDED_CHARACTER_LOGIT for every character."""
    blank = jnp.full((logits.shape[-1],), PADDED_CHARACTER_LOGIT, logits.dtype).at[BLANK].set(0.0)
    return jnp.where(paddings[..., None] > 0, blank, logits)


@partial(jax.custom_vjp, nondiff_argnums=(1,))
def normalize(x, epsilon: float):
    """(x - mean) / sqrt(var + epsilon) over the last axis (the biased variance)."""
    return _normalize_fwd(x, epsilon)[0]


def _normalize_fwd(x, epsilon):
    centered = x - x.mean(-1, keepdims=True)
    rstd = jax.lax.rsqrt((centered * centered).mean(-1, keepdims=True) + epsilon)
    return centered * rstd, (centered * rstd, rstd)


def _normalize_bwd(epsilon, saved, g):
    """The textbook gradient of the normalization (what autodiff computes, in fewer operations)."""
    xhat, rstd = saved
    return (rstd * (g - g.mean(-1, keepdims=True) - xhat * (g * xhat).mean(-1, keepdims=True)),)


normalize.defvjp(_normalize_fwd, _normalize_bwd)


class LayerNorm(nn.Module):
    """Layer norm over the last axis with a learned scale (ones) and bias (zeros)."""

    epsilon: float = 1e-6

    @nn.compact
    def __call__(self, x):
        scale = self.param("scale", nn.initializers.ones, (x.shape[-1],))
        bias = self.param("bias", nn.initializers.zeros, (x.shape[-1],))
        return normalize(x, self.epsilon) * scale + bias
