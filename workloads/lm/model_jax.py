"""A nanoGPT-style decoder-only Transformer for character ids, in flax. Mirrors model_pytorch.py
line for line (same parameter names, same arithmetic). docs/workloads/lm.md."""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

LN_EPS = 1e-5


def layer_norm(name: str) -> nn.LayerNorm:
    return nn.LayerNorm(epsilon=LN_EPS, name=name)


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention over earlier positions only: logits q.k * scale, scale =
    1 / (sqrt(head_dim) * temperature), positions after the query masked out."""

    d_model: int
    num_heads: int
    temperature: float

    @nn.compact
    def __call__(self, x, t: int):  # x: (batch * positions, d_model), t positions per sequence
        d = x.shape[-1]
        scale = 1.0 / (math.sqrt(d // self.num_heads) * self.temperature)
        qkv = nn.Dense(3 * self.d_model, name="qkv")(x).reshape(-1, t, 3, self.num_heads, d // self.num_heads)
        q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
        logits = jnp.einsum("bqhd,bkhd->bhqk", q, k) * scale
        causal = jnp.tril(jnp.ones((t, t), dtype=bool))
        logits = jnp.where(causal, logits, jnp.finfo(logits.dtype).min)
        weights = jax.nn.softmax(logits, axis=-1)
        out = jnp.einsum("bhqk,bkhd->bqhd", weights, v).reshape(-1, d)
        return nn.Dense(self.d_model, name="proj")(out)


class MLP(nn.Module):
    """GELU (exact, erf form): fc to `hidden`, GELU, proj back. SwiGLU: fc to 2 x `hidden`, the
    first half's SiLU times the second half, proj back."""

    d_model: int
    hidden: int
    swiglu: bool

    @nn.compact
    def __call__(self, x):
        h = nn.Dense(2 * self.hidden if self.swiglu else self.hidden, name="fc")(x)
        if self.swiglu:
            gate, value = jnp.split(h, 2, axis=-1)
            h = nn.silu(gate) * value
        else:
            h = nn.gelu(h, approximate=False)
        return nn.Dense(self.d_model, name="proj")(h)


class Block(nn.Module):
    """Pre-LN: x + attn(ln1(x)), then x + mlp(ln2(x)). Post-LN: ln1(x + attn(x)), then
    ln2(x + mlp(x))."""

    d_model: int
    num_heads: int
    mlp_hidden: int
    swiglu: bool
    post_ln: bool
    temperature: float

    @nn.compact
    def __call__(self, x, t: int):
        ln1, ln2 = layer_norm("ln1"), layer_norm("ln2")
        attn = CausalSelfAttention(self.d_model, self.num_heads, self.temperature, name="attn")
        mlp = MLP(self.d_model, self.mlp_hidden, self.swiglu, name="mlp")
        if self.post_ln:
            x = ln1(x + attn(x, t))
            return ln2(x + mlp(x))
        x = x + attn(ln1(x), t)
        return x + mlp(ln2(x))


class Model(nn.Module):
    """Token + learned position embeddings, `num_layers` blocks, a final layer norm (pre-LN only:
    post-LN blocks already end in one), an untied linear head to the vocabulary."""

    vocab_size: int = 96
    seq_len: int = 128
    d_model: int = 128
    num_heads: int = 4
    num_layers: int = 2
    mlp_hidden: int = 512
    swiglu: bool = False
    post_ln: bool = False
    attention_temperature: float = 1.0

    @nn.compact
    def __call__(self, ids, train: bool):  # ids: (batch, positions) int
        b, t = ids.shape
        positions = jnp.arange(t)
        x = (nn.Embed(self.vocab_size, self.d_model, name="token_embed")(ids)
             + nn.Embed(self.seq_len, self.d_model, name="pos_embed")(positions))
        x = x.reshape(b * t, -1)  # dense layers on 2-D activations (XLA's fast matmul path)
        for i in range(self.num_layers):
            x = Block(self.d_model, self.num_heads, self.mlp_hidden, self.swiglu, self.post_ln,
                      self.attention_temperature, name=f"blocks_{i}")(x, t)
        if not self.post_ln:
            x = layer_norm("ln_f")(x)
        return nn.Dense(self.vocab_size, name="head")(x).reshape(b, t, -1)  # (batch, positions, vocab)
