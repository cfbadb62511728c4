"""The `deepspeech` family: padded frames change nothing (both frameworks, eval and training),
the backward LSTM's reversal within each utterance's length, the LSTM's PyTorch names and layout,
masked batch-norm statistics, and SpecAugment (masks inside the real frames, widths in bounds, off
at eval, a new draw per rng). Parity between the frameworks is tests/workloads/test_parity.py's."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from harness.jax_backend import make_rng as jax_rng
from harness.pytorch_backend import make_rng as torch_rng
from workloads.data.speech import PADDED_CHARACTER_LOGIT
from workloads.deepspeech import model_jax, model_pytorch
from workloads.jax_workload import JaxWorkload, flatten
from workloads.layers_pytorch import MaskedBatchNorm
from workloads.pytorch_workload import PyTorchWorkload, to_canonical
from workloads.registry import PENDING, REGISTRY
from workloads.spec import ForwardPassMode, ParameterType
from workloads.workload_base import example_batch

SPECS = {**REGISTRY, **PENDING}
N = 6


def _with_noisy_padding(batch: dict, seed: int = 7) -> dict:
    """The batch with random values (large ones) in every padded input frame."""
    noisy = dict(batch)
    pad = batch["input_paddings"] > 0
    noise = 5.0 * np.random.default_rng(seed).standard_normal(batch["inputs"].shape).astype(np.float32)
    noisy["inputs"] = np.where(pad[..., None], noise, batch["inputs"])
    return noisy


def _torch_forward(tw, model, batch, train: bool):
    with torch.no_grad():
        mode = ForwardPassMode.TRAIN if train else ForwardPassMode.EVAL
        logits, _ = tw.model_fn(model, tw.to_device(batch), None, mode, None, False)
    return logits.numpy()


def _jax_forward(jw, params, state, batch, train: bool):
    mode = ForwardPassMode.TRAIN if train else ForwardPassMode.EVAL
    logits, _ = jw.model_fn(params, jw.to_device(batch), state, mode, None, False)
    return np.asarray(logits)


@pytest.mark.parametrize("name", ["deepspeech", "deepspeech_norm_specaug"])
@pytest.mark.parametrize("train", [False, True])
def test_padded_frames_change_nothing(name, train):
    spec = SPECS[name]
    tw, jw = PyTorchWorkload(spec), JaxWorkload(spec)
    batch = example_batch(spec, N, 3)
    noisy = _with_noisy_padding(batch)
    real = batch["input_paddings"][:, ::4] == 0
    model, _ = tw.init_model_fn(torch_rng(1))
    params, state = jw.init_model_fn(jax_rng(1))
    if name == "deepspeech_norm_specaug" and train:  # the augmentation's draws are tested below
        model.specaugment = False
    outputs = {
        "pytorch": (_torch_forward(tw, model, batch, train), _torch_forward(tw, model, noisy, train)),
        "jax": (_jax_forward(jw, params, state, batch, train), _jax_forward(jw, params, state, noisy, train)),
    }
    blank = np.full(spec.num_outputs, PADDED_CHARACTER_LOGIT, np.float32)
    blank[0] = 0.0
    for framework, (clean, dirty) in outputs.items():
        np.testing.assert_allclose(clean[real], dirty[real], rtol=1e-5, atol=1e-5, err_msg=framework)
        np.testing.assert_array_equal(dirty[~real], np.broadcast_to(blank, dirty[~real].shape))
        for logits in (clean, dirty):
            loss = tw.loss_fn(torch.from_numpy(batch["targets"]), torch.tensor(logits))
            assert np.isfinite(float(loss["summed"]))
        losses = [float(tw.loss_fn(torch.from_numpy(batch["targets"]), torch.tensor(o))["summed"])
                  for o in (clean, dirty)]
        assert losses[0] == pytest.approx(losses[1], rel=1e-5), framework


def test_reverse_within_length_reverses_the_real_frames_only():
    x = np.arange(2 * 5 * 1, dtype=np.float32).reshape(2, 5, 1)
    lengths = np.array([3, 5])
    expected = np.array([[2, 1, 0, 3, 4], [9, 8, 7, 6, 5]], np.float32)[..., None]
    t = model_pytorch.reverse_within_length(torch.from_numpy(x), torch.from_numpy(lengths))
    j = model_jax.reverse_within_length(jnp.asarray(x), jnp.asarray(lengths))
    np.testing.assert_array_equal(t.numpy(), expected)
    np.testing.assert_array_equal(np.asarray(j), expected)
    np.testing.assert_array_equal(model_pytorch.reverse_within_length(t, torch.from_numpy(lengths)).numpy(), x)


def test_lstm_parameters_have_pytorch_names_and_layout():
    spec = SPECS["deepspeech"]
    jw = JaxWorkload(spec)
    canonical = to_canonical(model_pytorch.Model(**spec.model_config))
    width, hidden = spec.model_config["width"], spec.model_config["width"] // 2
    for direction in ("fwd", "bwd"):
        prefix = f"layers_0/{direction}"
        assert canonical[f"{prefix}/weight_ih_l0"].shape == (4 * hidden, width)
        assert canonical[f"{prefix}/weight_hh_l0"].shape == (4 * hidden, hidden)
        assert canonical[f"{prefix}/bias_ih_l0"].shape == (4 * hidden,)
    assert {n: v.shape for n, v in canonical.items()} == dict(jw._canonical_shapes)
    lstm_types = {n: t for n, t in flatten(jw.model_params_types).items() if "/fwd/" in n}
    assert lstm_types == {f"layers_{i}/fwd/{leaf}": kind for i in range(2)
                          for leaf, kind in [("weight_ih_l0", ParameterType.WEIGHT),
                                             ("weight_hh_l0", ParameterType.WEIGHT),
                                             ("bias_ih_l0", ParameterType.BIAS),
                                             ("bias_hh_l0", ParameterType.BIAS)]}
    values = jw.to_canonical(*jw.init_model_fn(jax_rng(0)))
    forget = values["layers_0/fwd/bias_ih_l0"].reshape(4, hidden)
    np.testing.assert_array_equal(forget, np.repeat([[0.0], [1.0], [0.0], [0.0]], hidden, axis=1))


def test_masked_batch_norm_statistics_count_real_frames_only():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 7, 4)).astype(np.float32)
    mask = np.ones((3, 7), np.float32)
    mask[0, 4:] = 0.0
    mask[2, 2:] = 0.0
    bn = MaskedBatchNorm(4, eps=1e-5, momentum=0.1)
    torch.nn.init.ones_(bn.weight)
    torch.nn.init.zeros_(bn.bias)
    bn.train()
    y = bn(torch.from_numpy(x), torch.from_numpy(mask)).detach().numpy()
    real = x[mask > 0]
    np.testing.assert_allclose(y[mask > 0], (real - real.mean(0)) / np.sqrt(real.var(0) + 1e-5), atol=1e-5)
    np.testing.assert_allclose(bn.running_mean.numpy(), 0.1 * real.mean(0), atol=1e-6)
    np.testing.assert_allclose(bn.running_var.numpy(), 0.9 + 0.1 * real.var(0), atol=1e-6)


def _lengths_and_inputs(seed: int = 0):
    rng = np.random.default_rng(seed)
    lengths = np.array([48, 100, 192, 15, 7, 60] * 20)
    x = np.zeros((len(lengths), 192, 32), np.float32)
    for i, n in enumerate(lengths):
        x[i, :n] = 1.0 + rng.random((n, 32))  # never zero, so a zero is a mask
    return lengths, x


def _check_masks(augmented: np.ndarray, x: np.ndarray, lengths: np.ndarray):
    """Masked cells are whole mel bands over the real frames and whole real frames, within the
    bounds; padded frames are untouched."""
    masked_any = False
    for row, orig, n in zip(augmented, x, lengths):
        np.testing.assert_array_equal(row[n:], orig[n:])
        zero = row[:n] == 0
        frames = zero.all(axis=1)  # at most 8 bands are masked, so these are time masks
        bands = zero[~frames].all(axis=0) if (~frames).any() else np.zeros(zero.shape[1], bool)
        # every zero lies in a fully masked band or frame
        assert (zero == (bands[None, :] | frames[:, None])).all()
        assert bands.sum() <= model_pytorch.FREQ_MASKS * model_pytorch.MAX_FREQ_WIDTH
        assert frames.sum() <= model_pytorch.TIME_MASKS * model_pytorch.MAX_TIME_WIDTH
        masked_any |= zero.any()
    assert masked_any


def test_spec_augment_pytorch():
    lengths, x = _lengths_and_inputs()
    torch.manual_seed(0)
    a = model_pytorch.spec_augment(torch.from_numpy(x), torch.from_numpy(lengths).float()).numpy()
    b = model_pytorch.spec_augment(torch.from_numpy(x), torch.from_numpy(lengths).float()).numpy()
    _check_masks(a, x, lengths)
    _check_masks(b, x, lengths)
    assert not np.array_equal(a, b)  # a new draw each call


def test_spec_augment_jax():
    lengths, x = _lengths_and_inputs()
    a = np.asarray(model_jax.spec_augment(jnp.asarray(x), jnp.asarray(lengths, jnp.float32), jax.random.PRNGKey(0)))
    b = np.asarray(model_jax.spec_augment(jnp.asarray(x), jnp.asarray(lengths, jnp.float32), jax.random.PRNGKey(1)))
    _check_masks(a, x, lengths)
    _check_masks(b, x, lengths)
    assert not np.array_equal(a, b)  # a new draw per rng


def test_spec_augment_only_in_training():
    spec = SPECS["deepspeech_norm_specaug"]
    tw, jw = PyTorchWorkload(spec), JaxWorkload(spec)
    batch = example_batch(spec, N, 4)
    model, _ = tw.init_model_fn(torch_rng(2))
    params, state = jw.init_model_fn(jax_rng(2))
    # PyTorch: on in training mode (a new draw each call), off at eval
    first, second = _torch_forward(tw, model, batch, True), _torch_forward(tw, model, batch, True)
    assert not np.allclose(first, second)
    model.specaugment = False
    plain = _torch_forward(tw, model, batch, True)
    model.specaugment = True
    np.testing.assert_array_equal(_torch_forward(tw, model, batch, False),
                                  _torch_forward(tw, model, batch, False))
    # JAX: on in training with an rng (a new draw per rng), off without one and at eval
    x = jw.to_device(batch)
    with_rng = [np.asarray(jw.model_fn(params, x, state, ForwardPassMode.TRAIN, jax.random.PRNGKey(k), False)[0])
                for k in (0, 1)]
    without = np.asarray(jw.model_fn(params, x, state, ForwardPassMode.TRAIN, None, False)[0])
    assert not np.allclose(with_rng[0], with_rng[1])
    assert not np.allclose(with_rng[0], without)
    np.testing.assert_allclose(without, plain, atol=1e-4)  # same weights, no masks: as PyTorch
    eval_out = np.asarray(jw.model_fn(params, x, state, ForwardPassMode.EVAL, jax.random.PRNGKey(0), False)[0])
    np.testing.assert_allclose(eval_out, _torch_forward(tw, model, batch, False), atol=1e-4)
