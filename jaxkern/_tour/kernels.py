"""Tour stops for the kernel core."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..kernels import RBF, ArcCosine, Matern32, gram, kernel_matvec
from . import Stop, dtype_tol, plotting

ORDER = 10


def _matvec() -> Stop:
    X = jax.random.normal(jax.random.key(0), (3000, 4))
    v = jax.random.normal(jax.random.key(1), (3000,))
    k = Matern32(lengthscale=1.5)
    blocked = kernel_matvec(k, X, X, v, block_size=512)
    dense = np.asarray(gram(k, X), np.float64) @ np.asarray(v, np.float64)
    error = np.linalg.norm(np.asarray(blocked) - dense) / np.linalg.norm(dense)
    tol = dtype_tol(blocked, 1e-12, 1e-5)
    return Stop("kernel_matvec (blocked)", "Matern-3/2, n=m=3000, d=4 vs dense", error, tol)


def _arccos(outdir) -> Stop:
    # The order-1 arc-cosine kernel is 2 E[relu(w.x) relu(w.y)], w ~ N(0, I) (Cho & Saul 2009).
    X = jnp.array([[1.0, 0.0], [0.6, 0.8], [-1.0, 0.2]])
    W = jax.random.normal(jax.random.key(2), (100_000, 2), dtype=X.dtype)
    features = jax.nn.relu(X @ W.T)
    monte_carlo = 2 * features @ features.T / W.shape[0]
    exact = gram(ArcCosine(order=1), X)
    error = float(jnp.max(jnp.abs(exact - monte_carlo)))
    plt = plotting()
    if plt is not None:
        t = jnp.linspace(0, np.pi, 200)
        pts = jnp.stack([jnp.cos(t), jnp.sin(t)], axis=1)
        x0 = jnp.array([[1.0, 0.0]], dtype=pts.dtype)
        fig, ax = plt.subplots(figsize=(5, 3))
        for order in (0, 1, 2):
            ax.plot(t, gram(ArcCosine(order=order), x0, pts)[0], label=f"order {order}")
        ax.plot(t, gram(RBF(), x0, pts)[0], "k--", label="RBF")
        ax.set(xlabel="angle between x and y", ylabel="k(x, y)", title="arc-cosine kernels")
        ax.legend()
        fig.tight_layout()
        fig.savefig(outdir / "kernels_arccos.png", dpi=100)
        plt.close(fig)
    return Stop("arccos order 1 (ReLU)", "vs 1e5-feature Monte Carlo", error, 3e-2)


def stops(outdir):
    return [_matvec, lambda: _arccos(outdir)]
