"""A nanoGPT-style decoder-only Transformer for character ids, in PyTorch. Mirrors model_jax.py
line for line (same parameter names, same arithmetic). docs/workloads/lm.md."""

import math

import torch
import torch.nn.functional as F
from torch import nn

LN_EPS = 1e-5


def layer_norm(d: int) -> nn.LayerNorm:
    return nn.LayerNorm(d, eps=LN_EPS)


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention over earlier positions only: logits q.k * scale, scale =
    1 / (sqrt(head_dim) * temperature), positions after the query masked out."""

    def __init__(self, d_model: int, num_heads: int, temperature: float):
        super().__init__()
        self.num_heads, self.scale = num_heads, 1.0 / (math.sqrt(d_model // num_heads) * temperature)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)

    def forward(self, x, t: int):  # x: (batch * positions, d_model), t positions per sequence
        d = x.shape[-1]
        q, k, v = self.qkv(x).reshape(-1, t, 3, self.num_heads, d // self.num_heads).unbind(2)
        logits = torch.einsum("bqhd,bkhd->bhqk", q, k) * self.scale
        causal = torch.ones(t, t, dtype=torch.bool, device=x.device).tril()
        logits = logits.masked_fill(~causal, torch.finfo(logits.dtype).min)
        weights = torch.softmax(logits, dim=-1)
        out = torch.einsum("bhqk,bkhd->bqhd", weights, v).reshape(-1, d)
        return self.proj(out)


class MLP(nn.Module):
    """GELU (exact, erf form): fc to `hidden`, GELU, proj back. SwiGLU: fc to 2 x `hidden`, the
    first half's SiLU times the second half, proj back."""

    def __init__(self, d_model: int, hidden: int, swiglu: bool):
        super().__init__()
        self.swiglu = swiglu
        self.fc = nn.Linear(d_model, 2 * hidden if swiglu else hidden)
        self.proj = nn.Linear(hidden, d_model)

    def forward(self, x):
        h = self.fc(x)
        if self.swiglu:
            gate, value = h.chunk(2, dim=-1)
            h = F.silu(gate) * value
        else:
            h = F.gelu(h, approximate="none")
        return self.proj(h)


class Block(nn.Module):
    """Pre-LN: x + attn(ln1(x)), then x + mlp(ln2(x)). Post-LN: ln1(x + attn(x)), then
    ln2(x + mlp(x))."""

    def __init__(self, d_model, num_heads, mlp_hidden, swiglu, post_ln, temperature):
        super().__init__()
        self.post_ln = post_ln
        self.ln1, self.ln2 = layer_norm(d_model), layer_norm(d_model)
        self.attn = CausalSelfAttention(d_model, num_heads, temperature)
        self.mlp = MLP(d_model, mlp_hidden, swiglu)

    def forward(self, x, t: int):
        if self.post_ln:
            x = self.ln1(x + self.attn(x, t))
            return self.ln2(x + self.mlp(x))
        x = x + self.attn(self.ln1(x), t)
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
        self.ln_f = None if post_ln else layer_norm(d_model)
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
