"""The on-disk cache of the harness's compiled JAX eval forward (workloads/jax_executable_cache.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from workloads.jax_executable_cache import CachedJit


def _function():
    return jax.jit(lambda params, x: {"out": jnp.tanh(x @ params["w"]) + params["b"]})


def _args(rows: int = 4):
    rng = np.random.default_rng(0)
    params = {"w": jnp.asarray(rng.normal(size=(3, 5)), jnp.float32), "b": jnp.ones(5, jnp.float32)}
    return params, jnp.asarray(rng.normal(size=(rows, 3)), jnp.float32)


def _forbid_compiling(monkeypatch):
    lowered_type = type(_function().lower(*_args()))

    def compile_forbidden(self, *args, **kwargs):
        raise AssertionError("compiled although the cache holds the executable")

    monkeypatch.setattr(lowered_type, "compile", compile_forbidden)


def test_a_later_process_loads_what_an_earlier_compiled(tmp_path, monkeypatch):
    args = _args()
    expected = np.asarray(_function()(*args)["out"])
    first = CachedJit(_function(), tmp_path, "host A")
    np.testing.assert_array_equal(np.asarray(first(*args)["out"]), expected)
    entries = list(tmp_path.glob("*.pkl"))
    assert len(entries) == 1

    _forbid_compiling(monkeypatch)  # a fresh instance, as a new trial process has
    second = CachedJit(_function(), tmp_path, "host A")
    np.testing.assert_array_equal(np.asarray(second(*args)["out"]), expected)
    np.testing.assert_array_equal(np.asarray(second(*args)["out"]), expected)  # held in memory
    assert list(tmp_path.glob("*.pkl")) == entries


def test_the_key_separates_hosts_and_programs(tmp_path):
    CachedJit(_function(), tmp_path, "host A")(*_args())
    CachedJit(_function(), tmp_path, "host B")(*_args())  # another kind of CPU: its own executable
    cached = CachedJit(_function(), tmp_path, "host A")
    cached(*_args(rows=6))  # another input shape: another program, another entry
    assert len(list(tmp_path.glob("*.pkl"))) == 3
    assert len(cached._executables) == 1


def test_an_unreadable_entry_is_compiled_again_and_replaced(tmp_path, monkeypatch):
    args = _args()
    CachedJit(_function(), tmp_path, "host A")(*args)
    (entry,) = tmp_path.glob("*.pkl")
    entry.write_bytes(b"truncated")
    with pytest.warns(UserWarning, match="unreadable compiled executable"):
        out = CachedJit(_function(), tmp_path, "host A")(*args)
    np.testing.assert_array_equal(np.asarray(out["out"]), np.asarray(_function()(*args)["out"]))
    _forbid_compiling(monkeypatch)
    CachedJit(_function(), tmp_path, "host A")(*args)  # the replaced entry loads


def test_numpy_arguments_go_to_jit_uncached(tmp_path):
    params, x = _args()
    out = CachedJit(_function(), tmp_path, "host A")(params, np.asarray(x))
    np.testing.assert_array_equal(np.asarray(out["out"]), np.asarray(_function()(params, x)["out"]))
    assert not tmp_path.exists() or not list(tmp_path.glob("*.pkl"))


def test_the_harness_workload_evaluates_through_the_cache(tmp_path, monkeypatch):
    from harness.jax_backend import EXECUTABLE_CACHE, make_workload
    from workloads.jax_workload import JaxWorkload
    from workloads.registry import get_spec
    from workloads.workload_base import example_batch

    monkeypatch.setenv("ALGOBENCH_CACHE_DIR", str(tmp_path))
    spec = get_spec("cnn")
    batch = example_batch(spec, spec.eval_batch_size)
    plain = JaxWorkload(spec)
    params, state = plain.init_model_fn(jax.random.PRNGKey(0))
    expected = plain.eval_outputs(params, state, batch)
    np.testing.assert_array_equal(make_workload(spec).eval_outputs(params, state, batch), expected)
    assert len(list((tmp_path / EXECUTABLE_CACHE).glob("*.pkl"))) == 1
    _forbid_compiling(monkeypatch)
    np.testing.assert_array_equal(make_workload(spec).eval_outputs(params, state, batch), expected)
