"""PyTorch and JAX implement the same function: identical initial weights for a seed, the same
outputs from the same weights, and the same losses over a few plain SGD steps on the same batches."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from harness.jax_backend import make_rng as jax_rng
from harness.pytorch_backend import make_rng as torch_rng
from harness.runner import evaluate
from workloads.jax_workload import JaxWorkload
from workloads.metrics import METRICS
from workloads.pytorch_workload import PyTorchWorkload
from workloads.registry import PENDING, REGISTRY
from workloads.spec import ForwardPassMode, LossType
from workloads.workload_base import example_batch

ALL_SPECS = {**REGISTRY, **PENDING}  # variants still without targets are tested too
NAMES = sorted(ALL_SPECS)
OUTPUT_TOL = 1e-4  # absolute, on logits of order 1
OUTPUT_RTOL = 1e-5  # relative, for outputs far from order 1 (untrained models with large init scales)
LOSS_RTOL = 1e-4  # relative, on the loss after each SGD step
# Random augmentation draws from each framework's own generator, so no two runs can match: these
# specs run their SGD comparison with it off (their test files test the augmentation itself).
SGD_CONFIG_OVERRIDES = {"deepspeech_norm_specaug": {"specaugment": False}}


@pytest.fixture(scope="module", params=NAMES)
def pair(request):
    spec = ALL_SPECS[request.param]
    return spec, PyTorchWorkload(spec), JaxWorkload(spec)


def batch(spec, seed, n=16):
    return example_batch(spec, n, seed)


def test_same_seed_gives_identical_initial_weights(pair):
    spec, tw, jw = pair
    t_params, t_state = tw.init_model_fn(torch_rng(123))
    j_params, j_state = jw.init_model_fn(jax_rng(123))
    a, b = tw.to_canonical(t_params, t_state), jw.to_canonical(j_params, j_state)
    assert sorted(a) == sorted(b)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    other = tw.to_canonical(*tw.init_model_fn(torch_rng(124)))
    assert any(not np.array_equal(a[n], other[n]) for n in a)


def test_same_outputs_and_metrics_from_the_same_weights(pair):
    spec, tw, jw = pair
    t_params, t_state = tw.init_model_fn(torch_rng(5))
    j_params, j_state = jw.init_model_fn(jax_rng(5))
    x = batch(spec, 0)
    np.testing.assert_allclose(tw.eval_outputs(t_params, t_state, x),
                               jw.eval_outputs(j_params, j_state, x), atol=OUTPUT_TOL,
                               rtol=OUTPUT_RTOL)
    eval_sets = {"validation": [{**x, "weights": np.ones(16, np.float32)}]}
    t_metrics = evaluate(tw, t_params, t_state, eval_sets, METRICS[spec.metrics])
    j_metrics = evaluate(jw, j_params, j_state, eval_sets, METRICS[spec.metrics])
    assert t_metrics.keys() == j_metrics.keys()
    for key in t_metrics:
        assert t_metrics[key] == pytest.approx(j_metrics[key], rel=1e-4), key


def torch_sgd(tw, batches, lr):
    model, state = tw.init_model_fn(torch_rng(9))
    losses = []
    for b in batches:
        b = tw.to_device(b)
        logits, state = tw.model_fn(model, b, state, ForwardPassMode.TRAIN, None, True)
        loss = tw.loss_fn(b["targets"], logits, label_smoothing=0.1)
        mean = loss["summed"] / loss["n_valid_examples"]
        model.zero_grad()
        mean.backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= lr * p.grad
        losses.append(float(mean.detach()))
    return losses, tw.to_canonical(model, state)


def jax_sgd(jw, batches, lr):
    params, state = jw.init_model_fn(jax_rng(9))

    @jax.jit
    def step(params, state, b):
        def loss_fn(p):
            logits, new_state = jw.model_fn(p, b, state, ForwardPassMode.TRAIN, None, True)
            loss = jw.loss_fn(b["targets"], logits, label_smoothing=0.1)
            return loss["summed"] / loss["n_valid_examples"], new_state

        (mean, new_state), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        return jax.tree.map(lambda p, g: p - lr * g, params, grads), new_state, mean

    losses = []
    for b in batches:
        params, state, mean = step(params, state, jw.to_device(b))
        losses.append(float(mean))
    return losses, jw.to_canonical(params, state)


def test_same_losses_after_a_few_sgd_steps(pair):
    spec, tw, jw = pair
    if spec.name in SGD_CONFIG_OVERRIDES:
        config = {**spec.model_config, **SGD_CONFIG_OVERRIDES[spec.name]}
        spec = dataclasses.replace(spec, model_config=config)
        tw, jw = PyTorchWorkload(spec), JaxWorkload(spec)
    batches = [batch(spec, s) for s in range(4)]
    # a small step: with large init scales (cnn_bn_scale) bigger steps amplify float rounding
    t_losses, t_final = torch_sgd(tw, batches, lr=0.01)
    j_losses, j_final = jax_sgd(jw, batches, lr=0.01)
    np.testing.assert_allclose(t_losses, j_losses, rtol=LOSS_RTOL)
    assert t_losses[-1] != t_losses[0]  # the steps did something
    for name in t_final:  # batch-norm running statistics included
        np.testing.assert_allclose(t_final[name], j_final[name], rtol=1e-3, atol=1e-4, err_msg=name)


def test_parameter_types_agree(pair):
    spec, tw, jw = pair
    t_types = sorted(t.name for t in tw.model_params_types.values())
    j_types = sorted(t.name for t in jax.tree.leaves(jw.model_params_types))
    assert t_types == j_types
    assert sum(int(np.prod(s.shape)) for s in tw.param_shapes.values()) == sum(
        int(np.prod(s.shape)) for s in jax.tree.leaves(jw.param_shapes))


def test_loss_with_mask_counts_only_valid_examples(pair):
    spec, tw, jw = pair
    labels = example_batch(spec, 6, seed=1)["targets"]
    t_params, t_state = tw.init_model_fn(torch_rng(5))
    logits = tw.eval_outputs(t_params, t_state, example_batch(spec, 6, seed=2))
    mask = np.array([1, 1, 1, 0, 0, 1], np.float32)
    t = tw.loss_fn(torch.from_numpy(labels), torch.from_numpy(logits), torch.from_numpy(mask))
    j = jw.loss_fn(jnp.asarray(labels), jnp.asarray(logits), jnp.asarray(mask))
    if spec.loss_type == LossType.CTC_LOSS:  # counted per target character
        expected = float(((labels > 0).sum(axis=1) * mask).sum())
    else:
        expected = 4.0 * int(np.prod(t["per_example"].shape[1:]))  # labels per example
    assert float(t["n_valid_examples"]) == float(j["n_valid_examples"]) == expected
    assert float(t["summed"]) == pytest.approx(float(j["summed"]), rel=1e-5)
    unmasked = tw.loss_fn(torch.from_numpy(labels), torch.from_numpy(logits))
    kept = torch.from_numpy(mask).bool()
    assert float(t["summed"]) == pytest.approx(float(unmasked["per_example"][kept].sum()), rel=1e-5)
