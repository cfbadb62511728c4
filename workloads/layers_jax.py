"""Flax layers that several families' JAX models share; layers_pytorch.py mirrors it name for name.

`Attention`, `Mlp` and `LayerNorm` are the Transformer layers of every family that has them (vit,
lm, translate, conformer; `LayerNorm` also deepspeech, gnn and dlrm): a family wires them, and
the same names (`width`, `num_heads`, `mlp_dim`) mean the same things in both frameworks.
`zero_padded` and `blank_past_end` implement the speech families' padding contract
(docs/workloads/speech.md). `LayerNorm` has flax `nn.LayerNorm`'s parameters (`scale`, `bias`) and arithmetic, with its
gradient written out: autodiff's long elementwise chain through the normalization is duplicated
by XLA:CPU's fusion into every consumer of a residual stream's gradient, which made a 4-block
ViT step 3-4x slower than PyTorch's (docs/workloads/vit.md).
"""

import math
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
    """Layer norm over the last axis: (x - mean) / sqrt(biased variance + epsilon) times a learned
    `scale` (ones) plus a `bias` (zeros), its gradient written out (`normalize`)."""

    epsilon: float

    @nn.compact
    def __call__(self, x):
        scale = self.param("scale", nn.initializers.ones, (x.shape[-1],))
        bias = self.param("bias", nn.initializers.zeros, (x.shape[-1],))
        return normalize(x, self.epsilon) * scale + bias


def kernel_attention(q, k, v, mask, causal: bool, scale: float):
    """`dot_product_attention` by jax's kernel, `jax.nn.dot_product_attention` (on the CPU its XLA
    implementation: the same math as `written_out_attention`, with a grouped-heads axis)."""
    return jax.nn.dot_product_attention(q, k, v, mask=mask, scale=scale, is_causal=causal)


def written_out_attention(q, k, v, mask, causal: bool, scale: float):
    """softmax(q.k * scale) v over (batch, length, heads, head width) arrays, written out with
    einsum as `jax.nn.dot_product_attention` computes it: logits and softmax in float32, a logit
    where `mask` (bool) is False, or a key after the query (`causal`), replaced by a large
    negative number (-0.7 times the largest float32, the kernel's), the weights cast back to
    v's dtype."""
    logits = jnp.einsum("bqhd,bkhd->bhqk", q, k, preferred_element_type=jnp.float32) * scale
    if causal:
        later = jnp.tril(jnp.ones(logits.shape[-2:], dtype=bool))
        mask = later if mask is None else jnp.logical_and(mask, later)
    if mask is not None:
        logits = jnp.where(mask, logits, -0.7 * jnp.finfo(jnp.float32).max)
    weights = jax.nn.softmax(logits, axis=-1).astype(v.dtype)
    return jnp.einsum("bhqk,bkhd->bqhd", weights, v)


# The switch between the two (same outputs and gradients: tests/workloads/test_layers.py), read
# when a model is traced: benchmarks/attention_kernel.py flips it and jits a step for each value.
# Off: on the CPU the math written out was as fast as XLA's kernel on vit, translate and conformer
# and faster on lm (docs/data/attention_kernel_jax.json).
USE_KERNEL = False


def dot_product_attention(q, k, v, mask, causal: bool, scale: float):
    """The attention `Attention` computes, over (batch, length, heads, head width) arrays:
    `kernel_attention` where USE_KERNEL is set, `written_out_attention` otherwise."""
    if USE_KERNEL:
        return kernel_attention(q, k, v, mask, causal, scale)
    return written_out_attention(q, k, v, mask, causal, scale)


class Projection(nn.Module):
    """The parameters of a Dense layer width -> width (`kernel`, `bias`, initialized as flax's
    `nn.Dense` initializes them, in the same order), returned rather than applied: `Attention`
    concatenates several to project once where they share an input."""

    width: int

    @nn.compact
    def __call__(self):
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (self.width, self.width))
        return kernel, self.param("bias", nn.initializers.zeros, (self.width,))


def project(x, projections: list[tuple]):
    """x (batch, length, width) through the Dense layers `projections` ((kernel, bias) pairs), as
    one matrix product with their kernels side by side, split again per layer."""
    kernel = jnp.concatenate([k for k, _ in projections], axis=1)
    bias = jnp.concatenate([b for _, b in projections])
    y = jnp.dot(x, kernel.astype(jnp.promote_types(x.dtype, kernel.dtype))) + bias
    return jnp.split(y, len(projections), axis=-1)


class Attention(nn.Module):
    """Multi-head dot-product attention of the queries `x` (batch, queries, width) over the keys
    and values of `context` (batch, keys, width), by `dot_product_attention` above (the same math
    as layers_pytorch.py's `dot_product_attention`).

    Parameters: Dense layers `query`, `key`, `value` and `out`, each width -> width. Layers that
    share an input run as one matrix product (`project`): query, key and value for
    self-attention (`context` is `x`), key and value otherwise; on the (batch, length, width)
    activations as they come (flattened to 2-D rows, their weight gradients left XLA:CPU's YNNPACK
    fusions for plain dot calls; three products where the models before issue 25 had one or two:
    docs/performance.md, "The shared JAX attention against the models before it"). Logits are
    q.k * scale per head, with scale = 1 / (sqrt(width / num_heads) * temperature); where `mask`
    (bool, broadcastable to (batch, num_heads, queries, keys)) is False the logit is a large
    negative number, so a fully masked row attends uniformly; `causal=True` masks the keys after
    each query (queries and keys of one length). `keys_values` and `attend` split the call for
    cached decoding."""

    width: int
    num_heads: int
    temperature: float = 1.0

    def setup(self):
        self.scale = 1.0 / (math.sqrt(self.width // self.num_heads) * self.temperature)
        self.query, self.key = Projection(self.width), Projection(self.width)
        self.value, self.out = Projection(self.width), Projection(self.width)

    def heads(self, y):
        """y (batch, length, width) split into (batch, length, num_heads, head width)."""
        return y.reshape(*y.shape[:2], self.num_heads, -1)

    def keys_values(self, context):
        return tuple(self.heads(y) for y in project(context, [self.key(), self.value()]))

    def attend(self, x, k, v, mask=None, causal: bool = False):
        (q,) = project(x, [self.query()])
        return self._attend(x, self.heads(q), k, v, mask, causal)

    def _attend(self, x, q, k, v, mask, causal: bool):
        y = dot_product_attention(q, k, v, mask, causal, self.scale)
        (out,) = project(y.reshape(*x.shape[:2], -1), [self.out()])
        return out

    def __call__(self, x, context, mask=None, causal: bool = False):
        if context is x:  # self-attention: one product for query, key and value
            q, k, v = (self.heads(y) for y in project(x, [self.query(), self.key(), self.value()]))
            return self._attend(x, q, k, v, mask, causal)
        return self.attend(x, *self.keys_values(context), mask, causal)


def gelu(x):
    """Exact GELU, x * Phi(x), written as PyTorch's `F.gelu(approximate="none")` writes it:
    0.5 * x * (1 + erf(x / sqrt(2))). flax's `nn.gelu(approximate=False)` is the same function
    through erfc(-x / sqrt(2)), which XLA:CPU lowers to two polynomials and a select; its forward
    and backward take about 1.6 times this form's (benchmarks/jax_step_variants.py,
    docs/performance.md#jax-against-pytorch-where-a-step-goes)."""
    return 0.5 * x * (1.0 + jax.lax.erf(x * SQRT_HALF))


SQRT_HALF = math.sqrt(0.5)
ACTIVATIONS = {
    "gelu": gelu,  # exact
    "gelu_tanh": lambda x: nn.gelu(x, approximate=True),
    "silu": nn.silu,  # swish
    "tanh": jnp.tanh,
}


class Mlp(nn.Module):
    """The Transformer feed-forward layer on the last axis: fc2(act(fc1(x))), Dense `fc1` width ->
    mlp_dim and `fc2` mlp_dim -> width; gated (`gated=True`): fc2(act(fc1(x)) * gate(x)) with a
    third Dense `gate` width -> mlp_dim (GLU variants: SwiGLU is `silu`, GeGLU `gelu`). `activation`
    is a key of ACTIVATIONS."""

    width: int
    mlp_dim: int
    activation: str
    gated: bool = False

    @nn.compact
    def __call__(self, x):
        y = ACTIVATIONS[self.activation](nn.Dense(self.mlp_dim, name="fc1")(x))
        if self.gated:
            y = y * nn.Dense(self.mlp_dim, name="gate")(x)
        return nn.Dense(self.width, name="fc2")(y)
