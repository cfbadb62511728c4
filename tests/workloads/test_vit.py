"""The vit family: patch extraction, attention that masks nothing and commutes with token
permutations, the MAP head's shape and permutation invariance. The shared layers themselves are
tested in test_layers.py; parity of the whole models is in test_parity.py."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from workloads.registry import PENDING, REGISTRY
from workloads.vit import model_jax, model_pytorch

SPECS = {**REGISTRY, **PENDING}
WIDTH, HEADS, TOKENS = 16, 4, 5


def tokens(seed: int = 0, n: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, TOKENS, WIDTH)).astype(np.float32)


def torch_module(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """`module` with every parameter drawn at random (so no zero probe, no identity norm)."""
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.from_numpy(rng.standard_normal(tuple(p.shape)).astype(np.float32) * 0.5))
    return module.eval()


def apply_torch(module: torch.nn.Module, *inputs: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return module(*(torch.from_numpy(np.ascontiguousarray(x)) for x in inputs)).numpy()


def apply_jax(module, *inputs: np.ndarray, seed: int = 0) -> np.ndarray:
    """`module` applied with random parameters (normal, as in torch_module)."""
    params = module.init(jax.random.PRNGKey(0), *inputs)
    rng = np.random.default_rng(seed)
    params = jax.tree.map(lambda p: jnp.asarray(rng.standard_normal(p.shape).astype(np.float32) * 0.5), params)
    return np.asarray(module.apply(params, *inputs))


def attention(framework: str):
    """x -> self-attention of x, with random weights, in one framework."""
    if framework == "pytorch":
        module = torch_module(model_pytorch.Attention(WIDTH, HEADS))
        return lambda x: apply_torch(module, x, x)
    return lambda x: apply_jax(model_jax.Attention(WIDTH, HEADS), x, x)


def encoder_block(framework: str, norm: str, mlp: str):
    if framework == "pytorch":
        module = torch_module(model_pytorch.Block(WIDTH, HEADS, 32, mlp == "glu", norm))
        return lambda x: apply_torch(module, x)
    return lambda x: apply_jax(model_jax.Block(WIDTH, HEADS, 32, mlp == "glu", norm), x)


def map_head(framework: str):
    if framework == "pytorch":
        module = torch_module(model_pytorch.MapHead(WIDTH, HEADS, 32, False))
        return lambda x: apply_torch(module, x)
    return lambda x: apply_jax(model_jax.MapHead(WIDTH, HEADS, 32, False), x)


FRAMEWORKS = ["pytorch", "jax"]


def test_patches_cut_the_image_into_row_major_squares():
    image = np.arange(2 * 28 * 28, dtype=np.float32).reshape(2, 28, 28, 1)
    for framework, patches in (("pytorch", lambda x, p: model_pytorch.patches(torch.from_numpy(x), p).numpy()),
                               ("jax", lambda x, p: np.asarray(model_jax.patches(jnp.asarray(x), p)))):
        for p in (7, 4):
            out = patches(image, p)
            grid = 28 // p
            assert out.shape == (2, grid * grid, p * p), framework
            for i in (0, 1, grid, grid * grid - 1):  # top-left, its right neighbour, the next row, last
                r, c = divmod(i, grid)
                np.testing.assert_array_equal(out[1, i], image[1, r * p:(r + 1) * p, c * p:(c + 1) * p, 0].reshape(-1))


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_attention_commutes_with_token_permutations(framework):
    attend = attention(framework)
    x = tokens()
    perm = np.array([3, 0, 4, 1, 2])
    np.testing.assert_allclose(attend(x[:, perm]), attend(x)[:, perm], atol=1e-5)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_attention_masks_nothing(framework):
    """Changing any one token changes every token's output: each query sees every key."""
    attend = attention(framework)
    x = tokens()
    base = attend(x)
    for j in range(TOKENS):
        changed = x.copy()
        changed[:, j] += 1.0
        diff = np.abs(attend(changed) - base).max(axis=-1)  # (n, tokens)
        assert np.all(diff > 1e-4), (framework, j)


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("norm,mlp", [("pre", "gelu"), ("post", "gelu"), ("pre", "glu")])
def test_encoder_blocks_commute_with_token_permutations(framework, norm, mlp):
    """Without position embeddings the encoder is permutation-equivariant: nothing in a block
    depends on a token's place."""
    block = encoder_block(framework, norm, mlp)
    x = tokens(1)
    perm = np.array([4, 2, 0, 3, 1])
    np.testing.assert_allclose(block(x[:, perm]), block(x)[:, perm], atol=1e-5)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_map_head_pools_to_one_vector_per_example_whatever_the_token_order(framework):
    head = map_head(framework)
    x = tokens(2, n=4)
    out = head(x)
    assert out.shape == (4, WIDTH)
    np.testing.assert_allclose(head(x[:, ::-1]), out, atol=1e-5)
    assert not np.allclose(out[0], out[1])


@pytest.mark.parametrize("name", ["vit", "vit_glu", "vit_post_ln", "vit_map"])
def test_specs_registered_with_their_architecture(name):
    spec = SPECS[name]
    config = spec.model_config
    assert spec.family == "vit" and spec.data_source == "fashion_mnist"
    assert (config["mlp"], config["norm"], config["pool"]) == {
        "vit": ("gelu", "pre", "cls"), "vit_glu": ("glu", "pre", "cls"),
        "vit_post_ln": ("gelu", "post", "cls"), "vit_map": ("gelu", "pre", "map")}[name]
    assert spec.base == (None if name == "vit" else "vit")


def test_parameter_names_say_what_each_variant_adds():
    def names(**config):
        return {n for n, _ in model_pytorch.Model(**config).named_parameters()}

    base = names()
    assert {"cls_token", "pos_embedding", "encoder_norm.weight"} <= base
    assert not any(n.startswith("map_head") for n in base)
    assert names(mlp="glu") - base == {f"blocks.{i}.mlp.gate.{p}" for i in range(4) for p in ("weight", "bias")}
    post = names(norm="post")
    assert base - post == {"encoder_norm.weight", "encoder_norm.bias"}
    pooled = names(pool="map")
    assert "cls_token" not in pooled and "map_head.probe" in pooled
