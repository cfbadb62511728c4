"""What a backend does on the clock around each step: the finite check (`all_finite`, at every
sync), true exactly when every parameter element is finite, and in PyTorch a fixed number of ops
called from Python whatever the number of parameters (a check per parameter called two ops per
parameter); the step marker that bounds the steps in flight between syncs (`step_marker`, `wait`);
and JAX's random keys, built on the host (`make_rng`)."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
@pytest.mark.parametrize("where", [0, 2, -1])
def test_pytorch_finds_any_non_finite_element(bad, where):
    torch = pytest.importorskip("torch")
    from harness import pytorch_backend

    model = torch.nn.Sequential(torch.nn.Linear(3, 40), torch.nn.Linear(40, 1000), torch.nn.Linear(1000, 2))
    assert pytorch_backend.all_finite(model)
    with torch.no_grad():
        model[2].weight[0, 0] = 3e38  # large but finite: not divergence
        assert pytorch_backend.all_finite(model)
        list(model.parameters())[where].view(-1)[where] = bad
    assert not pytorch_backend.all_finite(model)


def test_pytorch_check_is_a_fixed_number_of_ops():
    torch = pytest.importorskip("torch")
    from torch.profiler import profile

    from harness import pytorch_backend

    def ops(layers: int) -> int:
        model = torch.nn.Sequential(*[torch.nn.Linear(4, 4) for _ in range(layers)])
        with profile() as prof:
            assert pytorch_backend.all_finite(model)
        # the ops called from Python; `aten::to` to the device a tensor is on returns it as it is
        return sum(e.name.startswith("aten::") and e.name != "aten::to"
                   for e in prof.events() if e.cpu_parent is None)

    assert ops(50) == ops(2)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_jax_finds_any_non_finite_element(bad):
    jnp = pytest.importorskip("jax.numpy")
    from harness import jax_backend

    params = {"a": {"w": jnp.ones((3, 4))}, "b": jnp.full((1000,), 3e38)}
    assert jax_backend.all_finite(params)
    assert not jax_backend.all_finite({**params, "b": params["b"].at[999].set(bad)})


def test_jax_step_marker_outlives_donated_parameters():
    # a submission may donate a step's parameters to its next step (AlgoPerf's pmapped baselines
    # do): the marker is an array of its own, so waiting for it still works afterwards
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    from harness import jax_backend

    step = jax.jit(lambda p: jax.tree.map(lambda x: x * 2.0, p), donate_argnums=0)
    params = {"w": jnp.arange(6.0).reshape(2, 3), "b": jnp.ones(3)}
    params = step(params)
    marker = jax_backend.step_marker(params)
    later = step(params)  # donates the arrays the marker was made from
    jax_backend.wait(marker)
    assert marker.shape == (1,)
    assert jax_backend.all_finite(later)
    assert jax_backend.step_marker({}) is None
    jax_backend.wait(None)


def test_pytorch_step_marker_on_the_cpu_is_nothing_to_wait_for():
    torch = pytest.importorskip("torch")
    from harness import pytorch_backend

    if torch.cuda.is_available():
        pytest.skip("on a GPU the marker is a CUDA event")
    marker = pytorch_backend.step_marker(torch.nn.Linear(2, 2))
    assert marker is None
    pytorch_backend.wait(marker)


@pytest.mark.parametrize("seed", [0, 1, 123456789, 2**31 - 1])
def test_jax_keys_are_prngkeys_and_match_pytorch(seed):
    jax = pytest.importorskip("jax")
    np = pytest.importorskip("numpy")
    from harness import jax_backend

    key = jax_backend.make_rng(seed)
    assert key.dtype == jax.random.PRNGKey(seed).dtype
    assert np.array_equal(np.asarray(key), np.asarray(jax.random.PRNGKey(seed)))
    assert np.array_equal(np.asarray(jax.random.split(key)), np.asarray(jax.random.split(jax.random.PRNGKey(seed))))
