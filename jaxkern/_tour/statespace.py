"""Tour stops for state-space (Kalman) GP regression."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..gp import gp_posterior, kalman_log_marginal_likelihood, kalman_posterior
from ..gp import log_marginal_likelihood as dense_lml
from ..kernels import Cosine, Matern32, Matern52
from . import Stop, dtype_tol, plotting

ORDER = 21


def _data(n=200):
    rng = np.random.default_rng(5)
    t = rng.uniform(0, 30, n)  # irregular and unsorted: the solver sorts
    y = np.sin(t) + 0.5 * np.cos(0.31 * t) + 0.2 * rng.standard_normal(n)
    dtype = jnp.result_type(float)
    return jnp.asarray(t, dtype), jnp.asarray(y, dtype)


def _lml() -> Stop:
    t, y = _data()
    k = Matern52(lengthscale=1.5, variance=0.8) + Matern32(lengthscale=2.0) * Cosine(period=6.0)
    ours = float(jax.jit(lambda k: kalman_log_marginal_likelihood(k, t, y, noise=0.04))(k))
    # Reference: the dense exact GP (Cholesky of the 200 x 200 Gram matrix).
    ref = float(jax.jit(lambda k: dense_lml(lambda a, b: k(a, b), t[:, None], y, noise=0.04,
                                            jitter=0.0))(k))
    return Stop("kalman_log_marginal_likelihood", "Matern-5/2 + quasi-periodic, n=200, vs dense",
                abs(ours - ref) / abs(ref), dtype_tol(t, 1e-10, 1e-3))


def _posterior(outdir) -> Stop:
    t, y = _data()
    k = Matern32(lengthscale=1.2)
    t_test = jnp.linspace(-2, 32, 400, dtype=t.dtype)
    post = jax.jit(lambda k: kalman_posterior(k, t, y, t_test, noise=0.04, parallel=True))(k)
    ref = jax.jit(lambda k: gp_posterior(lambda a, b: k(a, b), t[:, None], y, t_test[:, None],
                                         noise=0.04, jitter=0.0))(k)
    error = float(jnp.max(jnp.abs(post.mean - ref.mean)))
    plt = plotting()
    if plt is not None:
        sd = jnp.sqrt(post.variance)
        fig, ax = plt.subplots(figsize=(7, 3))
        ax.fill_between(t_test, post.mean - 2 * sd, post.mean + 2 * sd, alpha=0.3,
                        label="mean ± 2 sd")
        ax.plot(t_test, post.mean, label="Kalman posterior mean")
        ax.plot(t, y, "k.", ms=2, label="data")
        ax.set(title="State-space GP (Matern-3/2), parallel-scan smoother")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(outdir / "statespace_posterior.png", dpi=100)
        plt.close(fig)
    return Stop("kalman_posterior (parallel)", "Matern-3/2, n=200, 400 test times: max |mean - "
                "dense|", error, dtype_tol(t, 1e-9, 1e-3))


def stops(outdir):
    return [_lml, lambda: _posterior(outdir)]
