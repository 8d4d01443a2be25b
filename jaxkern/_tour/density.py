"""Tour stops for kernel density estimation and private kernel sums."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..density import (
    isj_bandwidth,
    kde_log_density,
    private_kernel_sum,
    scott_bandwidth_matrix,
)
from . import Stop, dtype_tol, plotting

ORDER = 50


def _kde(outdir) -> Stop:
    key_a, key_b = jax.random.split(jax.random.key(4))
    data = jnp.concatenate([jax.random.normal(key_a, (600, 1)) * 0.4 - 2,
                            jax.random.normal(key_b, (1400, 1)) + 1.5])
    grid = jnp.linspace(-4, 5, 300, dtype=data.dtype)[:, None]
    h = isj_bandwidth(data)
    ours = kde_log_density(data, grid, bandwidth=h)
    # Reference: the same sum as a float64 NumPy log-sum-exp.
    x, g, hh = np.asarray(data, np.float64)[:, 0], np.asarray(grid, np.float64)[:, 0], float(h)
    z = -0.5 * ((g[:, None] - x[None, :]) / hh) ** 2
    top = z.max(axis=1, keepdims=True)
    ref = top[:, 0] + np.log(np.exp(z - top).sum(1)) - np.log(len(x) * hh * np.sqrt(2 * np.pi))
    error = float(np.max(np.abs(np.asarray(ours) - ref)))
    plt = plotting()
    if plt is not None:
        truth = 0.3 * np.exp(-0.5 * ((g + 2) / 0.4) ** 2) / (0.4 * np.sqrt(2 * np.pi)) + (
            0.7 * np.exp(-0.5 * (g - 1.5) ** 2) / np.sqrt(2 * np.pi))
        scott = kde_log_density(data, grid, bandwidth_matrix=scott_bandwidth_matrix(data))
        fig, ax = plt.subplots(figsize=(6, 3))
        ax.plot(g, truth, "k--", label="true density")
        ax.plot(g, np.exp(ours), label=f"ISJ bandwidth h={hh:.3f}")
        ax.plot(g, np.exp(scott), label="Scott bandwidth")
        ax.set(title="Gaussian KDE of a bimodal sample (n=2000)", xlabel="x")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(outdir / "density_kde.png", dpi=100)
        plt.close(fig)
    tol = dtype_tol(data, 1e-10, 1e-4)
    return Stop("kde_log_density + isj_bandwidth", "bimodal 1-D, n=2000 vs NumPy float64",
                error, tol)


def _private() -> Stop:
    X = jax.random.normal(jax.random.key(5), (20000, 8)) / np.sqrt(8)
    Y = jax.random.normal(jax.random.key(6), (100, 8)) / np.sqrt(8)
    dp = private_kernel_sum(X, epsilon=1.0, key=jax.random.key(7), bandwidth=1.0,
                            num_features=1024)
    exact = jnp.exp(-0.5 * jnp.sum((X[None] - Y[:, None]) ** 2, -1)).sum(1)
    error = float(jnp.mean(jnp.abs(dp(Y) - exact)) / jnp.mean(exact))
    return Stop("private_kernel_sum (eps=1)", "Gaussian sums, n=20000, d=8: mean rel. error",
                error, 0.1)


def stops(outdir):
    return [lambda: _kde(outdir), _private]
