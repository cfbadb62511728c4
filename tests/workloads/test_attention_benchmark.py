"""The two attention formulations of each framework, which benchmarks/attention_kernel.py times
against each other: the framework's kernel (torch's fused `scaled_dot_product_attention`, JAX's
`jax.nn.dot_product_attention`) and the math written out (workloads/layers_*.py). Both must
compute the same attention, masked and causal, or the comparison means nothing; each timed block
must run the formulation it is named after (JAX: one jitted step per choice). PyTorch's layer
takes the kernel for causal attention only."""

import pytest

torch = pytest.importorskip("torch")
jax = pytest.importorskip("jax")

from tests.benchmark_scripts import load_benchmark  # noqa: E402
from workloads import layers_jax, layers_pytorch  # noqa: E402

LAYERS = {"pytorch": layers_pytorch, "jax": layers_jax}


@pytest.mark.parametrize("framework", ["pytorch", "jax"])
def test_the_written_out_attention_equals_the_kernel(framework):
    assert load_benchmark("attention_kernel").check_same_outputs(framework) < 1e-5


@pytest.mark.parametrize("framework", ["pytorch", "jax"])
def test_the_check_catches_a_wrong_formulation(monkeypatch, framework):
    right = LAYERS[framework].written_out_attention
    monkeypatch.setattr(LAYERS[framework], "written_out_attention",
                        lambda q, k, v, mask, causal, scale: right(q, k, v, mask, causal, 1.03 * scale))
    assert load_benchmark("attention_kernel").check_same_outputs(framework) > 1e-3


@pytest.mark.parametrize("framework", ["pytorch", "jax"])
def test_each_block_runs_its_formulation(monkeypatch, framework):
    """One tiny measurement on vit: the blocks named after each formulation call it (JAX: both are
    traced, one jitted step each), the figures are positive, and the shipped choice is back after."""
    benchmark = load_benchmark("attention_kernel")
    calls = []

    def spy(module, name):
        real = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *a: calls.append(name) or real(*a))

    if framework == "pytorch":
        spy(benchmark, "torch_kernel_attention")
        shipped = layers_pytorch.dot_product_attention
    else:
        spy(layers_jax, "kernel_attention")
        shipped = layers_jax.USE_KERNEL
    spy(LAYERS[framework], "written_out_attention")
    row = benchmark.measure(framework, "vit", repeats=1, steps=1, threads=None)
    assert set(calls) == {"torch_kernel_attention" if framework == "pytorch" else "kernel_attention",
                          "written_out_attention"}
    assert row["kernel_sec_per_step"] > 0 and row["written_out_sec_per_step"] > 0
    assert row["ratio_median"] == pytest.approx(row["kernel_sec_per_step"] / row["written_out_sec_per_step"])
    now = layers_pytorch.dot_product_attention if framework == "pytorch" else layers_jax.USE_KERNEL
    assert now == shipped


@pytest.mark.parametrize("causal, masked, kernel", [(True, False, True), (False, True, False),
                                                    (False, False, False)])
def test_the_kernel_serves_causal_attention_only(monkeypatch, causal, masked, kernel):
    calls = []
    real = layers_pytorch.F.scaled_dot_product_attention
    monkeypatch.setattr(layers_pytorch.F, "scaled_dot_product_attention",
                        lambda *a, **kw: calls.append(1) or real(*a, **kw))
    attention = layers_pytorch.Attention(width=8, num_heads=2)
    x = torch.randn(2, 5, 8)
    mask = torch.ones(2, 1, 1, 5, dtype=torch.bool) if masked else None
    attention(x, x, mask, causal=causal)
    assert bool(calls) == kernel
