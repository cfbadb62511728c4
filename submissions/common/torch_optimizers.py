"""PyTorch optimizers that `torch.optim` (2.13) lacks, each mirroring its optax counterpart formula
for formula, so that a baseline's two modules run the same algorithm.

Why each is hand-written:
- `LAMB`, `Lion`, `SAM`, `SOAP`: not in `torch.optim`.
- `Adafactor`: `torch.optim.Adafactor` is a different variant (relative step min(lr, 1/sqrt(t))
  times max(eps2, rms(p)), the second-moment estimate floored at eps1^2 instead of eps1 added to
  g^2, only the last two dims factored, weight decay before the update; like optax it does clip
  the update by its block RMS, u / max(1, rms(u) / d)); this one is `optax.adafactor`'s
  composition.
`nadamw` is no class: `torch.optim.NAdam` computes `optax.nadamw` once its momentum decay is off.

Conventions, as in optax: `step` counts updates from 1 for bias corrections; decoupled weight
decay is `wd * p` added to the update before the learning rate multiplies it (`add_decayed_weights`
then `scale_by_learning_rate`), so `p <- p - lr (u + wd p)`. The `lr` of a param group is what a
`LambdaLR` schedules. The tests check each against optax and against the paper's equations.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch


def _bias_correction(beta: float, step: int) -> float:
    return 1.0 - beta**step


def _adam_moments(state: dict, p: torch.Tensor, b1: float, b2: float):
    """Advance Adam's step count and moments in place (m = b1 m + (1 - b1) g,
    v = b2 v + (1 - b2) g^2); returns (t, m, v, g)."""
    if not state:
        state["step"] = 0
        state["exp_avg"] = torch.zeros_like(p)
        state["exp_avg_sq"] = torch.zeros_like(p)
    state["step"] += 1
    m, v, g = state["exp_avg"], state["exp_avg_sq"], p.grad
    m.mul_(b1).add_(g, alpha=1 - b1)
    v.mul_(b2).addcmul_(g, g, value=1 - b2)
    return state["step"], m, v, g


def nadamw(params, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0) -> torch.optim.NAdam:
    """`optax.nadamw` (Dozat 2016, "Incorporating Nesterov Momentum into Adam"; decoupled weight
    decay, Loshchilov & Hutter 2019) as `torch.optim.NAdam`:

        m_t = b1 m + (1 - b1) g             v_t = b2 v + (1 - b2) g^2
        m^  = b1 m_t / (1 - b1^(t+1)) + (1 - b1) g / (1 - b1^t)
        p  <- p - lr (m^ / (sqrt(v_t / (1 - b2^t)) + eps) + wd p)

    torch's NAdam uses mu_t = b1 (1 - 0.96^(t psi) / 2) where optax uses b1; an infinite momentum
    decay psi makes them equal (0.96^inf = 0; psi = 0 would give b1 / 2)."""
    return torch.optim.NAdam(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                             momentum_decay=float("inf"), decoupled_weight_decay=True)


class LAMB(torch.optim.Optimizer):
    """`optax.lamb` (You et al. 2020, "Large Batch Optimization for Deep Learning: Training BERT in
    76 minutes"): Adam's direction plus decoupled weight decay, rescaled per tensor by the trust
    ratio ||p|| / ||u|| (1 where either norm is 0):

        u  = m_t / (1 - b1^t) / (sqrt(v_t / (1 - b2^t)) + eps) + wd p
        p <- p - lr (||p|| / ||u||) u
    """

    def __init__(self, params, lr, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                t, m, v, g = _adam_moments(self.state[p], p, b1, b2)
                update = (m / _bias_correction(b1, t)) / ((v / _bias_correction(b2, t)).sqrt_().add_(eps))
                update.add_(p, alpha=wd)
                p_norm, u_norm = torch.linalg.vector_norm(p), torch.linalg.vector_norm(update)
                ratio = torch.where((p_norm == 0) | (u_norm == 0), torch.ones_like(p_norm), p_norm / u_norm)
                p.sub_(update * ratio, alpha=lr)


class Lion(torch.optim.Optimizer):
    """`optax.lion` (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms"):

        u  = sign(b1 m + (1 - b1) g) + wd p      p <- p - lr u
        m <- b2 m + (1 - b2) g
    """

    def __init__(self, params, lr, betas=(0.9, 0.99), weight_decay=0.0):
        super().__init__(params, dict(lr=lr, betas=betas, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            lr, (b1, b2), wd = group["lr"], group["betas"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["exp_avg"] = torch.zeros_like(p)
                m, g = state["exp_avg"], p.grad
                update = torch.sign(m * b1 + g * (1 - b1)).add_(p, alpha=wd)
                p.sub_(update, alpha=lr)
                m.mul_(b2).add_(g, alpha=1 - b2)


def factored_dims(shape: tuple[int, ...], min_dim_size_to_factor: int) -> tuple[int, int] | None:
    """optax's `_factored_dims`: the (second largest, largest) axes when the second largest has at
    least `min_dim_size_to_factor` entries, else None (no factoring)."""
    if len(shape) < 2:
        return None
    order = np.argsort(shape)
    if shape[order[-2]] < min_dim_size_to_factor:
        return None
    return int(order[-2]), int(order[-1])


def _rms(x: torch.Tensor) -> torch.Tensor:
    return x.square().mean().sqrt()


class Adafactor(torch.optim.Optimizer):
    """`optax.adafactor` without momentum (Shazeer & Stern 2018, "Adafactor: Adaptive Learning
    Rates with Sublinear Memory Cost"), with decoupled weight decay scaled by the learning rate.

    At update t (from 1), with b_t = 1 - t^(-decay_rate) and G = g^2 + eps:
      factored (two axes of >= min_dim_size_to_factor):  R <- b_t R + (1-b_t) mean_cols(G),
        C <- b_t C + (1-b_t) mean_rows(G),  u = g / sqrt(R C / mean(R))
      otherwise:  V <- b_t V + (1-b_t) G,  u = g / sqrt(V)
      u <- u / max(1, rms(u) / clipping_threshold)              (`clip_by_block_rms`)
      u <- u * max(rms(p), min_scale)  if multiply_by_parameter_scale  (`scale_by_param_block_rms`)
      p <- p - lr (u + wd p)
    """

    def __init__(self, params, lr, decay_rate=0.8, min_dim_size_to_factor=128, clipping_threshold=1.0,
                 multiply_by_parameter_scale=True, eps=1e-30, min_scale=1e-3, weight_decay=0.0):
        super().__init__(params, dict(
            lr=lr, decay_rate=decay_rate, min_dim_size_to_factor=min_dim_size_to_factor,
            clipping_threshold=clipping_threshold, multiply_by_parameter_scale=multiply_by_parameter_scale,
            eps=eps, min_scale=min_scale, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g, state = p.grad, self.state[p]
                dims = factored_dims(tuple(p.shape), group["min_dim_size_to_factor"])
                if not state:
                    state["step"] = 0
                    if dims is None:
                        state["v"] = torch.zeros_like(p)
                    else:
                        state["v_row"] = torch.zeros_like(p).mean(dim=dims[1])
                        state["v_col"] = torch.zeros_like(p).mean(dim=dims[0])
                state["step"] += 1
                decay = 1.0 - state["step"] ** (-group["decay_rate"])
                g_sq = g.square().add_(group["eps"])
                if dims is None:
                    v = state["v"].mul_(decay).add_(g_sq, alpha=1 - decay)
                    update = g * v.rsqrt()
                else:
                    d1, d0 = dims
                    v_row = state["v_row"].mul_(decay).add_(g_sq.mean(dim=d0), alpha=1 - decay)
                    v_col = state["v_col"].mul_(decay).add_(g_sq.mean(dim=d1), alpha=1 - decay)
                    reduced_d1 = d1 - 1 if d1 > d0 else d1
                    row_factor = (v_row / v_row.mean(dim=reduced_d1, keepdim=True)).rsqrt()
                    update = g * row_factor.unsqueeze(d0) * v_col.rsqrt().unsqueeze(d1)
                if group["clipping_threshold"] is not None:
                    update.div_(torch.clamp(_rms(update) / group["clipping_threshold"], min=1.0))
                if group["multiply_by_parameter_scale"]:
                    update.mul_(torch.clamp(_rms(p), min=group["min_scale"]))
                p.sub_(update.add_(p, alpha=group["weight_decay"]), alpha=group["lr"])


class SAM(torch.optim.Optimizer):
    """Sharpness-Aware Minimization (Foret et al. 2021, "Sharpness-Aware Minimization for
    Efficiently Improving Generalization") around a base optimizer, as `optax.contrib.sam(base,
    chain(normalize(), sgd(rho)), sync_period=2, opaque_mode=True)` computes it:

        e = rho g / ||g||  (global norm over all parameters, no epsilon)
        g_sam = gradient of the loss at p + e           p <- base step from p with g_sam

    `step(closure)`: the parameters' `.grad` must hold g; `closure()` must recompute the
    gradients (of the same batch) into `.grad`. The base optimizer keeps its own state and
    schedule; this one holds only `rho`.
    """

    def __init__(self, params, base_optimizer: torch.optim.Optimizer, rho: float):
        super().__init__(params, dict(rho=rho))
        self.base_optimizer = base_optimizer

    @torch.no_grad()
    def step(self, closure: Callable[[], object]):
        params = [p for group in self.param_groups for p in group["params"] if p.grad is not None]
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in params]))
        saved = [p.detach().clone() for p in params]
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.add_(p.grad * (group["rho"] / norm))
        with torch.enable_grad():
            loss = closure()
        for p, w in zip(params, saved):  # back to p exactly (optax keeps the outer parameters)
            p.copy_(w)
        self.base_optimizer.step()
        return loss


def _project(x: torch.Tensor, qs: list, back: bool = False) -> torch.Tensor:
    """Rotate every axis of `x` by its eigenbasis (Q^T x, or Q x when `back`); axes without one
    are passed through. Each step moves the leading axis to the end, so the order comes back."""
    for q in qs:
        if q is None:
            x = x.permute(*range(1, x.dim()), 0)
        else:
            x = torch.tensordot(x, q, dims=([0], [1 if back else 0]))
    return x


def _gram(g: torch.Tensor, axis: int) -> torch.Tensor:
    """G_axis G_axis^T: g contracted with itself over every axis but `axis`."""
    others = [i for i in range(g.dim()) if i != axis]
    return torch.tensordot(g, g, dims=(others, others))


class SOAP(torch.optim.Optimizer):
    """SOAP (Vyas et al. 2025, "SOAP: Improving and Stabilizing Shampoo using Adam"): Adam run in
    the eigenbasis of Shampoo's per-axis preconditioners, one per axis of each parameter tensor of
    at most `max_precond_dim` entries (other axes, and 1-D tensors, get plain Adam), as in the
    authors' reference implementation (defaults: shampoo decay = b2, no dimension merging). The
    same algorithm as `optax_soap.soap` in JAX, and as its `scale_by_soap` chained with
    `add_decayed_weights(wd)` and `scale_by_learning_rate(lr)`.

    Per parameter with axes' preconditioners L_i and eigenbases Q_i:
      first call: L_i = (1 - b2) G_i G_i^T, Q_i = eigh(L_i) (descending); the Adam update is 0
        (never project a gradient on a basis built from itself); weight decay still applies.
      update t = 1, 2, ...:  g' = rotate(g, Q^T);  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g'^2
        u = rotate(rotate(m, Q^T) / (1 - b1^t) / (sqrt(v / (1 - b2^t)) + eps), Q) + wd p
        p <- p - lr u;  L_i <- b2 L_i + (1-b2) G_i G_i^T
        every `precondition_frequency` updates: sort Q_i's columns (and v's axis i) by the
        estimated eigenvalues diag(Q_i^T L_i Q_i), descending, then Q_i <- QR(L_i Q_i).
    `m` is kept in the parameter's own basis, so a new Q needs no re-rotation of it.
    """

    def __init__(self, params, lr, betas=(0.95, 0.95), eps=1e-8, weight_decay=0.0,
                 precondition_frequency=10, max_precond_dim=10000):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      precondition_frequency=precondition_frequency,
                                      max_precond_dim=max_precond_dim))

    @staticmethod
    def _eigenbasis(mat: torch.Tensor) -> torch.Tensor:
        return torch.flip(torch.linalg.eigh(mat)[1], dims=[1])

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g, state = p.grad, self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                    axes = [i if p.dim() > 1 and n <= group["max_precond_dim"] else None
                            for i, n in enumerate(p.shape)]
                    state["GG"] = [None if i is None else (1 - b2) * _gram(g, i) for i in axes]
                    state["Q"] = [None if L is None else self._eigenbasis(L) for L in state["GG"]]
                    p.sub_(p, alpha=lr * wd)
                    continue
                qs = state["Q"]
                state["step"] += 1
                t = state["step"]
                m, v = state["exp_avg"], state["exp_avg_sq"]
                m.mul_(b1).add_(g, alpha=1 - b1)
                g_rot = _project(g, qs)
                v.mul_(b2).addcmul_(g_rot, g_rot, value=1 - b2)
                update = (_project(m, qs) / _bias_correction(b1, t)) / (
                    (v / _bias_correction(b2, t)).sqrt_().add_(eps))
                update = _project(update, qs, back=True)
                p.sub_(update.add_(p, alpha=wd), alpha=lr)
                for i, L in enumerate(state["GG"]):
                    if L is not None:
                        L.mul_(b2).add_(_gram(g, i), alpha=1 - b2)
                if t % group["precondition_frequency"] == 0:
                    self._refresh(state)

    @staticmethod
    def _refresh(state: dict) -> None:
        v = state["exp_avg_sq"]
        for i, (L, q) in enumerate(zip(state["GG"], state["Q"])):
            if L is None:
                continue
            order = torch.argsort(torch.diag(q.T @ L @ q), descending=True)
            v = v.index_select(i, order)
            state["Q"][i] = torch.linalg.qr(L @ q[:, order])[0]
        state["exp_avg_sq"] = v
