"""An encoder-decoder Transformer for grapheme-to-phoneme, in PyTorch. Mirrors model_jax.py line
for line (the same parameter names, the same operations in the same order); attention, MLP and
layer norm are workloads/layers_pytorch.py's.

`forward` is the teacher-forced pass (training): logits (batch, target positions, vocab) from the
source ids and the decoder inputs (BOS + the target shifted right). `predict` is greedy decoding
for evaluation: from the source ids alone, a fixed `tgt_len` steps, each feeding the previous
step's argmax back in, with cached keys and values; it returns the logits of every step, whose
argmax is the decoded sequence (what comes after the first EOS is ignored by the metric).
"""

import torch
from torch import nn

from workloads.layers_pytorch import Attention, LayerNorm, Mlp

PAD, BOS = 0, 1


def layer_norm(width: int) -> LayerNorm:
    return LayerNorm(width, 1e-6)


def mlp(width: int, mlp_dim: int, glu_tanh: bool) -> Mlp:
    """fc2(gelu(fc1(x))), or with `glu_tanh` fc2(tanh(fc1(x)) * gate(x))."""
    return Mlp(width, mlp_dim, "tanh" if glu_tanh else "gelu", gated=glu_tanh)


def residual(x, norm, fn, post_ln: bool):
    """Pre-LN x + fn(norm(x)), or post-LN norm(x + fn(x))."""
    return norm(x + fn(x)) if post_ln else x + fn(norm(x))


class EncoderLayer(nn.Module):
    def __init__(self, width, num_heads, mlp_dim, post_ln, temperature, glu_tanh):
        super().__init__()
        self.post_ln = post_ln
        self.ln_attn, self.attn = layer_norm(width), Attention(width, num_heads, temperature)
        self.ln_mlp, self.mlp = layer_norm(width), mlp(width, mlp_dim, glu_tanh)

    def forward(self, x, mask):
        x = residual(x, self.ln_attn, lambda h: self.attn(h, h, mask), self.post_ln)
        return residual(x, self.ln_mlp, self.mlp, self.post_ln)


class DecoderLayer(nn.Module):
    def __init__(self, width, num_heads, mlp_dim, post_ln, temperature, glu_tanh):
        super().__init__()
        self.post_ln = post_ln
        self.ln_self, self.self_attn = layer_norm(width), Attention(width, num_heads, temperature)
        self.ln_cross, self.cross_attn = layer_norm(width), Attention(width, num_heads, temperature)
        self.ln_mlp, self.mlp = layer_norm(width), mlp(width, mlp_dim, glu_tanh)

    def forward(self, x, encoded, src_mask):
        x = residual(x, self.ln_self, lambda h: self.self_attn(h, h, causal=True), self.post_ln)
        x = residual(x, self.ln_cross, lambda h: self.cross_attn(h, encoded, src_mask), self.post_ln)
        return residual(x, self.ln_mlp, self.mlp, self.post_ln)

    def step(self, x, t, cache, cross_kv, src_mask):
        """Decoding position `t`: x (B, 1, width); `cache` holds the self-attention keys and
        values (B, tgt_len, heads, head dim) of positions < t (zeros after). Returns the output
        and the cache with position t written; attention masks the positions after t."""
        new_cache = []

        def self_attend(h):
            k, v = self.self_attn.keys_values(h)
            slot = (torch.arange(cache[0].shape[1], device=h.device) == t)[:, None, None]
            kv = (torch.where(slot, k, cache[0]), torch.where(slot, v, cache[1]))
            new_cache.append(kv)
            return self.self_attn.attend(h, *kv, torch.arange(cache[0].shape[1], device=h.device) <= t)

        x = residual(x, self.ln_self, self_attend, self.post_ln)
        x = residual(x, self.ln_cross, lambda h: self.cross_attn.attend(h, *cross_kv, src_mask),
                     self.post_ln)
        return residual(x, self.ln_mlp, self.mlp, self.post_ln), new_cache[0]


class Model(nn.Module):
    """Token + learned position embeddings, `enc_layers` encoder and `dec_layers` decoder layers
    (pre-LN with a final norm on each stack, or post-LN), a dense head over the target vocab."""

    def __init__(self, src_vocab=30, tgt_vocab=42, src_len=14, tgt_len=15, width=64, heads=4,
                 hidden=256, enc_layers=2, dec_layers=2, post_ln=False, attention_temp=1.0,
                 glu_tanh=False):
        super().__init__()
        self.post_ln, self.tgt_len, self.tgt_vocab = post_ln, tgt_len, tgt_vocab
        self.width, self.heads = width, heads
        args = (width, heads, hidden, post_ln, attention_temp, glu_tanh)
        self.src_embed, self.src_pos = nn.Embedding(src_vocab, width), nn.Embedding(src_len, width)
        self.tgt_embed, self.tgt_pos = nn.Embedding(tgt_vocab, width), nn.Embedding(tgt_len, width)
        self.encoder = nn.ModuleList(EncoderLayer(*args) for _ in range(enc_layers))
        self.decoder = nn.ModuleList(DecoderLayer(*args) for _ in range(dec_layers))
        if not post_ln:
            self.enc_norm, self.dec_norm = layer_norm(width), layer_norm(width)
        self.head = nn.Linear(width, tgt_vocab)

    def encode(self, src):
        mask = (src != PAD)[:, None, None, :]  # attend to real source symbols only
        x = self.src_embed(src) + self.src_pos.weight[: src.shape[1]]
        for layer in self.encoder:
            x = layer(x, mask)
        return (x if self.post_ln else self.enc_norm(x)), mask

    def logits(self, x):
        return self.head(x if self.post_ln else self.dec_norm(x))

    def forward(self, inputs):  # {"inputs": (B, src_len), "decoder_inputs": (B, tgt_len)} int
        encoded, src_mask = self.encode(inputs["inputs"].long())
        tgt = inputs["decoder_inputs"].long()
        length = tgt.shape[1]
        x = self.tgt_embed(tgt) + self.tgt_pos.weight[:length]
        for layer in self.decoder:
            x = layer(x, encoded, src_mask)
        return self.logits(x)

    def predict(self, inputs):
        """Greedy decoding: the logits (B, tgt_len, tgt_vocab) of `tgt_len` steps from BOS."""
        encoded, src_mask = self.encode(inputs["inputs"].long())
        cross_kv = [layer.cross_attn.keys_values(encoded) for layer in self.decoder]
        batch, heads = encoded.shape[0], self.heads
        empty = encoded.new_zeros((batch, self.tgt_len, heads, self.width // heads))
        caches = [(empty, empty) for _ in self.decoder]
        token = torch.full((batch, 1), BOS, dtype=torch.long, device=encoded.device)
        out = encoded.new_zeros((batch, self.tgt_len, self.tgt_vocab))
        positions = self.tgt_pos.weight

        def body(model, carry):  # one step; a lifted while loop (flax), PyTorch loops in Python
            t, token, caches, out = carry
            x = model.tgt_embed(token) + positions[t]
            caches = list(caches)
            for i, layer in enumerate(model.decoder):
                x, caches[i] = layer.step(x, t, caches[i], cross_kv[i], src_mask)
            logits = model.logits(x)
            out = torch.where((torch.arange(self.tgt_len, device=x.device) == t)[:, None], logits, out)
            return t + 1, logits.argmax(dim=-1), caches, out

        carry = (0, token, caches, out)
        while carry[0] < self.tgt_len:
            carry = body(self, carry)
        return carry[3]
