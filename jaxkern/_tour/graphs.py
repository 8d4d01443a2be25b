"""Tour stops for graphs: Chebyshev heat filter, graph Matérn kernel, connection Laplacian of
the sphere, augmentation kernel."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..graphs import (
    FilterGraphKernel,
    GraphMatern,
    chebyshev_coefficients,
    chebyshev_filter,
    connection_laplacian,
    graph_from_edges,
    laplacian,
    lowest_eigenpairs,
    random_mask_augmentations,
    top_eigenspace,
)
from . import Stop, dtype_tol, plotting

ORDER = 96


def _ring(n=200):
    edges = jnp.stack([jnp.arange(n), (jnp.arange(n) + 1) % n], axis=1)
    return laplacian(graph_from_edges(edges, num_nodes=n), normalization="sym")


def _heat_filter(outdir) -> Stop:
    # Ring of 200 nodes: the normalised Laplacian is circulant with eigenvalues
    # 1 - cos(2 pi k / n) and Fourier eigenvectors; e^{-tau L} delta_0 in closed form (NumPy).
    n, tau = 200, 10.0
    L = _ring(n)
    x = jnp.zeros(n).at[0].set(1.0)
    c = chebyshev_coefficients(lambda lam: jnp.exp(-tau * lam), 30, lambda_max=2.0)
    y = np.asarray(chebyshev_filter(L, x, c, lambda_max=2.0), np.float64)
    k = np.arange(n)
    ref = np.real(np.fft.ifft(np.exp(-tau * (1 - np.cos(2 * np.pi * k / n)))))
    plt = plotting()
    if plt is not None:
        fig, ax = plt.subplots(figsize=(6, 3))
        ax.plot(np.roll(y, n // 2), label="Chebyshev, order 30")
        ax.plot(np.roll(ref, n // 2), "k--", label="exact")
        ax.set(title="heat filter e^{-10 L} of a delta on a ring", xlabel="node")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(outdir / "graphs_heat_filter.png", dpi=100)
        plt.close(fig)
    err = float(np.linalg.norm(y - ref) / np.linalg.norm(ref))
    return Stop("chebyshev_filter", "heat e^{-10L}, ring n=200, order 30 vs FFT", err,
                dtype_tol(jnp.zeros(()), 1e-12, 1e-5))


def _matern(outdir) -> Stop:
    # Graph Matérn kernel (2 nu / l^2 + L)^{-nu}: the spectral form from NumPy's eigh vs the
    # Chebyshev filter form, unnormalised.
    L = _ring(60)
    lam, U = np.linalg.eigh(np.asarray(L.todense(), np.float64))
    spec = GraphMatern(jnp.asarray(lam, jnp.result_type(float)),
                       jnp.asarray(U, jnp.result_type(float)), nu=2.5, lengthscale=3.0,
                       normalize=False)
    filt = FilterGraphKernel(L, nu=2.5, lengthscale=3.0, lambda_max=2.0, order=40)
    X = jnp.arange(60.0)[:, None]
    a, b = np.asarray(spec.gram(X, X)), np.asarray(filt.gram(X, X))
    err = float(np.max(np.abs(a - b)) / np.max(np.abs(a)))
    return Stop("GraphMatern / FilterGraphKernel", "nu=2.5 on a ring, spectral vs Chebyshev",
                err, dtype_tol(jnp.zeros(()), 1e-9, 1e-4))


def _sphere(outdir) -> Stop:
    # Connection Laplacian of 1,000 points on S^2: the lowest clusters (6, 10, 14) have mean
    # ratios 1 : 5 : 11 (rough Laplacian l(l+1) - 1); error = worst relative deviation (5 %
    # at 4,000 points, the bar; this small cloud is within 10 %). Eigenpairs by
    # Lanczos on the heat-filtered operator, two starts (the eigenvalues come in pairs).
    X = jax.random.normal(jax.random.key(0), (1000, 3))
    X = X / jnp.linalg.norm(X, axis=1, keepdims=True)
    L = connection_laplacian(X, k=12, dim=2)
    lmax = float(L.lambda_max_bound())
    c = chebyshev_coefficients(lambda lam: jnp.exp(-10 * lam), 60, lambda_max=lmax)
    pairs = jax.jit(lambda v: lowest_eigenpairs(
        L, 30, v0=v, num_steps=50,
        krylov_matvec=lambda u: chebyshev_filter(L, u, c, lambda_max=lmax)))(
        jax.random.normal(jax.random.key(1), (2, 2000)))
    lam = np.asarray(pairs.values, np.float64)
    means = np.array([lam[:6].mean(), lam[6:16].mean(), lam[16:30].mean()])
    err = float(np.max(np.abs(means / means[0] / np.array([1.0, 5.0, 11.0]) - 1)))
    return Stop("connection_laplacian", "S^2, n=1000, k=12: cluster ratios vs 1:5:11", err, 0.1)


def _augmentation(outdir) -> Stop:
    # Random masks (rho = 0.3) of 8-bit strings: top eigenvalues 1 and (1 - rho) x 8.
    g = random_mask_augmentations(8, mask_prob=0.3)
    space = top_eigenspace(g, 9, key=jax.random.key(0), num_steps=10, num_starts=8)
    ref = np.array([1.0] + [0.7] * 8)
    err = float(np.max(np.abs(np.asarray(space.values, np.float64) - ref)))
    return Stop("top_eigenspace", "augmentation kernel, 8-bit masks: top-9 eigenvalues", err,
                dtype_tol(jnp.zeros(()), 1e-10, 1e-5))


def stops(outdir):
    return [lambda: _heat_filter(outdir), lambda: _matern(outdir), lambda: _sphere(outdir),
            lambda: _augmentation(outdir)]
