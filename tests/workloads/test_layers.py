"""The layers every Transformer family shares (workloads/layers_pytorch.py, layers_jax.py): the
same outputs in both frameworks from the same weights, masks that hide what they mask, and the
JAX layer norm's written-out gradient."""

from __future__ import annotations

import flax.linen as flax_nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from workloads import layers_jax, layers_pytorch
from workloads.pytorch_workload import load_canonical

WIDTH, HEADS, MLP_DIM = 16, 4, 24


def inputs(seed: int, n: int = 2, length: int = 5) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, length, WIDTH)).astype(np.float32)


def same_weights(torch_module: torch.nn.Module, jax_module, *args: np.ndarray):
    """(torch output, jax output) of the two modules with the same random weights, drawn for the
    flax parameters and loaded into torch by their canonical names."""
    params = jax_module.init(jax.random.PRNGKey(0), *args)["params"]
    rng = np.random.default_rng(1)
    params = jax.tree.map(lambda p: rng.standard_normal(p.shape).astype(np.float32) * 0.5, params)
    flat = {"/".join(k.key for k in path): v for path, v in jax.tree_util.tree_leaves_with_path(params)}
    load_canonical(torch_module, flat)
    with torch.no_grad():
        ours = torch_module(*(torch.from_numpy(a) for a in args))
    return ours.numpy(), np.asarray(jax_module.apply({"params": params}, *args))


@pytest.mark.parametrize("temperature", [1.0, 1.7])
@pytest.mark.parametrize("masked", [False, True])
def test_attention_agrees_across_frameworks(temperature, masked):
    """Cross-attention of 3 queries over 5 keys; with a random mask (every query sees a key)."""
    mask = np.random.default_rng(2).random((2, 1, 3, 5)) > 0.3
    mask[..., 0] = True
    args = (inputs(0, length=3), inputs(1, length=5)) + ((mask,) if masked else ())
    j = layers_jax.Attention(WIDTH, HEADS, temperature)
    assert sorted(j.init(jax.random.PRNGKey(0), *args)["params"]) == ["key", "out", "query", "value"]
    ours, theirs = same_weights(layers_pytorch.Attention(WIDTH, HEADS, temperature), j, *args)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_masked_keys_do_not_change_the_output():
    """Changing the context at masked-out keys leaves every query's output unchanged; changing it
    at a key that is attended changes it."""
    module = layers_pytorch.Attention(WIDTH, HEADS).eval()
    x, context = torch.from_numpy(inputs(0, length=3)), torch.from_numpy(inputs(1, length=5))
    mask = torch.tensor([True, True, False, True, False])  # keys 2 and 4 hidden
    other = context.clone()
    other[:, [2, 4]] += 10.0
    with torch.no_grad():
        torch.testing.assert_close(module(x, context, mask), module(x, other, mask))
        other[:, 1] += 1.0
        assert not torch.allclose(module(x, context, mask), module(x, other, mask))


@pytest.mark.parametrize("activation", sorted(layers_pytorch.ACTIVATIONS))
@pytest.mark.parametrize("gated", [False, True])
def test_mlp_agrees_across_frameworks(activation, gated):
    assert layers_pytorch.ACTIVATIONS.keys() == layers_jax.ACTIVATIONS.keys()
    x = inputs(3)
    t = layers_pytorch.Mlp(WIDTH, MLP_DIM, activation, gated=gated)
    j = layers_jax.Mlp(WIDTH, MLP_DIM, activation, gated=gated)
    ours, theirs = same_weights(t, j, x)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
    names = {n for n, _ in t.named_parameters()}
    assert ("gate.weight" in names) == gated


def test_layer_norm_agrees_across_frameworks():
    x = inputs(4) * 3.0 + 1.0
    ours, theirs = same_weights(layers_pytorch.LayerNorm(WIDTH, 1e-5), layers_jax.LayerNorm(1e-5), x)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_jax_gelu_is_flax_exact_gelu_and_pytorchs_with_their_gradients():
    """`layers_jax.gelu` (the erf form) is the function flax's `gelu(approximate=False)` (erfc) and
    PyTorch's `F.gelu` compute, gradient included, tails and zero included."""
    x = np.concatenate([np.linspace(-12, 12, 2001), [0.0, -0.0, 1e-6, -1e-6]]).astype(np.float32)
    ours, theirs = jax.value_and_grad(lambda v: jnp.sum(layers_jax.gelu(v))), \
        jax.value_and_grad(lambda v: jnp.sum(flax_nn.gelu(v, approximate=False)))
    np.testing.assert_allclose(layers_jax.gelu(x), flax_nn.gelu(x, approximate=False), atol=2e-6)
    np.testing.assert_allclose(ours(x)[1], theirs(x)[1], atol=2e-6)
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.nn.functional.gelu(xt, approximate="none")
    yt.sum().backward()
    np.testing.assert_allclose(layers_jax.gelu(x), yt.detach().numpy(), atol=1e-6)
    np.testing.assert_allclose(ours(x)[1], xt.grad.numpy(), atol=1e-6)


def test_jax_layer_norm_matches_flax_and_its_gradient():
    """The written-out gradient of the JAX layer norm equals autodiff's through flax's LayerNorm."""
    x = jnp.asarray(inputs(3) * 3.0 + 1.0)
    ours = layers_jax.LayerNorm(1e-6)
    theirs = flax_nn.LayerNorm(epsilon=1e-6, use_fast_variance=False)
    rng = np.random.default_rng(0)
    params = {"params": {"scale": jnp.asarray(rng.standard_normal(WIDTH).astype(np.float32)),
                         "bias": jnp.asarray(rng.standard_normal(WIDTH).astype(np.float32))}}
    weights = jnp.asarray(rng.standard_normal(x.shape).astype(np.float32))

    def loss(module):
        return lambda p, x: jnp.sum(jnp.sin(module.apply(p, x)) * weights)

    np.testing.assert_allclose(ours.apply(params, x), theirs.apply(params, x), atol=1e-5)
    for a, b in zip(jax.grad(loss(ours), argnums=(0, 1))(params, x),
                    jax.grad(loss(theirs), argnums=(0, 1))(params, x)):
        jax.tree.map(lambda u, v: np.testing.assert_allclose(u, v, atol=1e-4), a, b)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
@pytest.mark.parametrize("masked, causal", [(False, False), (True, False), (False, True), (True, True)])
def test_jax_written_out_attention_matches_the_kernel_and_its_gradient(masked, causal, dtype):
    """The two formulations the switch chooses between (`layers_jax.USE_KERNEL`) give the same
    outputs and the same gradients of q, k and v: masked (one query sees no key at all), causal,
    both, neither; in float32 and bfloat16 (the kernel's softmax in float32 is written out too)."""
    rng = np.random.default_rng(5)
    q, k, v = (jnp.asarray(rng.standard_normal((2, 6, HEADS, 4)), dtype) for _ in range(3))
    mask = None
    if masked:
        mask = rng.random((2, 1, 6, 6)) > 0.4
        mask[0, 0, 3] = False  # a query that sees no key attends uniformly in both
        mask = jnp.asarray(mask)
    weights = jnp.asarray(rng.standard_normal(q.shape), jnp.float32)

    def loss(attention):
        return lambda q, k, v: jnp.sum(attention(q, k, v, mask, causal, 0.3).astype(jnp.float32)
                                       * weights)

    tolerance = 1e-5 if dtype == jnp.float32 else 2e-2
    np.testing.assert_allclose(
        np.asarray(layers_jax.written_out_attention(q, k, v, mask, causal, 0.3), np.float32),
        np.asarray(layers_jax.kernel_attention(q, k, v, mask, causal, 0.3), np.float32),
        atol=tolerance)
    ours = jax.grad(loss(layers_jax.written_out_attention), argnums=(0, 1, 2))(q, k, v)
    theirs = jax.grad(loss(layers_jax.kernel_attention), argnums=(0, 1, 2))(q, k, v)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(np.asarray(a, np.float32), np.asarray(b, np.float32),
                                   atol=10 * tolerance)


@pytest.mark.parametrize("use_kernel", [True, False])
def test_the_switch_chooses_the_jax_attention(monkeypatch, use_kernel):
    """`Attention` calls the formulation `USE_KERNEL` names, read when the layer is traced."""
    calls = []
    for name in ("kernel_attention", "written_out_attention"):
        real = getattr(layers_jax, name)
        monkeypatch.setattr(layers_jax, name, lambda *a, real=real, name=name: calls.append(name) or real(*a))
    monkeypatch.setattr(layers_jax, "USE_KERNEL", use_kernel)
    x = jnp.asarray(inputs(0))
    layers_jax.Attention(WIDTH, HEADS).init(jax.random.PRNGKey(0), x, x)
    assert set(calls) == {"kernel_attention" if use_kernel else "written_out_attention"}
