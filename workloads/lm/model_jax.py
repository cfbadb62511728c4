"""A nanoGPT-style decoder-only Transformer for character ids, in flax. Mirrors model_pytorch.py
line for line (same parameter names, same arithmetic); attention, MLP and layer norm are
workloads/layers_jax.py's. docs/workloads/lm.md."""

import flax.linen as nn
import jax.numpy as jnp

from workloads.layers_jax import Attention, LayerNorm, Mlp

LN_EPS = 1e-5


class Block(nn.Module):
    """Causal self-attention and MLP (GELU, or SwiGLU), each residual. Pre-LN: x + attn(ln1(x)),
    then x + mlp(ln2(x)). Post-LN: ln1(x + attn(x)), then ln2(x + mlp(x))."""

    d_model: int
    num_heads: int
    mlp_hidden: int
    swiglu: bool
    post_ln: bool
    temperature: float

    def setup(self):
        self.ln1, self.ln2 = LayerNorm(LN_EPS), LayerNorm(LN_EPS)
        self.attn = Attention(self.d_model, self.num_heads, self.temperature)
        self.mlp = Mlp(self.d_model, self.mlp_hidden, "silu" if self.swiglu else "gelu", gated=self.swiglu)

    def self_attention(self, x, t: int):  # x: (batch * positions, d_model), t positions per sequence
        y = x.reshape(-1, t, x.shape[-1])
        return self.attn(y, y, causal=True).reshape(x.shape)

    def __call__(self, x, t: int):
        if self.post_ln:
            x = self.ln1(x + self.self_attention(x, t))
            return self.ln2(x + self.mlp(x))
        x = x + self.self_attention(self.ln1(x), t)
        return x + self.mlp(self.ln2(x))


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
            x = LayerNorm(LN_EPS, name="ln_f")(x)
        return nn.Dense(self.vocab_size, name="head")(x).reshape(b, t, -1)  # (batch, positions, vocab)
