"""SOAP as an optax transformation (optax 0.2.8 has no SOAP or Shampoo; nor has any other
well-kept JAX package on PyPI). Mirrors `torch_optimizers.SOAP` formula for formula; see its
docstring for the update. Vyas et al. 2025, "SOAP: Improving and Stabilizing Shampoo using Adam"."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax


class ScaleBySoapState(NamedTuple):
    count: jax.Array  # calls so far; the first only builds the preconditioners
    mu: optax.Updates  # first moment, in the parameters' own basis
    nu: optax.Updates  # second moment, in the rotated basis
    gg: tuple  # per parameter leaf: a tuple with one (n, n) preconditioner or None per axis
    q: tuple  # per parameter leaf: the eigenbases, laid out like `gg`


def _project(x, qs, back=False):
    """Rotate every axis of `x` by its eigenbasis (Q^T x, or Q x when `back`); see torch's."""
    for q in qs:
        x = jnp.moveaxis(x, 0, -1) if q is None else jnp.tensordot(x, q, axes=([0], [1 if back else 0]))
    return x


def _gram(g, axis):
    others = [i for i in range(g.ndim) if i != axis]
    return jnp.tensordot(g, g, axes=(others, others))


def _eigenbasis(mat):
    return jnp.flip(jnp.linalg.eigh(mat)[1], axis=1)


def scale_by_soap(b1: float = 0.95, b2: float = 0.95, eps: float = 1e-8,
                  precondition_frequency: int = 10,
                  max_precond_dim: int = 10000) -> optax.GradientTransformation:
    """Adam in the eigenbasis of Shampoo's per-axis preconditioners (the SOAP direction)."""

    def axes_of(p) -> list:
        return [i if p.ndim > 1 and n <= max_precond_dim else None for i, n in enumerate(p.shape)]

    def init_fn(params):
        leaves = jax.tree.leaves(params)
        gg = tuple(tuple(None if i is None else jnp.zeros((p.shape[i],) * 2, p.dtype) for i in axes_of(p))
                   for p in leaves)
        q = tuple(tuple(None if i is None else jnp.eye(p.shape[i], dtype=p.dtype) for i in axes_of(p))
                  for p in leaves)
        return ScaleBySoapState(count=jnp.zeros([], jnp.int32), mu=optax.tree.zeros_like(params),
                                nu=optax.tree.zeros_like(params), gg=gg, q=q)

    def accumulate(gg, grads):
        return tuple(tuple(None if L is None else b2 * L + (1 - b2) * _gram(g, i) for i, L in enumerate(ls))
                     for ls, g in zip(gg, grads))

    def first(state, grads):
        gg = accumulate(state.gg, grads)
        q = tuple(tuple(None if L is None else _eigenbasis(L) for L in ls) for ls in gg)
        return [jnp.zeros_like(g) for g in grads], jax.tree.leaves(state.mu), jax.tree.leaves(state.nu), gg, q

    def refresh(nu, gg, q):
        new_nu, new_q = [], []
        for v, ls, qs in zip(nu, gg, q):
            out = []
            for i, (L, Q) in enumerate(zip(ls, qs)):
                if L is None:
                    out.append(None)
                    continue
                order = jnp.argsort(-jnp.diag(Q.T @ L @ Q), stable=True)
                v = jnp.take(v, order, axis=i)
                out.append(jnp.linalg.qr(L @ Q[:, order])[0])
            new_nu.append(v)
            new_q.append(tuple(out))
        return new_nu, tuple(new_q)

    def later(state, grads):
        t = state.count  # the Adam update number: calls after the first
        bc1, bc2 = 1 - b1**t, 1 - b2**t
        mu, nu, updates = [], [], []
        for g, m, v, qs in zip(grads, jax.tree.leaves(state.mu), jax.tree.leaves(state.nu), state.q):
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * jnp.square(_project(g, qs))
            u = (_project(m, qs) / bc1) / (jnp.sqrt(v / bc2) + eps)
            mu.append(m)
            nu.append(v)
            updates.append(_project(u, qs, back=True))
        gg = accumulate(state.gg, grads)
        nu, q = jax.lax.cond(t % precondition_frequency == 0, refresh, lambda nu, gg, q: (nu, q),
                             nu, gg, state.q)
        return updates, mu, nu, gg, q

    def update_fn(updates, state, params=None):
        del params
        leaves, treedef = jax.tree.flatten(updates)
        new_updates, mu, nu, gg, q = jax.lax.cond(state.count == 0, first, later, state, leaves)
        unflat = lambda xs: jax.tree.unflatten(treedef, xs)  # noqa: E731
        return unflat(new_updates), ScaleBySoapState(
            count=optax.safe_increment(state.count), mu=unflat(mu), nu=unflat(nu), gg=gg, q=q)

    return optax.GradientTransformation(init_fn, update_fn)


def soap(learning_rate: optax.ScalarOrSchedule, b1: float = 0.95, b2: float = 0.95, eps: float = 1e-8,
         weight_decay: float = 0.0, precondition_frequency: int = 10,
         max_precond_dim: int = 10000) -> optax.GradientTransformation:
    """SOAP with decoupled weight decay: `p <- p - lr (u_soap + weight_decay p)`.

    Args:
      learning_rate: the step size (or an optax schedule).
      b1: decay of the first moment. b2: decay of the second moment and of the preconditioners.
      eps: added to the root of the second moment, after bias correction (as `optax.adam`).
      weight_decay: decoupled weight decay, multiplied by the learning rate.
      precondition_frequency: eigenbases are refreshed every this many updates.
      max_precond_dim: axes longer than this get no preconditioner.
    """
    return optax.chain(
        scale_by_soap(b1, b2, eps, precondition_frequency, max_precond_dim),
        optax.add_decayed_weights(weight_decay),
        optax.scale_by_learning_rate(learning_rate),
    )

