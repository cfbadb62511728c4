"""The hand-written optimizers against optax and against the papers' equations.

Each PyTorch optimizer in `submissions/common/torch_optimizers.py` runs a few steps on the same
gradients as its optax counterpart (float32, PyTorch in its own parameter layout: kernels
transposed, convolutions as (out, in, h, w)), with the learning rate changing every step as a
schedule would; and, in float64, against a NumPy transcription of the paper's update.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch

from harness.loader import load_submission
from submissions.common import optax_soap
from submissions.common import torch_optimizers as T
from tests.submissions.baselines import SUBMISSIONS

LRS = [0.0, 0.01, 0.02, 0.015, 0.005, 0.01, 0.02]  # one per step, as a schedule would give
SHAPES = {"dense": (6, 5), "conv": (3, 3, 4, 6), "bias": (7,)}
TO_TORCH = {"dense": (1, 0), "conv": (3, 2, 0, 1), "bias": (0,)}  # canonical -> PyTorch layout
OPTAX_TOL = dict(rtol=2e-5, atol=2e-6)  # float32, two libraries
EQUATION_TOL = dict(rtol=1e-10, atol=1e-12)  # float64, the same arithmetic


def problem(seed=0, steps=len(LRS), shapes=SHAPES):
    rng = np.random.default_rng(seed)
    params = {k: rng.standard_normal(s) for k, s in shapes.items()}
    grads = [{k: rng.standard_normal(s) for k, s in shapes.items()} for _ in range(steps)]
    return params, grads


def run_torch(make, params, grads, dtype=torch.float32, layout=True):
    """Canonical arrays in, canonical arrays out; PyTorch sees its own layout when `layout`.
    torch.optim keeps its scalar state (NAdam's step and momentum product) in the default dtype,
    so that is `dtype` here too."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        return _run_torch(make, params, grads, dtype, layout)
    finally:
        torch.set_default_dtype(before)


def _run_torch(make, params, grads, dtype, layout):
    perm = {k: TO_TORCH.get(k, tuple(range(v.ndim))) if layout else tuple(range(v.ndim))
            for k, v in params.items()}
    tensors = {k: torch.nn.Parameter(torch.tensor(np.transpose(v, perm[k]), dtype=dtype))
               for k, v in params.items()}
    opt = make(list(tensors.values()))
    for lr, g in zip(LRS, grads):
        for group in opt.param_groups:
            group["lr"] = lr
        for k, t in tensors.items():
            t.grad = torch.tensor(np.transpose(g[k], perm[k]), dtype=dtype)
        opt.step()
    return {k: np.transpose(t.detach().numpy(), np.argsort(perm[k])) for k, t in tensors.items()}


def schedule(count):
    return jnp.asarray(LRS, jnp.float32)[count]


def run_optax(tx, params, grads):
    p = {k: jnp.asarray(v, jnp.float32) for k, v in params.items()}
    state = tx.init(p)

    @jax.jit
    def step(p, state, g):
        updates, state = tx.update(g, state, p)
        return optax.apply_updates(p, updates), state

    for g in grads:
        p, state = step(p, state, {k: jnp.asarray(v, jnp.float32) for k, v in g.items()})
    return {k: np.asarray(v) for k, v in p.items()}


def assert_same(a, b, **tol):
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_allclose(a[k], b[k], err_msg=k, **tol)


B1, B2, WD = 0.9, 0.99, 0.1

B3, ALPHA, T_ALPHA_B3 = 0.999, 5.0, 4  # AdEMAMix: the warmups end within the 7 steps
ADEMAMIX_JAX = load_submission(SUBMISSIONS / "ademamix", "jax")  # its alpha and b3 schedules


def ademamix_torch(ps):
    """`pytorch_optimizer.AdEMAMix` as submissions/ademamix uses it (a package of its own)."""
    from pytorch_optimizer import AdEMAMix

    return AdEMAMix(ps, lr=0.0, betas=(B1, B2, B3), alpha=ALPHA, t_alpha_beta3=T_ALPHA_B3,
                    weight_decay=WD, weight_decouple=True, eps=1e-8)


CASES = {  # name: (PyTorch optimizer, optax transformation)
    "nadamw": (lambda ps: T.nadamw(ps, lr=0.0, betas=(B1, B2), eps=1e-8, weight_decay=WD),
               optax.nadamw(schedule, b1=B1, b2=B2, eps=1e-8, weight_decay=WD)),
    "lamb": (lambda ps: T.LAMB(ps, lr=0.0, betas=(B1, B2), eps=1e-6, weight_decay=WD),
             optax.lamb(schedule, b1=B1, b2=B2, eps=1e-6, weight_decay=WD)),
    "lion": (lambda ps: T.Lion(ps, lr=0.0, betas=(B1, B2), weight_decay=WD),
             optax.lion(schedule, b1=B1, b2=B2, weight_decay=WD)),
    # weight decay 0: then submissions/adafactor's composition is optax.adafactor itself
    "adafactor": (lambda ps: T.Adafactor(ps, lr=0.0, min_dim_size_to_factor=4),
                  optax.adafactor(schedule, min_dim_size_to_factor=4)),
    "adafactor_decay": (lambda ps: T.Adafactor(ps, lr=0.0, min_dim_size_to_factor=4, weight_decay=WD),
                        optax.chain(optax.scale_by_factored_rms(min_dim_size_to_factor=4),
                                    optax.clip_by_block_rms(1.0), optax.scale_by_param_block_rms(),
                                    optax.add_decayed_weights(WD), optax.scale_by_learning_rate(schedule))),
    "ademamix": (ademamix_torch,
                 optax.contrib.ademamix(schedule, b1=B1, b2=B2, b3=ADEMAMIX_JAX.beta3_schedule(B1, B3, T_ALPHA_B3),
                                        alpha=ADEMAMIX_JAX.alpha_schedule(ALPHA, T_ALPHA_B3), eps=1e-8,
                                        weight_decay=WD)),
    "soap": (lambda ps: T.SOAP(ps, lr=0.0, betas=(B1, B2), eps=1e-8, weight_decay=WD,
                               precondition_frequency=2, max_precond_dim=5),
             optax_soap.soap(schedule, b1=B1, b2=B2, eps=1e-8, weight_decay=WD,
                             precondition_frequency=2, max_precond_dim=5)),
}


def skip_without_package(name):
    if name == "ademamix":
        pytest.importorskip("pytorch_optimizer")


@pytest.mark.parametrize("name", sorted(CASES))
def test_pytorch_optimizer_matches_optax(name):
    skip_without_package(name)
    make, tx = CASES[name]
    # For SOAP, max_precond_dim=5 preconditions the axes of 5 or fewer entries, whose Gram matrices
    # here have full rank: distinct eigenvalues, so the eigenbases are the same up to sign.
    params, grads = problem()
    torch_out = run_torch(make, params, grads)
    optax_out = run_optax(tx, params, grads)
    assert_same(torch_out, optax_out, **OPTAX_TOL)
    assert any(np.abs(torch_out[k] - params[k]).max() > 1e-3 for k in params)  # it moved


# -- the papers' equations, in NumPy (float64) ------------------------------------------------------


def nadamw_reference(params, grads, b1=B1, b2=B2, eps=1e-8, wd=WD):
    """Dozat (2016) NAdam, as optax and AlgoPerf write it, with decoupled weight decay."""
    out = {}
    for k, p in params.items():
        m = v = 0.0
        for t, (lr, g) in enumerate(zip(LRS, grads), start=1):
            g = g[k]
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g**2
            m_hat = b1 * m / (1 - b1 ** (t + 1)) + (1 - b1) * g / (1 - b1**t)
            p = p - lr * (m_hat / (np.sqrt(v / (1 - b2**t)) + eps) + wd * p)
        out[k] = p
    return out


def lamb_reference(params, grads, b1=B1, b2=B2, eps=1e-6, wd=WD):
    """You et al. (2020), Algorithm 2 (phi = identity), per tensor."""
    out = {}
    for k, p in params.items():
        m = v = 0.0
        for t, (lr, g) in enumerate(zip(LRS, grads), start=1):
            g = g[k]
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g**2
            r = (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
            u = r + wd * p
            p = p - lr * np.linalg.norm(p) / np.linalg.norm(u) * u
        out[k] = p
    return out


def lion_reference(params, grads, b1=B1, b2=B2, wd=WD):
    """Chen et al. (2023), Program 1."""
    out = {}
    for k, p in params.items():
        m = 0.0
        for lr, g in zip(LRS, grads):
            g = g[k]
            p = p - lr * (np.sign(b1 * m + (1 - b1) * g) + wd * p)
            m = b2 * m + (1 - b2) * g
        out[k] = p
    return out


def adafactor_reference(params, grads, decay_rate=0.8, eps1=1e-30, eps2=1e-3, d=1.0, wd=WD, min_dim=4):
    """Shazeer & Stern (2018), Algorithms 4 and 5 (row and column *sums*, update clipping,
    relative step max(eps2, RMS(X)) * rho_t with rho_t the scheduled lr), factored over the two
    largest axes of a tensor; plus lr * wd * X."""
    rms = lambda x: np.sqrt(np.mean(x**2))  # noqa: E731
    out = {}
    for k, x in params.items():
        dims = T.factored_dims(x.shape, min_dim)
        R = C = V = 0.0
        for t, (lr, g) in enumerate(zip(LRS, grads), start=1):
            g = g[k]
            beta = 1 - t ** (-decay_rate)
            if dims is None:
                V = beta * V + (1 - beta) * (g**2 + eps1)
                v_hat = V
            else:
                row_axis, col_axis = dims[0], dims[1]  # R sums over the largest axis, C over the other
                R = beta * R + (1 - beta) * np.sum(g**2 + eps1, axis=col_axis, keepdims=True)
                C = beta * C + (1 - beta) * np.sum(g**2 + eps1, axis=row_axis, keepdims=True)
                v_hat = R * C / np.sum(R, axis=row_axis, keepdims=True)
            u = g / np.sqrt(v_hat)
            u = u / max(1.0, rms(u) / d)
            x = x - lr * (max(eps2, rms(x)) * u + wd * x)
        out[k] = x
    return out


def soap_reference(params, grads, b1=B1, b2=B2, eps=1e-8, wd=WD, freq=2, max_dim=5):
    """Vyas et al. (2025), Algorithm 3, for a tensor of any rank (one preconditioner per axis of at
    most `max_dim` entries), with the reference code's first step (preconditioners only) and its
    eigenvalue sort before each QR refresh."""

    def rotate(x, qs, back=False):  # apply Q_i^T (or Q_i) along every axis i that has one
        for i, q in enumerate(qs):
            if q is not None:
                x = np.moveaxis(np.tensordot(q if back else q.T, x, axes=([1], [i])), 0, i)
        return x

    out = {}
    for k, p in params.items():
        axes = [i if p.ndim > 1 and n <= max_dim else None for i, n in enumerate(p.shape)]
        gram = lambda g, i: np.tensordot(g, g, axes=([j for j in range(g.ndim) if j != i],) * 2)  # noqa: E731
        Ls = Qs = None
        m = np.zeros_like(p)
        v = np.zeros_like(p)
        t = 0
        for lr, g in zip(LRS, grads):
            g = g[k]
            if Ls is None:
                Ls = [None if i is None else (1 - b2) * gram(g, i) for i in axes]
                Qs = [None if L is None else np.linalg.eigh(L)[1][:, ::-1] for L in Ls]
                p = p - lr * wd * p
                continue
            t += 1
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * rotate(g, Qs) ** 2
            n = (rotate(m, Qs) / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
            p = p - lr * (rotate(n, Qs, back=True) + wd * p)
            Ls = [None if L is None else b2 * L + (1 - b2) * gram(g, i) for i, L in enumerate(Ls)]
            if t % freq == 0:
                for i, (L, Q) in enumerate(zip(Ls, Qs)):
                    if L is not None:
                        order = np.argsort(-np.diag(Q.T @ L @ Q), kind="stable")
                        v = np.take(v, order, axis=i)
                        Qs[i] = np.linalg.qr(L @ Q[:, order])[0]
        out[k] = p
    return out


def ademamix_reference(params, grads, b1=B1, b2=B2, b3=B3, alpha=ALPHA, warmup=T_ALPHA_B3, eps=1e-8, wd=WD):
    """Pagliardini et al. (2024), Algorithm 1, with the warmups of alpha (linear) and b3 (the
    slow EMA's half-life linear in t) over T_alpha = T_b3 = `warmup` updates."""
    out = {}
    for k, p in params.items():
        m1 = m2 = v = 0.0
        for t, (lr, g) in enumerate(zip(LRS, grads), start=1):
            g = g[k]
            alpha_t = min(t * alpha / warmup, alpha)
            s = t / warmup
            b3_t = min(np.exp(np.log(b1) * np.log(b3) / ((1 - s) * np.log(b3) + s * np.log(b1))), b3)
            m1 = b1 * m1 + (1 - b1) * g
            m2 = b3_t * m2 + (1 - b3_t) * g
            v = b2 * v + (1 - b2) * g**2
            p = p - lr * ((m1 / (1 - b1**t) + alpha_t * m2) / (np.sqrt(v / (1 - b2**t)) + eps) + wd * p)
        out[k] = p
    return out


REFERENCES = {
    "ademamix": (ademamix_reference, "ademamix"),
    "nadamw": (nadamw_reference, "nadamw"),
    "lamb": (lamb_reference, "lamb"),
    "lion": (lion_reference, "lion"),
    "adafactor": (adafactor_reference, "adafactor_decay"),
    "soap": (soap_reference, "soap"),
}


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_pytorch_optimizer_follows_the_papers_equations(name):
    skip_without_package(name)
    reference, case = REFERENCES[name]
    params, grads = problem(seed=1)
    torch_out = run_torch(CASES[case][0], params, grads, dtype=torch.float64, layout=False)
    assert_same(torch_out, reference(params, grads), **EQUATION_TOL)


def test_sam_matches_optax_and_the_paper():
    """Foret et al. (2021), Algorithm 1 with an SGD base, on f(p) = sum a p^2 / 2 (gradient a p):
    e = rho g / ||g|| over all tensors, then p <- p - lr grad f(p + e)."""
    rho = 0.05
    params, _ = problem(seed=2)
    curvature = {k: np.random.default_rng(3).uniform(0.5, 2.0, v.shape) for k, v in params.items()}

    expected = dict(params)
    for lr in LRS:
        g = {k: curvature[k] * expected[k] for k in params}
        norm = np.sqrt(sum(np.sum(x**2) for x in g.values()))
        expected = {k: expected[k] - lr * curvature[k] * (expected[k] + rho * g[k] / norm) for k in params}

    tensors = {k: torch.nn.Parameter(torch.tensor(v, dtype=torch.float64)) for k, v in params.items()}

    def set_grads():
        for k, t in tensors.items():
            t.grad = torch.tensor(curvature[k]) * t.detach()

    base = torch.optim.SGD(list(tensors.values()), lr=0.0)
    sam = T.SAM(list(tensors.values()), base, rho=rho)
    for lr in LRS:
        base.param_groups[0]["lr"] = lr
        set_grads()
        sam.step(set_grads)
    assert_same({k: t.detach().numpy() for k, t in tensors.items()}, expected, **EQUATION_TOL)

    tx = optax.contrib.sam(optax.sgd(schedule), optax.chain(optax.contrib.normalize(), optax.sgd(rho)),
                           sync_period=2, opaque_mode=True)
    a = {k: jnp.asarray(v, jnp.float32) for k, v in curvature.items()}
    grad_fn = lambda p, _: jax.tree.map(lambda ai, pi: ai * pi, a, p)  # noqa: E731
    p = {k: jnp.asarray(v, jnp.float32) for k, v in params.items()}
    state = tx.init(p)

    @jax.jit
    def step(p, state):
        updates, state = tx.update(grad_fn(p, 0), state, p, grad_fn=grad_fn)
        return optax.apply_updates(p, updates), state

    for _ in LRS:
        p, state = step(p, state)
    assert_same({k: np.asarray(v) for k, v in p.items()}, expected, **OPTAX_TOL)


def test_soap_is_the_same_in_either_layout():
    """Per-axis preconditioning does not care about the order of axes (PyTorch's layout)."""
    params, grads = problem(seed=4)
    make = CASES["soap"][0]
    assert_same(run_torch(make, params, grads, layout=True), run_torch(make, params, grads, layout=False),
                **OPTAX_TOL)


def test_schedule_free_composition_is_the_authors_algorithm():
    """The `schedulefree` package (the paper's authors') and submissions/schedule_free_adamw's optax
    composition give the same y (training) and x (evaluation) points; optax 0.2.8's own
    `schedule_free_adamw` does not during warmup, because its z step lags one update behind."""
    schedulefree = pytest.importorskip("schedulefree")
    from harness.loader import load_submission
    from harness.spec import Hyperparameters
    from tests.submissions.baselines import SUBMISSIONS

    hp = Hyperparameters({"learning_rate": 0.01, "one_minus_beta1": 0.1, "beta2": 0.99,
                          "weight_decay": 0.1, "warmup_factor": 0.3, "weight_lr_power": 2.0})
    step_hint = 10  # warmup: 3 updates
    params, grads = problem(seed=5, steps=6)

    tensors = {k: torch.nn.Parameter(torch.tensor(v, dtype=torch.float32)) for k, v in params.items()}
    opt = schedulefree.AdamWScheduleFree(list(tensors.values()), lr=hp.learning_rate, betas=(0.9, 0.99),
                                         eps=1e-8, weight_decay=hp.weight_decay, warmup_steps=3, r=0.0,
                                         weight_lr_power=2.0)
    opt.train()
    for g in grads:
        for k, t in tensors.items():
            t.grad = torch.tensor(g[k], dtype=torch.float32)
        opt.step()
    torch_y = {k: t.detach().numpy().copy() for k, t in tensors.items()}
    opt.eval()
    torch_x = {k: t.detach().numpy().copy() for k, t in tensors.items()}

    def run(tx):
        p = {k: jnp.asarray(v, jnp.float32) for k, v in params.items()}
        state = tx.init(p)

        @jax.jit
        def step(p, state, g):
            updates, state = tx.update(g, state, p)
            return optax.apply_updates(p, updates), state

        for g in grads:
            p, state = step(p, state, {k: jnp.asarray(v, jnp.float32) for k, v in g.items()})
        x = optax.contrib.schedule_free_eval_params(state, p)
        return {k: np.asarray(v) for k, v in p.items()}, {k: np.asarray(v) for k, v in x.items()}

    ours = load_submission(SUBMISSIONS / "schedule_free_adamw", "jax").make_optimizer(hp, step_hint)
    y, x = run(ours)
    assert_same(torch_y, y, **OPTAX_TOL)
    assert_same(torch_x, x, **OPTAX_TOL)
    stock_y, _ = run(optax.contrib.schedule_free_adamw(hp.learning_rate, warmup_steps=3, b1=0.9, b2=0.99,
                                                        eps=1e-8, weight_decay=hp.weight_decay))
    assert max(np.abs(stock_y[k] - torch_y[k]).max() for k in params) > 1e-3


def test_torch_and_optax_muon_share_their_newton_schulz_defaults():
    """submissions/muon relies on both libraries' default Newton-Schulz coefficients and step
    count being the same (Jordan's quintic, 5 steps); a library upgrade that changes one fails here."""
    import inspect

    torch_defaults = inspect.signature(torch.optim.Muon).parameters
    optax_defaults = inspect.signature(optax.contrib.scale_by_muon).parameters
    assert torch_defaults["ns_coefficients"].default == optax_defaults["ns_coeffs"].default == (3.4445, -4.7750, 2.0315)
    assert torch_defaults["ns_steps"].default == optax_defaults["ns_steps"].default == 5
