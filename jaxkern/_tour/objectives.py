"""Tour stops for kernel objectives used inside training loops (issue 22): KRR heads and
self-distillation (gp), coding rates (features), balancing weights (density)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..density import adaptive_balancing, entropy_balancing
from ..features import coding_rate, coding_rate_clusters, nystrom_features
from ..gp import krr_loss, self_distillation, self_distillation_limit
from ..kernels import RBF
from . import Stop, dtype_tol

ORDER = 85


def _sine():
    x = np.linspace(0, 1, 11)
    y = np.sin(2 * np.pi * x) + np.random.default_rng(1).normal(0, 0.5, 11)
    return np.exp(-8 * (x[:, None] - x[None, :]) ** 2), y


def _self_distillation() -> Stop:
    K, y = _sine()
    Kj, yj = jnp.asarray(K), jnp.asarray(y)
    ours = self_distillation(Kj, yj, ridge=0.05, alpha=0.3, steps=5).fitted
    fit = y  # Reference: five rounds of KRR one by one in NumPy float64.
    for _ in range(5):
        fit = K @ np.linalg.solve(K + 0.05 * np.eye(11), 0.3 * y + 0.7 * fit)
    lim = self_distillation_limit(Kj, yj, ridge=0.05, alpha=0.3).fitted
    far = self_distillation(Kj, yj, ridge=0.05, alpha=0.3, steps=jnp.inf).fitted
    error = max(float(np.max(np.abs(np.asarray(ours) - fit))),
                float(jnp.max(jnp.abs(lim - far))))
    return Stop("self_distillation", "5 rounds and the limit vs NumPy iteration, n=11", error,
                dtype_tol(Kj, 1e-10, 1e-3))


def _krr_gradient() -> Stop:
    X = jnp.linspace(0, 3, 30)[:, None]
    S = jnp.array([[0.4], [1.5], [2.6]], X.dtype)
    grad = jax.grad(lambda S: krr_loss(RBF(), S, jnp.sin(S[:, 0]), X, jnp.sin(X[:, 0]),
                                       ridge=1e-3))(S)
    eps = 1e-4 if X.dtype == jnp.float64 else 1e-2
    e = jnp.zeros_like(S).at[1, 0].set(eps)
    loss = lambda S: float(krr_loss(RBF(), S, jnp.sin(S[:, 0]), X, jnp.sin(X[:, 0]),  # noqa: E731
                                    ridge=1e-3))
    fd = (loss(S + e) - loss(S - e)) / (2 * eps)
    return Stop("krr_loss (implicit gradient)", "d loss / d support vs central differences",
                abs(float(grad[1, 0]) - fd) / max(abs(fd), 1e-12), dtype_tol(X, 1e-6, 5e-2))


def _coding_rate() -> Stop:
    rng = np.random.default_rng(0)
    Z = rng.standard_normal((60, 5))
    y = np.arange(60) % 3
    R = 0.5 * np.linalg.slogdet(np.eye(5) + 5 / (60 * 0.25) * Z.T @ Z)[1]
    Rc = sum(20 / 120 * np.linalg.slogdet(np.eye(5) + 5 / (20 * 0.25) * Z[y == c].T
                                          @ Z[y == c])[1] for c in range(3))
    Zj = jnp.asarray(Z)
    error = max(abs(float(coding_rate(Zj, eps=0.5)) - R),
                abs(float(coding_rate_clusters(Zj, jnp.asarray(np.eye(3)[y]), eps=0.5)) - Rc))
    return Stop("coding_rate, coding_rate_clusters", "60 x 5 Gaussian features vs NumPy slogdet",
                error, dtype_tol(Zj, 1e-10, 1e-4))


def _balancing() -> Stop:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 3))
    target = np.array([0.3, -0.2, 0.1])
    out = entropy_balancing(jnp.asarray(X), jnp.asarray(target))
    error = float(np.max(np.abs(np.asarray(out.weights) @ X - target)))
    return Stop("entropy_balancing", "weighted mean of 400 normals hits a target mean", error,
                dtype_tol(out.weights, 1e-9, 1e-4))


def _adaptive_balancing() -> Stop:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 2))
    treated = rng.random(300) < 1 / (1 + np.exp(1 - X[:, 0]))
    Xj = jnp.asarray(X)
    F = nystrom_features(RBF(lengthscale=1.5), Xj, Xj[:20])
    target = F[treated].mean(0)
    out = adaptive_balancing(F, target, num_balanced=(3, 6, 12),
                             base_weights=jnp.asarray(~treated, F.dtype))
    J = int(out.num_balanced)
    error = float(jnp.max(jnp.abs(out.weights @ F[:, :J] - target[:J])))
    return Stop("adaptive_balancing",
                f"leading {J} Nystrom functions of 20 balanced, J by remaining MMD", error,
                dtype_tol(out.weights, 1e-9, 1e-4))


def stops(outdir):
    return [_self_distillation, _krr_gradient, _coding_rate, _balancing, _adaptive_balancing]
