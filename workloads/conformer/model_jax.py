"""A small Conformer (AlgoPerf's LibriSpeech Conformer, laptop scale) for CTC speech recognition,
in flax. Mirrors model_pytorch.py line for line (same parameter names, same arithmetic); attention,
feed-forward MLP and layer norm are workloads/layers_jax.py's. docs/workloads/conformer.md.

Padding is exact: the outputs at real frames do not depend on what the padded input frames hold
(activations at padded frames are zeroed before every convolution, attention never looks at
padded keys, batch norm takes its statistics over real frames only), and the logits at padded
output frames are replaced by a certain blank."""

import flax.linen as nn
import jax
import jax.numpy as jnp

from workloads.layers_jax import Attention, LayerNorm, Mlp, blank_past_end, zero_padded

LN_EPS = 1e-5
BN_EPS = 1e-5
ACTIVATIONS = {"swish": "silu", "gelu": "gelu"}  # the config's name -> layers_jax.ACTIVATIONS'


def layer_norm(name: str) -> LayerNorm:
    return LayerNorm(LN_EPS, name=name)


def masked_batch_norm(train: bool, name: str) -> nn.BatchNorm:
    """Batch norm whose training statistics are the mean and the biased variance over real frames
    only (called with `mask`), momentum 0.9 (PyTorch's 0.1)."""
    return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=BN_EPS,
                        use_fast_variance=False, name=name)


class Subsampling(nn.Module):
    """Two 3x3 convolutions with stride 2 over (time, mel) with ReLU, padded frames zeroed before
    each; the (mel, channel) features of each frame flattened and projected to `d_model`."""

    channels: int
    d_model: int

    @nn.compact
    def __call__(self, x, paddings):  # x: (batch, time, mel), paddings: (batch, time)
        x = zero_padded(x, paddings)[..., None]  # (batch, time, mel, 1)
        def conv(name):
            return nn.Conv(self.channels, (3, 3), strides=2, padding=((1, 1), (1, 1)), name=name)

        x = nn.relu(conv("conv1")(x))
        paddings = paddings[:, ::2]
        x = nn.relu(conv("conv2")(zero_padded(x, paddings)))
        paddings = paddings[:, ::2]
        return nn.Dense(self.d_model, name="dense")(x.reshape(*x.shape[:2], -1)), paddings


class DepthwiseConv(nn.Module):
    """A depthwise convolution over time ('SAME' zero padding) written as a sum of shifted
    frames: `kernel` (kernel_size, 1, features) in flax's conv layout, plus a bias."""

    features: int
    kernel_size: int

    @nn.compact
    def __call__(self, x):  # x: (batch, time, features)
        kernel = self.param("kernel", nn.initializers.zeros, (self.kernel_size, 1, self.features))
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        t, half = x.shape[1], self.kernel_size // 2
        padded = jnp.pad(x, ((0, 0), (half, self.kernel_size - 1 - half), (0, 0)))
        out = bias
        for i in range(self.kernel_size):
            out = out + padded[:, i : i + t] * kernel[i, 0]
        return out


class ConvModule(nn.Module):
    """Layer norm, pointwise dense to 2 d_model and GLU, padded frames zeroed, depthwise conv over
    time, batch norm over real frames (or layer norm), swish, pointwise dense."""

    d_model: int
    kernel_size: int
    norm: str

    @nn.compact
    def __call__(self, x, paddings, train: bool):
        h = nn.Dense(2 * self.d_model, name="pointwise1")(layer_norm("ln")(x))
        value, gate = jnp.split(h, 2, axis=-1)
        x = DepthwiseConv(self.d_model, self.kernel_size, name="depthwise")(
            zero_padded(value * jax.nn.sigmoid(gate), paddings))
        if self.norm == "batch_norm":
            x = masked_batch_norm(train, "norm")(x, mask=(paddings < 1)[..., None])
        else:
            x = layer_norm("norm")(x)
        return nn.Dense(self.d_model, name="pointwise2")(nn.silu(x))


class ConformerBlock(nn.Module):
    """x + ffn1(ln)/2, x + attention(ln), x + conv, x + ffn2(ln)/2, layer norm `ln`. The
    feed-forward MLPs are Dense to `mlp_dim`, the activation, Dense back; attention is
    self-attention with logits q.k / (sqrt(head_dim) * temperature) and padded frames masked out
    as keys."""

    d_model: int
    num_heads: int
    mlp_dim: int
    kernel_size: int
    norm: str
    ffn_activation: str
    temperature: float

    @nn.compact
    def __call__(self, x, paddings, train: bool):
        activation = ACTIVATIONS[self.ffn_activation]
        x = x + 0.5 * Mlp(self.d_model, self.mlp_dim, activation, name="ffn1")(layer_norm("ffn1_norm")(x))
        y = layer_norm("attn_norm")(x)
        x = x + Attention(self.d_model, self.num_heads, self.temperature, name="attn")(
            y, y, paddings[:, None, None, :] <= 0)
        x = x + ConvModule(self.d_model, self.kernel_size, self.norm, name="conv")(x, paddings, train)
        x = x + 0.5 * Mlp(self.d_model, self.mlp_dim, activation, name="ffn2")(layer_norm("ffn2_norm")(x))
        return layer_norm("ln")(x)


class Model(nn.Module):
    """Conv subsampling (4x in time), `num_layers` Conformer blocks of width `d_model`, a dense to
    the classes; logits (batch, time / 4, num_classes), certain blanks at padded frames."""

    num_classes: int = 29
    n_mels: int = 32
    subsampling_channels: int = 32
    d_model: int = 96
    num_heads: int = 4
    num_layers: int = 3
    ffn_hidden: int = 384
    kernel_size: int = 15
    conv_norm: str = "batch_norm"
    ffn_activation: str = "swish"
    attention_temp: float = 1.0

    @nn.compact
    def __call__(self, inputs, train: bool):
        # inputs: {"inputs": (batch, time, mel), "input_paddings": (batch, time)}
        x, paddings = Subsampling(self.subsampling_channels, self.d_model, name="subsampling")(
            inputs["inputs"], inputs["input_paddings"])
        for i in range(self.num_layers):
            x = ConformerBlock(self.d_model, self.num_heads, self.ffn_hidden, self.kernel_size,
                               self.conv_norm, self.ffn_activation, self.attention_temp,
                               name=f"blocks_{i}")(x, paddings, train)
        logits = nn.Dense(self.num_classes, name="head")(x)
        return blank_past_end(logits, paddings)
