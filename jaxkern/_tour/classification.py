"""Tour stops for GP classification: Laplace, EP, variational bound and pathwise samples."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from ..gp import (
    BernoulliProbit,
    expectation_propagation,
    laplace,
    latent_predict,
    pathwise_samples,
    predict_proba,
    vgp_elbo,
)
from ..kernels import RBF
from . import Stop, dtype_tol, plotting

ORDER = 21


def _data(n=30):
    # numpy's legacy RandomState stream is fixed across versions (GPy's EP golden value below
    # was computed on these very points)
    rng = np.random.RandomState(0)
    X = rng.uniform(-3, 3, (n, 2))
    y = (np.sin(X[:, 0]) + 0.5 * X[:, 1] + 0.5 * rng.randn(n) > 0).astype(int)
    return X, y


def _rbf(X, Y, lengthscale, variance):
    return variance * np.exp(-0.5 * ((X[:, None] - Y[None]) ** 2).sum(-1) / lengthscale**2)


def _laplace() -> Stop:
    X, y = _data()
    Xj = jnp.asarray(X, jnp.result_type(float))
    ours = float(laplace(RBF(1.1, 1.7), Xj, jnp.asarray(y), jitter=0.0).log_marginal_likelihood)
    # Reference: R&W Algorithm 3.1 written densely in NumPy float64.
    K = _rbf(X, X, 1.1, 1.7)
    f = np.zeros(len(y))
    for _ in range(50):
        p = 1 / (1 + np.exp(-f))
        w = p * (1 - p)
        f = K @ np.linalg.solve(np.eye(len(y)) + w[:, None] * K, w * f + y - p)
    p = 1 / (1 + np.exp(-f))
    ref = (-0.5 * f @ (y - p) - np.logaddexp(0, -(2 * y - 1) * f).sum()
           - 0.5 * np.linalg.slogdet(np.eye(len(y)) + K * (p * (1 - p)))[1])
    return Stop("laplace (logit)", "n=30, 2-D: LML vs dense NumPy Newton", abs(ours - ref)
                / abs(ref), dtype_tol(Xj, 1e-10, 1e-4))


def _ep() -> Stop:
    X, y = _data()
    Xj = jnp.asarray(X, jnp.result_type(float))
    ours = float(expectation_propagation(RBF(1.1, 1.7), Xj, jnp.asarray(y),
                                         jitter=0.0).log_marginal_likelihood)
    ref = -15.588233305157658  # GPy 1.15.0 EP (probit), same data and kernel, float64
    return Stop("expectation_propagation", "n=30, 2-D: log Z_EP vs GPy's EP", abs(ours - ref)
                / abs(ref), dtype_tol(Xj, 1e-6, 1e-3))


def _elbo() -> Stop:
    X, y = _data(8)
    Xj = jnp.asarray(X, jnp.result_type(float))
    m = 0.3 * np.cos(np.arange(8))
    ours = float(vgp_elbo(RBF(1.1, 1.7), Xj, jnp.asarray(y), jnp.asarray(m, Xj.dtype),
                          jnp.eye(8, dtype=Xj.dtype), jitter=1e-10 if Xj.dtype == "float64"
                          else 1e-6, num_points=40))
    # Reference: q(f) = N(L m, K); expected log likelihoods on a fine trapezoid grid, and
    # KL(N(0 + L m, L L^T) || N(0, K)) = |m|^2 / 2 when S = I (whitened).
    L = np.linalg.cholesky(_rbf(X, X, 1.1, 1.7) + 1e-10 * np.eye(8))
    mu, sd = L @ m, np.sqrt(np.diag(L @ L.T))
    z = np.linspace(-12, 12, 4001)
    w = np.exp(-0.5 * z * z) * (z[1] - z[0]) / math.sqrt(2 * math.pi)
    f = mu[:, None] + sd[:, None] * z
    ell = np.sum(w * -np.logaddexp(0, -(2 * y - 1)[:, None] * f))
    ref = ell - 0.5 * m @ m
    return Stop("vgp_elbo (whitened)", "n=8: ELBO vs trapezoid quadrature", abs(ours - ref)
                / abs(ref), dtype_tol(Xj, 1e-9, 1e-4))


def _pathwise(outdir) -> Stop:
    X, y = _data()
    dtype = jnp.result_type(float)
    Xj, yj, k = jnp.asarray(X, dtype), jnp.asarray(y), RBF(1.1, 1.7)
    approx = expectation_propagation(k, Xj, yj)
    g = np.linspace(-3, 3, 40)
    grid = jnp.asarray(np.stack(np.meshgrid(g, g), -1).reshape(-1, 2), dtype)
    post = latent_predict(k, Xj, approx, grid)
    samples = pathwise_samples(k, Xj, approx, grid, key=jax.random.key(0), num_samples=400)
    # Monte Carlo error of the sample mean, in posterior standard deviations (max over 1600
    # points of |z| with z ~ N(0, 1) per point stays below 4.5 in all but ~1% of draws)
    z = (jnp.mean(samples, 0) - post.mean) / jnp.sqrt(post.variance / samples.shape[0])
    plt = plotting()
    if plt is not None:
        p = predict_proba(BernoulliProbit(), post).reshape(40, 40)
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.8))
        im = axes[0].contourf(g, g, p, levels=20, cmap="RdBu_r")
        fig.colorbar(im, ax=axes[0])
        axes[0].contour(g, g, p, levels=[0.5], colors="k")
        axes[0].scatter(X[:, 0], X[:, 1], c=y, cmap="RdBu_r", edgecolors="k")
        axes[0].set(title="EP: P(y = 1)")
        im = axes[1].contourf(g, g, jnp.std(samples, 0).reshape(40, 40), levels=20)
        fig.colorbar(im, ax=axes[1])
        axes[1].set(title="pathwise samples: latent sd")
        fig.tight_layout()
        fig.savefig(outdir / "gp_classification.png", dpi=100)
        plt.close(fig)
    return Stop("pathwise_samples (EP)", "400 paths on a 40x40 grid: max |mean z-score|",
                float(jnp.max(jnp.abs(z))), 4.5)


def stops(outdir):
    return [_laplace, _ep, _elbo, lambda: _pathwise(outdir)]
