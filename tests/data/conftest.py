"""Every data test gets a private, empty algobench cache directory."""

import pytest


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    cache = tmp_path / "algobench-cache"
    monkeypatch.setenv("ALGOBENCH_CACHE_DIR", str(cache))
    monkeypatch.delenv("ALGOBENCH_FASHION_MNIST_DIR", raising=False)
    return cache
