"""Every baseline package, through its own submission functions and the `smoke` workload objects:
both frameworks give the same parameters after the same steps from the same weights on the same
batches (evaluation points included), the schedule has the documented values, every search-space
point builds, and `algobench check` passes."""

from __future__ import annotations

import json
import types
import warnings

import numpy as np
import pytest
import torch

from algobench.cli import main as algobench
from harness.loader import SEARCH_SPACE_FILE, load_submission
from harness.spec import BASELINE_STEP_BUDGET, Hyperparameters, ParameterType, TrainingCompleteError
from submissions.common import schedules
from tests.submissions.baselines import (EVAL_BEFORE, NUM_STEPS, SEED, STEP_HINT, SUBMISSIONS, batches,
                                         first_point, initial_params, make_rng, run, workload)

DECAY = {"adafactor": "cosine", "ademamix": "cosine", "adamw": "cosine", "lamb": "cosine", "lion": "cosine",
         "momentum": "linear", "muon": "cosine", "nadamw": "cosine", "nadamw_self_tuning": "cosine",
         "nesterov": "linear", "sam": "cosine", "soap": "cosine"}
NAMES = sorted([*DECAY, "schedule_free_adamw"])
SELF_TUNING = {"nadamw_self_tuning"}
NEEDS = {"schedule_free_adamw": "schedulefree", "ademamix": "pytorch_optimizer"}  # PyTorch packages beyond torch

# Float32 in two frameworks: the largest difference seen is ~5e-7 on parameters that moved by
# 0.03 to 0.3 (see docs/baselines.md for each algorithm's).
TOL = dict(rtol=1e-4, atol=2e-6)

# SOAP's eigenbases are defined only up to a rotation within a repeated eigenvalue, and the two
# frameworks' LAPACKs choose differently. The 64-entry axes of smoke's kernels have rank-deficient
# Gram matrices in the first steps (the head's gradient has rank <= 10), so only axes of <= 32
# entries (the head's 10 classes) are preconditioned here, and the eigenbases are refreshed every 2
# updates so that the QR refresh runs. Multi-axis preconditioning on full-rank problems is checked
# in test_optimizers.py.
OVERRIDES = {"soap": {"max_precond_dim": 32, "precondition_frequency": 2}}


def skip_without_packages(name):
    if name in NEEDS:
        pytest.importorskip(NEEDS[name])


def hyperparameters(name) -> Hyperparameters:
    if name in SELF_TUNING:
        return Hyperparameters({})  # what the runner gives a self-tuning submission
    return first_point(name, **OVERRIDES.get(name, {}))


def comparable(name, snapshot):
    """SOAP: the head's change that is equal across classes, removed. Softmax cross-entropy has an
    exactly zero gradient in that direction; in the rotated basis it is rounding noise, which Adam's
    normalization amplifies (noise / (noise + eps)) differently in each framework. The direction
    does not change the model's function (softmax ignores equal shifts)."""
    if name != "soap":
        return snapshot
    out = dict(snapshot)
    out["head/kernel"] = out["head/kernel"] - out["head/kernel"].mean(axis=1, keepdims=True)
    out["head/bias"] = out["head/bias"] - out["head/bias"].mean()
    return out


def newton_schulz_float32(grad, ns_coefficients, ns_steps, eps):
    """torch.optim.Muon's Newton-Schulz iteration (`torch.optim._muon._zeropower_via_newtonschulz`,
    torch 2.13) in float32: torch's runs in bfloat16 (hard-coded), optax's in the parameters'
    dtype. With this one in its place, the two frameworks' Muon must agree to float32 rounding."""
    a, b, c = ns_coefficients
    x = grad.float()
    tall = grad.size(0) > grad.size(1)
    if tall:
        x = x.T
    x = x / x.norm().clamp(min=eps)
    for _ in range(ns_steps):
        gram = x @ x.T
        x = a * x + (b * gram + c * gram @ gram) @ x
    return x.T if tall else x


@pytest.fixture
def muon_in_float32(monkeypatch):
    monkeypatch.setattr(torch.optim._muon, "_zeropower_via_newtonschulz", newton_schulz_float32)


@pytest.mark.parametrize("name", NAMES)
def test_both_frameworks_give_the_same_parameters(name, request):
    skip_without_packages(name)
    if name == "muon":
        request.getfixturevalue("muon_in_float32")
    hp = hyperparameters(name)
    torch_snapshots, jax_snapshots = run(name, "pytorch", hp), run(name, "jax", hp)
    assert len(torch_snapshots) == len(jax_snapshots) == len(EVAL_BEFORE) + 1
    start = initial_params()
    assert max(np.abs(torch_snapshots[-1][k] - start[k]).max() for k in start) > 1e-3  # it trained
    for i, (a, b) in enumerate(zip(torch_snapshots, jax_snapshots)):
        a, b = comparable(name, a), comparable(name, b)
        for k in a:
            np.testing.assert_allclose(a[k], b[k], err_msg=f"{name}: {k} at evaluation {i}", **TOL)


def test_muon_reshapes_convolution_kernels_alike_in_both_frameworks(muon_in_float32):
    """Muon on `cnn`, whose hidden layers are convolutions: PyTorch hands torch.optim.Muon each
    (out, in, h, w) kernel as an (out, in*h*w) matrix, JAX hands optax each (h, w, in, out)
    kernel as (h*w*in, out); the same parameters after the same steps."""
    hp = first_point("muon")
    data = batches(NUM_STEPS, 8, name="cnn")
    torch_snapshots = run("muon", "pytorch", hp, data, workload_name="cnn")
    jax_snapshots = run("muon", "jax", hp, data, workload_name="cnn")
    w = workload("pytorch", "cnn")
    start = w.to_canonical(*w.init_model_fn(make_rng("pytorch", SEED)))
    kernels = [k for k in start if k.endswith("/kernel") and start[k].ndim == 4]
    assert len(kernels) == 7
    assert min(np.abs(torch_snapshots[-1][k] - start[k]).max() for k in kernels) > 1e-3  # all trained
    for i, (a, b) in enumerate(zip(torch_snapshots, jax_snapshots)):
        for k in a:
            np.testing.assert_allclose(a[k], b[k], err_msg=f"muon on cnn: {k} at evaluation {i}", **TOL)


def test_muon_with_torchs_bfloat16_newton_schulz_stays_close():
    """With the library's bfloat16 Newton-Schulz (the submission as it runs), PyTorch's parameters
    stay within 20 % of the largest change training made of JAX's (float32 iteration); 10 % is
    measured. The gap is large for rounding because the iteration maps every singular value of the
    momentum, rounding noise's included, towards 1."""
    hp = first_point("muon")
    torch_snapshots, jax_snapshots = run("muon", "pytorch", hp), run("muon", "jax", hp)
    start = initial_params()
    moved = max(np.abs(jax_snapshots[-1][k] - start[k]).max() for k in start)
    gap = max(np.abs(a[k] - b[k]).max() for a, b in zip(torch_snapshots, jax_snapshots) for k in a)
    assert 1e-4 < gap < 0.2 * moved  # bfloat16 differs, and only by rounding


def test_muon_resumed_from_a_checkpoint_trains_on_as_without_one(tmp_path):
    """PyTorch Muon on `cnn`: a trial saved after 3 steps and resumed as the harness resumes one
    (fresh model and `init_optimizer_state`, then the saved weights and optimizer state loaded)
    takes the same next 3 steps as one that never stopped; its kernels' matrices must be views of
    the resumed model, not the saved ones."""
    from harness import pytorch_backend

    module = load_submission(SUBMISSIONS / "muon", "pytorch")
    w, hp, data = workload("pytorch", "cnn"), first_point("muon"), batches(6, 8, name="cnn")

    def start():
        model, model_state = w.init_model_fn(make_rng("pytorch", SEED))
        opt = module.init_optimizer_state(workload=w, model_params=model, model_state=model_state,
                                          hyperparameters=hp, rng=None)
        return model, model_state, opt

    def train(model, model_state, opt, steps):
        for step in steps:
            opt, model, model_state = module.update_params(
                workload=w, current_param_container=model, current_params_types=w.model_params_types,
                model_state=model_state, hyperparameters=hp, batch=w.to_device(data[step]),
                loss_type=w.loss_type, optimizer_state=opt, eval_results=[], global_step=step,
                rng=make_rng("pytorch", 100 + step), train_state=None)
        return model, model_state, opt

    straight = train(*start(), range(6))[0]
    model, model_state, opt = train(*start(), range(3))
    pytorch_backend.save_optimizer_state(opt, tmp_path)
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    model, model_state, opt = start()
    model.load_state_dict(weights)
    opt = pytorch_backend.load_optimizer_state(opt, tmp_path)
    resumed = train(model, model_state, opt, range(3, 6))[0]
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6, msg=name)


@pytest.mark.parametrize("name", ["smoke", "cnn", "gnn", "deepspeech"])
def test_muon_splits_the_parameters_alike_in_both_frameworks(name):
    """The same parameters get Muon in both frameworks, flattened to the same (out, in) matrices
    (transposes of each other's orientation undone): the output layer (`head`; gnn's `decoder`),
    embeddings, biases and norms get AdamW; the LSTM's torch-layout weights keep theirs."""
    import jax
    import math

    torch_module = load_submission(SUBMISSIONS / "muon", "pytorch")
    jax_module = load_submission(SUBMISSIONS / "muon", "jax")
    w = workload("pytorch", name)
    pairs, adam = torch_module.split_parameters(w, w.init_model_fn(make_rng("pytorch", SEED))[0])
    torch_matrices = sorted(tuple(matrix.shape) for _, matrix in pairs)
    wj = workload("jax", name)
    params = wj.init_model_fn(make_rng("jax", SEED))[0]
    labels = jax.tree.leaves(jax_module.labels(wj, params))
    dims = jax.tree.leaves(jax_module.as_matrix(params), is_leaf=lambda x: isinstance(x, tuple))
    jax_matrices = sorted((p.shape[d.output_axis], math.prod(p.shape[i] for i in d.reduction_axis))
                          for label, p, d in zip(labels, jax.tree.leaves(params), dims) if label == "muon")
    assert torch_matrices == jax_matrices
    assert len(pairs) >= 1 and len(adam) == labels.count("adamw") >= 3


def test_batch_norm_reestimation_is_the_same_in_both_frameworks():
    """`reestimate_batch_norm` (what Schedule-Free's `prepare_for_eval` runs at x) moves the
    running statistics of a batch-norm model (cnn) identically in PyTorch and JAX."""
    import submissions.common.jax as jax_common
    import submissions.common.pytorch as torch_common

    data = batches(3, 8, name="cnn")
    canonical = {}
    for framework, common in (("pytorch", torch_common), ("jax", jax_common)):
        w = workload(framework, "cnn")
        params, state = w.init_model_fn(make_rng(framework, SEED))
        before = {k: np.array(v) for k, v in w.to_canonical(params, state).items()}
        state = common.reestimate_batch_norm(w, params, state, [w.to_device(b) for b in data])
        canonical[framework] = {k: np.array(v) for k, v in w.to_canonical(params, state).items()}
        means = [k for k in before if k.endswith("/mean")]
        assert means and max(np.abs(canonical[framework][k] - before[k]).max() for k in means) > 1e-3
    for k, value in canonical["pytorch"].items():
        np.testing.assert_allclose(value, canonical["jax"][k], rtol=1e-5, atol=1e-6, err_msg=k)


@pytest.mark.parametrize("framework", ["pytorch", "jax"])
def test_schedule_free_evaluates_with_batch_norm_statistics_of_x(framework, monkeypatch):
    """Schedule-Free's `prepare_for_eval` re-estimates the running statistics at x: without it the
    evaluation would see those that training at y left."""
    skip_without_packages("schedule_free_adamw")
    hp = first_point("schedule_free_adamw", warmup_factor=0.1)
    data = batches(NUM_STEPS, 8, name="cnn")
    module = load_submission(SUBMISSIONS / "schedule_free_adamw", framework)
    assert module.BN_BATCHES == 20
    fresh = run("schedule_free_adamw", framework, hp, data, workload_name="cnn")
    import submissions.common.jax as jax_common  # a submission module is loaded anew by each run
    import submissions.common.pytorch as torch_common

    common = torch_common if framework == "pytorch" else jax_common
    monkeypatch.setattr(common, "reestimate_batch_norm", lambda workload, params, state, batches: state)
    stale = run("schedule_free_adamw", framework, hp, data, workload_name="cnn")
    means = [k for k in fresh[-1] if k.endswith("/mean")]
    assert means
    assert max(np.abs(fresh[-1][k] - stale[-1][k]).max() for k in means) > 1e-3
    kernels = [k for k in fresh[-1] if k.endswith("/kernel")]
    for k in kernels:  # the same parameters x either way
        np.testing.assert_array_equal(fresh[-1][k], stale[-1][k])


TORCH_MODEL_TYPES = {"weight": ParameterType.WEIGHT, "bias": ParameterType.BIAS}


def torch_model():
    torch.manual_seed(0)
    return torch.nn.Linear(3, 2)


def learning_rates(name, hp, step_hint, n):
    """The learning rate of updates 0..n-1 in each framework."""
    torch_module = load_submission(SUBMISSIONS / name, "pytorch")
    jax_module = load_submission(SUBMISSIONS / name, "jax")
    workload = types.SimpleNamespace(step_hint=step_hint, model_params_types=TORCH_MODEL_TYPES)
    state = torch_module.init_optimizer_state(workload=workload, model_params=torch_model(),
                                              model_state=None, hyperparameters=hp, rng=None)
    scheduler = state["scheduler"] if "scheduler" in state else state["schedulers"][0]  # muon: Muon's first
    group = scheduler.optimizer.param_groups[0]
    torch_lrs = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scheduler steps without optimizer steps
        for _ in range(n):
            torch_lrs.append(group["lr"])
            scheduler.step()
    schedule = jax_module.learning_rate(getattr(jax_module, "HPARAMS", hp), step_hint)
    return np.array(torch_lrs), np.asarray(schedule(np.arange(n)))


@pytest.mark.parametrize("step_hint", [STEP_HINT, 400])
@pytest.mark.parametrize("name", sorted(DECAY))
def test_schedule_warms_up_then_decays_to_zero_at_the_step_hint(name, step_hint):
    skip_without_packages(name)
    module = load_submission(SUBMISSIONS / name, "pytorch")
    hp = getattr(module, "HPARAMS", None) or first_point(name)
    torch_lrs, jax_lrs = learning_rates(name, hyperparameters(name), step_hint, step_hint + 3)
    peak, warmup = hp.learning_rate, schedules.warmup_steps(hp.warmup_factor, step_hint)
    decay = step_hint - warmup
    quarter = warmup + decay // 4
    expected_quarter = {"cosine": 0.5 * (1 + np.cos(np.pi * (decay // 4) / decay)),
                        "linear": 1 - (decay // 4) / decay}[DECAY[name]]
    for lrs in (torch_lrs, jax_lrs):
        assert lrs[0] == 0.0
        assert lrs[warmup - 1] < peak
        assert lrs[warmup] == pytest.approx(peak, rel=1e-6)  # the end of warmup: the peak
        assert lrs[quarter] == pytest.approx(peak * expected_quarter, rel=1e-5)
        assert lrs[step_hint - 1] > 1e-7 * peak  # the last update that moves the parameters
        assert lrs[step_hint] == pytest.approx(0.0, abs=1e-7 * peak)  # 0 at the step hint
        assert np.all(np.abs(lrs[step_hint:]) <= 1e-7 * peak)  # and after it
    np.testing.assert_allclose(torch_lrs, jax_lrs, rtol=1e-5, atol=1e-6 * peak)  # float32 cosine


@pytest.mark.parametrize("framework", ["pytorch", "jax"])
@pytest.mark.parametrize("name", NAMES)
def test_training_ends_at_target_settings_step_budget(name, framework):
    """A baseline with a schedule ends its trial (`data_selection` raises `TrainingCompleteError`)
    at 1.2 step hints, the step budget of target setting: its learning rate is 0 from the step hint
    on. Not a step before; Schedule-Free, whose rate never decays, trains on."""
    skip_without_packages(name)
    import jax.numpy as jnp

    params, params_types = ((torch_model(), TORCH_MODEL_TYPES) if framework == "pytorch" else
                            ({"w": jnp.zeros((3, 2)), "b": jnp.zeros(2)},
                             {"w": ParameterType.WEIGHT, "b": ParameterType.BIAS}))
    module = load_submission(SUBMISSIONS / name, framework)
    tiny = types.SimpleNamespace(step_hint=100, model_params_types=params_types)
    state = module.init_optimizer_state(workload=tiny, model_params=params, model_state=None,
                                        hyperparameters=hyperparameters(name), rng=None)

    def select(step):
        return module.data_selection(workload=tiny, input_queue=iter(["batch"]), optimizer_state=state,
                                     current_param_container=params, model_state=None,
                                     hyperparameters=None, global_step=step, rng=None)

    assert select(119) == "batch"
    if name not in DECAY:
        assert select(10_000) == "batch"
        return
    assert BASELINE_STEP_BUDGET == 1.2
    for step in (120, 121):
        with pytest.raises(TrainingCompleteError, match="ends at step 120: 1.2 step hints, the "
                                                        "learning rate is 0 from step 100 on"):
            select(step)


@pytest.mark.parametrize("step_hint", [STEP_HINT, 400])
def test_schedule_free_warms_up_then_stays_constant(step_hint):
    schedulefree = pytest.importorskip("schedulefree")  # noqa: F841
    name = "schedule_free_adamw"
    hp = first_point(name)
    model = torch_model()
    state = load_submission(SUBMISSIONS / name, "pytorch").init_optimizer_state(
        workload=types.SimpleNamespace(step_hint=step_hint), model_params=model, model_state=None,
        hyperparameters=hp, rng=None)
    torch_lrs = []
    for _ in range(step_hint + 2):  # the package schedules inside `step`; it logs what it used
        for p in model.parameters():
            p.grad = torch.zeros_like(p)
        state["optimizer"].step()
        torch_lrs.append(state["optimizer"].param_groups[0]["scheduled_lr"])
    schedule = load_submission(SUBMISSIONS / name, "jax").learning_rate(hp, step_hint)
    jax_lrs = np.asarray(schedule(np.arange(step_hint + 2)))
    peak, warmup = hp.learning_rate, schedules.warmup_steps(hp.warmup_factor, step_hint)
    for lrs in (np.array(torch_lrs), jax_lrs):
        assert lrs[0] == pytest.approx(peak / warmup, rel=1e-6)  # update k uses (k + 1) / warmup
        assert lrs[warmup - 2] < peak if warmup > 1 else True
        assert lrs[warmup - 1] == pytest.approx(peak, rel=1e-6)  # the last warmup update: the peak
        assert lrs[step_hint] == pytest.approx(peak, rel=1e-6)  # no decay
    np.testing.assert_allclose(torch_lrs, jax_lrs, rtol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_algobench_check_passes(name, capsys):
    skip_without_packages(name)
    assert algobench(["check", str(SUBMISSIONS / name)]) == 0
    assert "ok (pytorch, jax;" in capsys.readouterr().out


@pytest.mark.parametrize("name", NAMES)
def test_package_layout_and_every_search_space_point_builds(name):
    skip_without_packages(name)
    folder = SUBMISSIONS / name
    assert (folder / "README.md").read_text().strip()
    if name in SELF_TUNING:
        assert not (folder / SEARCH_SPACE_FILE).exists()
        modules = [load_submission(folder, fw) for fw in ("pytorch", "jax")]
        assert dict(modules[0].HPARAMS) == dict(modules[1].HPARAMS)
        return
    points = json.loads((folder / SEARCH_SPACE_FILE).read_text())
    assert len(points) == 5
    import jax.numpy as jnp

    jax_types = {"w": ParameterType.WEIGHT, "b": ParameterType.BIAS}
    for framework, params, params_types in (
            ("pytorch", torch_model(), TORCH_MODEL_TYPES),
            ("jax", {"w": jnp.zeros((3, 2)), "b": jnp.zeros(2)}, jax_types)):
        module = load_submission(folder, framework)
        tiny = types.SimpleNamespace(step_hint=100, model_params_types=params_types)
        for point in points:
            module.init_optimizer_state(workload=tiny, model_params=params, model_state=None,
                                        hyperparameters=Hyperparameters(point), rng=None)
