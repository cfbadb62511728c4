"""A DeepSpeech2-style CTC recognizer, in flax. Mirrors model_pytorch.py line for line.

Inputs: {"inputs": (B, T, N_MELS) log-mel features, "input_paddings": (B, T), 1 = padding}; the
real frames of an utterance are a prefix. Output: logits (B, T / 4, classes); frames past an
utterance's end get the constant logits of a certain blank. Real frames' outputs do not depend on
what padded input frames hold: padded frames are zeroed before each convolution, batch-norm
statistics count real frames only, and the backward LSTM starts at each utterance's last real frame.

The LSTM is PyTorch's `nn.LSTM` written out, with its parameter names, layout ((4H, in), gates
i, f, g, o) and two biases: the input projection of all frames is one matmul, and one
`jax.lax.scan` over time runs both directions at once (a batched h @ W_hh per step).
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

from workloads.layers_jax import LayerNorm, blank_past_end, zero_padded

ACTIVATIONS = {"relu": nn.relu, "tanh": jnp.tanh}
FREQ_MASKS, MAX_FREQ_WIDTH = 2, 4  # SpecAugment: mel bands
TIME_MASKS, MAX_TIME_WIDTH = 2, 10  # SpecAugment: frames, inside the real ones
SCAN_UNROLL = 4  # time steps per scan iteration (XLA on CPU pays per iteration)


def make_norm(kind: str, train: bool, name: str):
    """A norm over the last axis called as norm(x, mask): batch norm whose training statistics
    count the positions where `mask` (broadcast over the trailing axes it lacks) is 1, or layer
    norm (mask unused)."""
    if kind == "batch":
        bn = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                          use_fast_variance=False, name=name)

        def norm(x, mask):
            m = mask.reshape(*mask.shape, *[1] * (x.ndim - mask.ndim))
            return bn(x, mask=jnp.broadcast_to(m > 0, x.shape))

        return norm
    ln = LayerNorm(1e-5, name=name)
    return lambda x, mask: ln(x)


def reverse_within_length(x, lengths):
    """Each utterance's first `length` frames in reverse order, the rest in place: the frame at
    t < length comes from length - 1 - t. Its own inverse."""
    t = jnp.arange(x.shape[1])
    index = jnp.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)
    return jnp.take_along_axis(x, index[..., None], axis=1)


def spec_augment(x, lengths, rng):
    """SpecAugment's masks (zeros: the features' mean) drawn from `rng`: FREQ_MASKS bands of
    0..MAX_FREQ_WIDTH mel bands, TIME_MASKS spans of 0..MAX_TIME_WIDTH frames that lie inside
    each utterance's real frames."""
    batch, frames, mels = x.shape
    u = jax.random.uniform(rng, (batch, FREQ_MASKS + TIME_MASKS, 2))
    f, t = jnp.arange(mels), jnp.arange(frames)
    masked = jnp.zeros((batch, frames, mels), bool)
    for k in range(FREQ_MASKS):
        width = jnp.floor(u[:, k, 0] * (MAX_FREQ_WIDTH + 1))
        start = jnp.floor(u[:, k, 1] * (mels - width + 1))
        band = (f >= start[:, None]) & (f < (start + width)[:, None])
        masked = masked | band[:, None, :]
    for k in range(FREQ_MASKS, FREQ_MASKS + TIME_MASKS):
        width = jnp.minimum(jnp.floor(u[:, k, 0] * (MAX_TIME_WIDTH + 1)), lengths)
        start = jnp.floor(u[:, k, 1] * (lengths - width + 1))
        span = (t >= start[:, None]) & (t < (start + width)[:, None])
        masked = masked | span[:, :, None]
    return jnp.where(masked, jnp.zeros_like(x), x)


class LSTMWeights(nn.Module):
    """One direction's parameters under PyTorch's `nn.LSTM` names and layout."""

    features: int
    hidden: int

    @nn.compact
    def __call__(self):
        zeros = nn.initializers.zeros  # shapes only: the workload draws every value
        h = self.hidden
        return (self.param("weight_ih_l0", zeros, (4 * h, self.features)),
                self.param("weight_hh_l0", zeros, (4 * h, h)),
                self.param("bias_ih_l0", zeros, (4 * h,)) + self.param("bias_hh_l0", zeros, (4 * h,)))


def bidirectional_lstm(xs, weights):
    """xs (2, B, T, D): the forward direction's inputs and the backward direction's (reversed);
    weights: (w_ih (2, 4H, D), w_hh (2, 4H, H), bias (2, 4H)). Returns (2, B, T, H)."""
    w_ih, w_hh, bias = weights
    projected = jnp.einsum("zbtd,zgd->tzbg", xs, w_ih) + bias[None, :, None, :]  # (T, 2, B, 4H)
    hidden = w_hh.shape[-1]
    zeros = jnp.zeros((2, xs.shape[1], hidden), xs.dtype)

    def step(carry, gates_x):
        h, c = carry
        gates = gates_x + jnp.einsum("zbh,zgh->zbg", h, w_hh)
        i, f, g, o = jnp.split(gates, 4, axis=-1)
        c = nn.sigmoid(f) * c + nn.sigmoid(i) * jnp.tanh(g)
        h = nn.sigmoid(o) * jnp.tanh(c)
        return (h, c), h

    _, hs = jax.lax.scan(step, (zeros, zeros), projected, unroll=SCAN_UNROLL)
    return jnp.transpose(hs, (1, 2, 0, 3))


class BiLSTMLayer(nn.Module):
    """norm, then a bidirectional LSTM (hidden width/2 per direction, outputs concatenated); the
    backward direction runs over each utterance reversed within its real length."""

    width: int
    norm: str

    @nn.compact
    def __call__(self, x, paddings, lengths, train: bool):
        y = make_norm(self.norm, train, "norm")(x, 1.0 - paddings)
        fwd = LSTMWeights(self.width, self.width // 2, name="fwd")()
        bwd = LSTMWeights(self.width, self.width // 2, name="bwd")()
        weights = tuple(jnp.stack([a, b]) for a, b in zip(fwd, bwd))
        out = bidirectional_lstm(jnp.stack([y, reverse_within_length(y, lengths)]), weights)
        return jnp.concatenate([out[0], reverse_within_length(out[1], lengths)], axis=-1)


class Model(nn.Module):
    """Two 3x3 stride-2 convs over (time, mel) with norm and activation, dense to `width`,
    `num_lstm_layers` (residual) bidirectional LSTM layers, dense `width` + activation, dense to
    the classes."""

    conv_channels: int = 32
    width: int = 128
    num_lstm_layers: int = 2
    activation: str = "relu"
    residual: bool = True
    norm: str = "batch"
    specaugment: bool = False
    num_classes: int = 29
    num_mels: int = 32

    @nn.compact
    def __call__(self, batch, train: bool):
        act = ACTIVATIONS[self.activation]
        x, paddings = batch["inputs"], batch["input_paddings"]
        if self.specaugment and train and self.has_rng("dropout"):
            x = spec_augment(x, (1.0 - paddings).sum(axis=1), self.make_rng("dropout"))
        pad2, pad4 = paddings[:, ::2], paddings[:, ::4]
        x = zero_padded(x, paddings)[..., None]  # (B, T, mels, 1)
        conv = lambda name: nn.Conv(self.conv_channels, (3, 3), strides=2,  # noqa: E731
                                    padding=((1, 1), (1, 1)), use_bias=False, name=name)
        x = conv("conv1")(x)  # (B, T/2, mels/2, C)
        x = zero_padded(act(make_norm(self.norm, train, "norm1")(x, 1.0 - pad2)), pad2)
        x = conv("conv2")(x)  # (B, T/4, mels/4, C)
        x = act(make_norm(self.norm, train, "norm2")(x, 1.0 - pad4))
        x = nn.Dense(self.width, name="proj")(x.reshape(*x.shape[:2], -1))
        lengths = (1.0 - pad4).sum(axis=1).astype(jnp.int32)
        for i in range(self.num_lstm_layers):
            y = BiLSTMLayer(self.width, self.norm, name=f"layers_{i}")(x, pad4, lengths, train)
            x = x + y if self.residual else y
        logits = nn.Dense(self.num_classes, name="head")(act(nn.Dense(self.width, name="hidden")(x)))
        return blank_past_end(logits, pad4)
