"""The conformer family: exact padding (the padded input frames change nothing, in training and
at eval, in both frameworks), certain blanks at padded output frames, batch norm over real frames
only, and the variants' configs. Parity across frameworks is tests/workloads/test_parity.py's."""

from __future__ import annotations

import jax
import numpy as np
import pytest
import torch

from harness.jax_backend import make_rng as jax_rng
from harness.pytorch_backend import make_rng as torch_rng
from workloads.conformer import model_pytorch
from workloads.conformer.spec import SPECS
from workloads.data.speech import (
    FRAME_SUBSAMPLING,
    MAX_FRAMES,
    NUM_CLASSES,
    PADDED_CHARACTER_LOGIT,
)
from workloads.jax_workload import JaxWorkload
from workloads.layers_pytorch import MaskedBatchNorm
from workloads.pytorch_workload import PyTorchWorkload
from workloads.registry import get_spec
from workloads.spec import ForwardPassMode
from workloads.workload_base import example_batch

NAMES = [s.name for s in SPECS]
OUT_FRAMES = MAX_FRAMES // FRAME_SUBSAMPLING


def with_noisy_padding(batch, seed=0):
    """The batch with random values (large ones) in its padded input frames."""
    rng = np.random.default_rng(seed)
    noisy = dict(batch)
    pad = batch["input_paddings"][..., None] > 0
    noise = (10.0 * rng.standard_normal(batch["inputs"].shape)).astype(np.float32)
    noisy["inputs"] = np.where(pad, noise, batch["inputs"])
    return noisy


def out_paddings(batch):
    return batch["input_paddings"][:, ::FRAME_SUBSAMPLING]


def torch_forward(tw, model, batch, train):
    mode = ForwardPassMode.TRAIN if train else ForwardPassMode.EVAL
    logits, _ = tw.model_fn(model, tw.to_device(batch), None, mode, None, False)
    loss = tw.loss_fn(tw.to_device(batch)["targets"], logits)
    return logits.detach().numpy(), float(loss["summed"].detach())


def jax_forward(jw, params, state, batch, train):
    mode = ForwardPassMode.TRAIN if train else ForwardPassMode.EVAL
    logits, _ = jw.model_fn(params, jw.to_device(batch), state, mode, None, False)
    loss = jw.loss_fn(jw.to_device(batch)["targets"], logits)
    return np.asarray(logits), float(loss["summed"])


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("train", [False, True])
def test_padded_frames_change_nothing(name, train):
    spec = get_spec(name, pending_ok=True)
    batch = example_batch(spec, 8, seed=3)
    noisy = with_noisy_padding(batch)
    real = out_paddings(batch) == 0
    tw, jw = PyTorchWorkload(spec), JaxWorkload(spec)
    model, _ = tw.init_model_fn(torch_rng(1))
    params, state = jw.init_model_fn(jax_rng(1))
    for forward in (lambda b: torch_forward(tw, model, b, train),
                    lambda b: jax_forward(jw, params, state, b, train)):
        (clean, clean_loss), (dirty, dirty_loss) = forward(batch), forward(noisy)
        assert clean.shape == (8, OUT_FRAMES, NUM_CLASSES)
        np.testing.assert_allclose(dirty[real], clean[real], atol=1e-5)
        np.testing.assert_array_equal(dirty[~real], clean[~real])
        assert dirty_loss == pytest.approx(clean_loss, rel=1e-5)


def test_padded_output_frames_are_certain_blanks():
    spec = get_spec("conformer", pending_ok=True)
    batch = example_batch(spec, 8, seed=4)
    tw = PyTorchWorkload(spec)
    model, state = tw.init_model_fn(torch_rng(2))
    logits = tw.eval_outputs(model, state, batch)
    pad = out_paddings(batch) > 0
    assert pad.any() and (~pad).any()
    expected = np.full(NUM_CLASSES, PADDED_CHARACTER_LOGIT, np.float32)
    expected[0] = 0.0
    np.testing.assert_array_equal(logits[pad], np.broadcast_to(expected, logits[pad].shape))
    # an utterance's output frames are real up to ceil(frames / 4), then padding
    frames = (batch["input_paddings"] == 0).sum(axis=1)
    np.testing.assert_array_equal((~pad).sum(axis=1), -(-frames // FRAME_SUBSAMPLING))


def test_masked_batch_norm_uses_real_frames_only():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 10, 6)).astype(np.float32)
    mask = (rng.random((4, 10)) < 0.6).astype(np.float32)
    bn = MaskedBatchNorm(6, eps=1e-5, momentum=0.1).train()
    with torch.no_grad():
        bn.weight.fill_(1.0)
        bn.bias.zero_()
        bn.running_mean.zero_()
        bn.running_var.fill_(1.0)
        y = bn(torch.from_numpy(x), torch.from_numpy(mask)).numpy()
    real = x[mask > 0]
    mean, var = real.mean(axis=0), real.var(axis=0)
    np.testing.assert_allclose(y[mask > 0], (real - mean) / np.sqrt(var + 1e-5), atol=1e-5)
    np.testing.assert_allclose(bn.running_mean.numpy(), 0.1 * mean, atol=1e-6)
    np.testing.assert_allclose(bn.running_var.numpy(), 0.9 + 0.1 * var, atol=1e-6)
    # flax's masked batch norm computes the same statistics and running averages
    from workloads.conformer.model_jax import masked_batch_norm

    module = masked_batch_norm(True, "norm")
    variables = module.init(jax.random.PRNGKey(0), x, mask=(mask > 0)[..., None])
    y_jax, new = module.apply(variables, x, mask=(mask > 0)[..., None], mutable=["batch_stats"])
    np.testing.assert_allclose(np.asarray(y_jax)[mask > 0], y[mask > 0], atol=1e-5)
    np.testing.assert_allclose(new["batch_stats"]["mean"], bn.running_mean.numpy(), atol=1e-6)
    np.testing.assert_allclose(new["batch_stats"]["var"], bn.running_var.numpy(), atol=1e-6)


def test_variants_change_what_they_say():
    specs = {s.name: s for s in SPECS}
    base = specs["conformer"].model_config
    expected = {"conformer_attn_temp": {"attention_temp": 1.6},
                "conformer_layernorm": {"conv_norm": "layer_norm"},
                "conformer_gelu": {"ffn_activation": "gelu"}}
    for name, change in expected.items():
        if name not in specs:
            continue
        config = specs[name].model_config
        assert {k: v for k, v in config.items() if base[k] != v} == change, name
        assert specs[name].base == "conformer"
    if "conformer_layernorm" in specs:  # layer norm only: no batch-norm statistics
        jw = JaxWorkload(specs["conformer_layernorm"])
        assert not jw.init_model_fn(jax_rng(0))[1]
        tw = PyTorchWorkload(specs["conformer_layernorm"])
        names = tw.to_canonical(*tw.init_model_fn(torch_rng(0)))
        assert not any(n.endswith(("/mean", "/var")) for n in names)
