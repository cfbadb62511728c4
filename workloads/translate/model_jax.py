"""An encoder-decoder Transformer for grapheme-to-phoneme, in flax. Mirrors model_pytorch.py line
for line (the same parameter names, the same operations in the same order).

`__call__` is the teacher-forced pass (training): logits (batch, target positions, vocab) from the
source ids and the decoder inputs (BOS + the target shifted right). `predict` (called with
`apply(..., method="predict")`) is greedy decoding for evaluation: from the source ids alone, a
fixed `tgt_len` steps (a lifted `nn.while_loop`, so it compiles once), each feeding the previous
step's argmax back in, with a fixed-size cache of keys and values; it returns the logits of every step, whose argmax is the decoded sequence (what comes
after the first EOS is ignored by the metric). Modules use `setup` so that both methods share them.
Attention, MLP and layer norm are workloads/layers_jax.py's.
"""

import flax.linen as nn
import jax.numpy as jnp

from workloads.layers_jax import Attention, LayerNorm, Mlp

PAD, BOS = 0, 1


def layer_norm() -> LayerNorm:
    return LayerNorm(1e-6)


def mlp(width: int, mlp_dim: int, glu_tanh: bool) -> Mlp:
    """fc2(gelu(fc1(x))), or with `glu_tanh` fc2(tanh(fc1(x)) * gate(x))."""
    return Mlp(width, mlp_dim, "tanh" if glu_tanh else "gelu", gated=glu_tanh)


def residual(x, norm, fn, post_ln: bool):
    """Pre-LN x + fn(norm(x)), or post-LN norm(x + fn(x))."""
    return norm(x + fn(x)) if post_ln else x + fn(norm(x))


class EncoderLayer(nn.Module):
    width: int
    num_heads: int
    mlp_dim: int
    post_ln: bool
    temperature: float
    glu_tanh: bool

    def setup(self):
        self.ln_attn, self.attn = layer_norm(), Attention(self.width, self.num_heads, self.temperature)
        self.ln_mlp, self.mlp = layer_norm(), mlp(self.width, self.mlp_dim, self.glu_tanh)

    def __call__(self, x, mask):
        x = residual(x, self.ln_attn, lambda h: self.attn(h, h, mask), self.post_ln)
        return residual(x, self.ln_mlp, self.mlp, self.post_ln)


class DecoderLayer(nn.Module):
    width: int
    num_heads: int
    mlp_dim: int
    post_ln: bool
    temperature: float
    glu_tanh: bool

    def setup(self):
        self.ln_self, self.self_attn = layer_norm(), Attention(self.width, self.num_heads, self.temperature)
        self.ln_cross, self.cross_attn = layer_norm(), Attention(self.width, self.num_heads, self.temperature)
        self.ln_mlp, self.mlp = layer_norm(), mlp(self.width, self.mlp_dim, self.glu_tanh)

    def __call__(self, x, encoded, src_mask):
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
            slot = (jnp.arange(cache[0].shape[1]) == t)[:, None, None]
            kv = (jnp.where(slot, k, cache[0]), jnp.where(slot, v, cache[1]))
            new_cache.append(kv)
            return self.self_attn.attend(h, *kv, jnp.arange(cache[0].shape[1]) <= t)

        x = residual(x, self.ln_self, self_attend, self.post_ln)
        x = residual(x, self.ln_cross, lambda h: self.cross_attn.attend(h, *cross_kv, src_mask),
                     self.post_ln)
        return residual(x, self.ln_mlp, self.mlp, self.post_ln), new_cache[0]


class Model(nn.Module):
    """Token + learned position embeddings, `enc_layers` encoder and `dec_layers` decoder layers
    (pre-LN with a final norm on each stack, or post-LN), a dense head over the target vocab."""

    src_vocab: int = 30
    tgt_vocab: int = 42
    src_len: int = 14
    tgt_len: int = 15
    width: int = 64
    heads: int = 4
    hidden: int = 256
    enc_layers: int = 2
    dec_layers: int = 2
    post_ln: bool = False
    attention_temp: float = 1.0
    glu_tanh: bool = False

    def setup(self):
        args = (self.width, self.heads, self.hidden, self.post_ln, self.attention_temp, self.glu_tanh)
        self.src_embed, self.src_pos = nn.Embed(self.src_vocab, self.width), nn.Embed(self.src_len, self.width)
        self.tgt_embed, self.tgt_pos = nn.Embed(self.tgt_vocab, self.width), nn.Embed(self.tgt_len, self.width)
        self.encoder = [EncoderLayer(*args) for _ in range(self.enc_layers)]  # encoder_0, ...
        self.decoder = [DecoderLayer(*args) for _ in range(self.dec_layers)]  # decoder_0, ...
        if not self.post_ln:
            self.enc_norm, self.dec_norm = layer_norm(), layer_norm()
        self.head = nn.Dense(self.tgt_vocab)

    def encode(self, src):
        mask = (src != PAD)[:, None, None, :]  # attend to real source symbols only
        x = self.src_embed(src) + self.src_pos(jnp.arange(src.shape[1]))
        for layer in self.encoder:
            x = layer(x, mask)
        return (x if self.post_ln else self.enc_norm(x)), mask

    def logits(self, x):
        return self.head(x if self.post_ln else self.dec_norm(x))

    def __call__(self, inputs, train: bool = False):  # {"inputs", "decoder_inputs"} int
        encoded, src_mask = self.encode(inputs["inputs"].astype(jnp.int32))
        tgt = inputs["decoder_inputs"].astype(jnp.int32)
        length = tgt.shape[1]
        x = self.tgt_embed(tgt) + self.tgt_pos(jnp.arange(length))
        for layer in self.decoder:
            x = layer(x, encoded, src_mask)
        return self.logits(x)

    def predict(self, inputs):
        """Greedy decoding: the logits (B, tgt_len, tgt_vocab) of `tgt_len` steps from BOS."""
        encoded, src_mask = self.encode(inputs["inputs"].astype(jnp.int32))
        cross_kv = [layer.cross_attn.keys_values(encoded) for layer in self.decoder]
        batch, heads = encoded.shape[0], self.heads
        empty = jnp.zeros((batch, self.tgt_len, heads, self.width // heads), encoded.dtype)
        caches = [(empty, empty) for _ in self.decoder]
        token = jnp.full((batch, 1), BOS, dtype=jnp.int32)
        out = jnp.zeros((batch, self.tgt_len, self.tgt_vocab), encoded.dtype)
        positions = self.tgt_pos(jnp.arange(self.tgt_len))

        def body(model, carry):  # one step; a lifted while loop (flax), PyTorch loops in Python
            t, token, caches, out = carry
            x = model.tgt_embed(token) + positions[t]
            caches = list(caches)
            for i, layer in enumerate(model.decoder):
                x, caches[i] = layer.step(x, t, caches[i], cross_kv[i], src_mask)
            logits = model.logits(x)
            out = jnp.where((jnp.arange(self.tgt_len) == t)[:, None], logits, out)
            return t + 1, logits.argmax(axis=-1).astype(jnp.int32), caches, out

        carry = (jnp.int32(0), token, caches, out)
        return nn.while_loop(lambda model, c: c[0] < self.tgt_len, body, self, carry)[3]
