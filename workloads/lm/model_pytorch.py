"""A nanoGPT-style decoder-only Transformer for character ids, in PyTorch. Mirrors model_jax.py
line for line (same parameter names, same arithmetic); attention, MLP and layer norm are
workloads/layers_pytorch.py's. docs/workloads/lm.md."""

import torch
from torch import nn

from workloads.layers_pytorch import Attention, LayerNorm, Mlp

LN_EPS = 1e-5


class Block(nn.Module):
    """Causal self-attention and MLP (GELU, or SwiGLU), each residual. Pre-LN: x + attn(ln1(x)),
    then x + mlp(ln2(x)). Post-LN: ln1(x + attn(x)), then ln2(x + mlp(x))."""

    def __init__(self, d_model, num_heads, mlp_hidden, swiglu, post_ln, temperature):
        super().__init__()
        self.post_ln = post_ln
        self.ln1, self.ln2 = LayerNorm(d_model, LN_EPS), LayerNorm(d_model, LN_EPS)
        self.attn = Attention(d_model, num_heads, temperature)
        self.mlp = Mlp(d_model, mlp_hidden, "silu" if swiglu else "gelu", gated=swiglu)

    def self_attention(self, x, t: int):  # x: (batch * positions, d_model), t positions per sequence
        y = x.reshape(-1, t, x.shape[-1])
        return self.attn(y, y, causal=True).reshape(x.shape)

    def forward(self, x, t: int):
        if self.post_ln:
            x = self.ln1(x + self.self_attention(x, t))
            return self.ln2(x + self.mlp(x))
        x = x + self.self_attention(self.ln1(x), t)
        return x + self.mlp(self.ln2(x))


class Model(nn.Module):
    """Token + learned position embeddings, `num_layers` blocks, a final layer norm (pre-LN only:
    post-LN blocks already end in one), an untied linear head to the vocabulary."""

    def __init__(self, vocab_size=96, seq_len=128, d_model=128, num_heads=4, num_layers=2,
                 mlp_hidden=512, swiglu=False, post_ln=False, attention_temperature=1.0):
        super().__init__()
        self.token_embed = nn.Embedding(vocab_size, d_model)
        self.pos_embed = nn.Embedding(seq_len, d_model)
        self.blocks = nn.ModuleList(
            Block(d_model, num_heads, mlp_hidden, swiglu, post_ln, attention_temperature)
            for _ in range(num_layers)
        )
        self.ln_f = None if post_ln else LayerNorm(d_model, LN_EPS)
        self.head = nn.Linear(d_model, vocab_size)

    def forward(self, ids):  # ids: (batch, positions) int
        b, t = ids.shape
        positions = torch.arange(t, device=ids.device)
        x = self.token_embed(ids.long()) + self.pos_embed(positions)
        x = x.reshape(b * t, -1)  # dense layers on 2-D activations (XLA's fast matmul path)
        for block in self.blocks:
            x = block(x, t)
        if self.ln_f is not None:
            x = self.ln_f(x)
        return self.head(x).reshape(b, t, -1)  # (batch, positions, vocab_size)
