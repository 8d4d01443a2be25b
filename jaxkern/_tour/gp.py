"""Tour stops for exact GP regression."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from ..gp import fit, gp_posterior, log_marginal_likelihood
from ..kernels import RBF, Matern52, gram
from . import Stop, dtype_tol, plotting

ORDER = 20


def _data():
    X = jnp.linspace(0, 6, 40)[:, None]
    y = jnp.sin(X[:, 0]) + 0.1 * jax.random.normal(jax.random.key(3), (40,), dtype=X.dtype)
    return X, y


def _lml() -> Stop:
    X, y = _data()
    k, noise = Matern52(lengthscale=1.2, variance=0.8), 0.01
    ours = float(log_marginal_likelihood(k, X, y, noise=noise, jitter=0.0))
    # Reference: the Gaussian log density written out in NumPy float64.
    K = np.asarray(gram(k, X), np.float64) + noise * np.eye(40)
    yy = np.asarray(y, np.float64)
    ref = -0.5 * yy @ np.linalg.solve(K, yy) - 0.5 * np.linalg.slogdet(K)[1] - 20 * math.log(
        2 * math.pi
    )
    tol = dtype_tol(X, 1e-10, 1e-4)
    return Stop("log_marginal_likelihood", "Matern-5/2, n=40 vs NumPy float64", abs(ours - ref)
                / abs(ref), tol)


def _fit(outdir) -> Stop:
    X, y = _data()
    result = fit(RBF(), X, y, noise=0.1, num_steps=300)
    X_test = jnp.linspace(0, 6, 200)[:, None]
    post = gp_posterior(result.kernel, X, y, X_test, noise=result.noise)
    error = float(jnp.sqrt(jnp.mean((post.mean - jnp.sin(X_test[:, 0])) ** 2)))
    plt = plotting()
    if plt is not None:
        sd = jnp.sqrt(post.variance)
        fig, ax = plt.subplots(figsize=(6, 3))
        ax.fill_between(X_test[:, 0], post.mean - 2 * sd, post.mean + 2 * sd, alpha=0.3,
                        label="mean ± 2 sd")
        ax.plot(X_test[:, 0], post.mean, label="posterior mean")
        ax.plot(X_test[:, 0], jnp.sin(X_test[:, 0]), "k--", label="sin(x)")
        ax.plot(X[:, 0], y, "k.", label="data")
        ax.set(title="GP regression, RBF kernel fitted by maximum likelihood")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(outdir / "gp_regression.png", dpi=100)
        plt.close(fig)
    return Stop("fit + gp_posterior", "sin(x) + noise 0.1, n=40: RMSE to sin", error, 0.08)


def stops(outdir):
    return [_lml, lambda: _fit(outdir)]
