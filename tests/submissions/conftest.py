import pytest
import torch


@pytest.fixture(autouse=True, scope="package")
def one_torch_thread():
    """The tests' tensors are tiny: one thread is fastest, and steady on a shared machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
