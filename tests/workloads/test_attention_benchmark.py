"""The PyTorch attention's two formulations: the written-out math (workloads/layers_pytorch.py) and
torch's fused kernel, which benchmarks/attention_kernel.py times against each other: both must
compute the same attention, masked and causal, or the comparison means nothing; the layer takes
the kernel for causal attention only."""

import importlib.util
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from workloads import layers_pytorch  # noqa: E402

PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "attention_kernel.py"


def load():
    spec = importlib.util.spec_from_file_location("attention_kernel", PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_written_out_attention_equals_the_kernel():
    assert load().check_same_outputs() < 1e-5


def test_the_check_catches_a_wrong_formulation(monkeypatch):
    right = layers_pytorch.written_out_attention
    monkeypatch.setattr(layers_pytorch, "written_out_attention",
                        lambda q, k, v, mask, causal, scale: right(q, k, v, mask, causal, 1.03 * scale))
    assert load().check_same_outputs() > 1e-3


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
