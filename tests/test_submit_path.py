"""The 'submit an algorithm package' job end to end, as a new user does it: `algobench new`, fill
the stubs with plain SGD, `algobench check`, `algobench run` on the smoke workload, `algobench score`."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from algobench.cli import main

REPO = Path(__file__).resolve().parents[1]

TORCH_INIT = 'return {"optimizer": torch.optim.SGD(model_params.parameters(), lr=hyperparameters.learning_rate, momentum=0.9)}'
TORCH_UPDATE = """optimizer_state["optimizer"].zero_grad()
    logits, model_state = workload.model_fn(current_param_container, batch, model_state,
                                            ForwardPassMode.TRAIN, rng, update_batch_norm=True)
    loss = workload.loss_fn(batch["targets"], logits)
    (loss["summed"] / loss["n_valid_examples"]).backward()
    optimizer_state["optimizer"].step()
    return optimizer_state, current_param_container, model_state"""
JAX_INIT = """tx = optax.sgd(hyperparameters.learning_rate, momentum=0.9)

    def step(params, model_state, opt_state, batch, rng):
        def loss_fn(p):
            logits, new_state = workload.model_fn(p, batch, model_state, ForwardPassMode.TRAIN, rng,
                                                  update_batch_norm=True)
            loss = workload.loss_fn(batch["targets"], logits)
            return loss["summed"] / loss["n_valid_examples"], new_state

        (_, new_state), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), new_state, opt_state

    sharding = jax.tree.leaves(model_params)[0].sharding
    return {"opt_state": jax.device_put(tx.init(model_params), sharding), "step": jax.jit(step)}"""
JAX_UPDATE = """params, model_state, opt_state = optimizer_state["step"](
        current_param_container, model_state, optimizer_state["opt_state"], batch, rng)
    return {**optimizer_state, "opt_state": opt_state}, params, model_state"""


def fill(path: Path, init: str, update: str) -> None:
    source = path.read_text()
    source = re.sub(r'raise NotImplementedError\(".*init_optimizer_state.*"\)', lambda m: init, source)
    source = re.sub(r'raise NotImplementedError\(".*update_params.*"\)', lambda m: update, source)
    assert "NotImplementedError" not in source
    path.write_text(source)


@pytest.mark.parametrize("framework", ["pytorch", "jax"])
def test_new_fill_check_run_score(tmp_path, framework, capsys):
    assert main(["new", "plain_sgd", "--dir", str(tmp_path)]) == 0
    package = tmp_path / "plain_sgd"
    assert main(["check", str(package)]) == 2  # the template's stubs are not a submission yet
    assert "`init_optimizer_state` is still the template's stub" in capsys.readouterr().err

    init, update = (TORCH_INIT, TORCH_UPDATE) if framework == "pytorch" else (JAX_INIT, JAX_UPDATE)
    fill(package / f"submission_{framework}.py", init, update)
    assert main(["check", str(package), "--framework", framework]) == 0  # the other is unfilled
    other = "jax" if framework == "pytorch" else "pytorch"
    (package / f"submission_{other}.py").unlink()  # docs/submitting.md: a framework not supported
    (package / "tuning_search_space.json").write_text(json.dumps([{"learning_rate": 0.05}]))
    assert main(["check", str(package)]) == 0

    out = tmp_path / "results"
    run = subprocess.run([sys.executable, "-m", "algobench.cli", "run", str(package), "--workload",
                          "smoke", "--framework", framework, "--out", str(out)],
                         cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert re.search(r"time-to-target: [0-9.]+ s", run.stdout), run.stdout

    capsys.readouterr()
    assert main(["score", str(out)]) == 0
    board = capsys.readouterr().out
    assert "plain_sgd" in board and "1.0000" in board and "development run" in board


def test_an_unfilled_template_is_refused_before_training_with_a_clear_message(tmp_path):
    assert main(["new", "todo", "--dir", str(tmp_path)]) == 0
    run = subprocess.run([sys.executable, "-m", "algobench.cli", "run", str(tmp_path / "todo"),
                          "--workload", "smoke", "--framework", "pytorch", "--out", str(tmp_path / "r")],
                         cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode == 2
    assert "submission_pytorch.py:21: `init_optimizer_state` is still the template's stub" in run.stderr
    assert run.stderr.count("\n") == 1 and not (tmp_path / "r").exists()
