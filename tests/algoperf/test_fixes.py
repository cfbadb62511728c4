"""Three bugs found while running AlgoPerf's files, each of which hit native submissions too."""

from __future__ import annotations

import collections
import textwrap

import numpy as np
import pytest

from harness.loader import load_submission

Moments = collections.namedtuple("Moments", ["count", "mu"])


def test_a_pytorch_checkpoint_restores_namedtuples_and_unsaveable_leaves(tmp_path):
    """A namedtuple cannot be rebuilt as `type(value)(generator)`, and a function cannot be
    pickled: tensors and plain data are saved, the rest comes from the fresh state."""
    torch = pytest.importorskip("torch")
    from harness import pytorch_backend

    def schedule(step):
        return 0.1 * step

    state = {"moments": Moments(count=3, mu=torch.arange(4.0)), "schedule": schedule,
             "pair": (torch.ones(2), 5)}
    pytorch_backend.save_optimizer_state(state, tmp_path)
    template = {"moments": Moments(count=0, mu=torch.zeros(4)), "schedule": schedule,
                "pair": (torch.zeros(2), 0)}
    restored = pytorch_backend.load_optimizer_state(template, tmp_path)
    assert isinstance(restored["moments"], Moments) and restored["moments"].count == 3
    assert torch.equal(restored["moments"].mu, torch.arange(4.0))
    assert restored["schedule"] is schedule
    assert isinstance(restored["pair"], tuple) and restored["pair"][1] == 5
    assert torch.equal(restored["pair"][0], torch.ones(2))


def test_a_pytorch_checkpoint_keeps_a_grown_deque(tmp_path):
    """Schedule-Free keeps its recent batches in a deque that init_optimizer_state makes empty."""
    torch = pytest.importorskip("torch")
    from harness import pytorch_backend

    state = {"recent": collections.deque([{"x": torch.ones(2)}, {"x": torch.zeros(2)}], maxlen=3)}
    pytorch_backend.save_optimizer_state(state, tmp_path)
    restored = pytorch_backend.load_optimizer_state({"recent": collections.deque(maxlen=3)}, tmp_path)
    assert isinstance(restored["recent"], collections.deque) and restored["recent"].maxlen == 3
    assert [float(b["x"][0]) for b in restored["recent"]] == [1.0, 0.0]


def test_the_jax_loss_takes_label_smoothing_traced_under_jit():
    """AlgoPerf's JAX baselines pass label smoothing as a jit argument, so it is a tracer."""
    jax = pytest.importorskip("jax")
    from workloads.jax_workload import JaxWorkload
    from workloads.registry import get_spec

    workload = JaxWorkload(get_spec("smoke"))
    labels = np.array([1, 2, 3], np.int32)
    logits = np.linspace(-1.0, 1.0, 30, dtype=np.float32).reshape(3, 10)
    loss = jax.jit(lambda s: workload.loss_fn(labels, logits, label_smoothing=s)["summed"])
    eager = workload.loss_fn(labels, logits, label_smoothing=0.1)["summed"]
    assert float(loss(0.1)) == pytest.approx(float(eager), rel=1e-6)
    assert float(loss(0.0)) == pytest.approx(float(workload.loss_fn(labels, logits)["summed"]), rel=1e-6)


def test_update_params_without_train_state_loads(tmp_path):
    """AlgoPerf's v0.5 API has no `train_state`; the runner passes it only where it is named."""
    folder = tmp_path / "v05"
    folder.mkdir()
    (folder / "submission_pytorch.py").write_text(textwrap.dedent("""
        def get_batch_size(workload_name):
            return 8

        def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
            return {}

        def update_params(workload, current_param_container, current_params_types, model_state,
                          hyperparameters, batch, loss_type, optimizer_state, eval_results,
                          global_step, rng):
            return optimizer_state, current_param_container, model_state

        def data_selection(workload, input_queue, optimizer_state, current_param_container,
                           model_state, hyperparameters, global_step, rng):
            return next(input_queue)
        """))
    module = load_submission(folder, "pytorch")
    assert module.get_batch_size("smoke") == 8
