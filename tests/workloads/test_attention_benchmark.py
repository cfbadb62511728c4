"""benchmarks/attention_kernel.py compares the fused kernel with its written-out math: the two
must compute the same attention, masked and causal, or the comparison means nothing."""

import importlib.util
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "attention_kernel.py"


def load():
    spec = importlib.util.spec_from_file_location("attention_kernel", PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_written_out_attention_equals_the_kernel():
    assert load().check_same_outputs() < 1e-5


def test_the_check_catches_a_wrong_formulation(monkeypatch):
    module = load()
    right = module.written_out
    monkeypatch.setattr(module, "written_out", lambda q, k, v, **kw: right(q, k, v, **{**kw, "scale": 0.31}))
    assert module.check_same_outputs() > 1e-3
