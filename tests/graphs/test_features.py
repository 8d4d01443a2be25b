"""Rayleigh-quotient features and spectral energy: NumPy dense references, the synthetic
graph-anomaly bar (AUC >= 0.95 by scikit-learn's roc_auc_score), transforms, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxkern.graphs import (
    band_coefficients,
    chebyshev_coefficients,
    chebyshev_filter,
    graph_from_adjacency,
    knn_graph,
    laplacian,
    rayleigh_quotient,
    spectral_energy,
)
from tests.helpers import FLOAT, assert_close, check_transforms


def _graph(n=40, seed=0):
    rng = np.random.default_rng(seed)
    W = np.triu((rng.random((n, n)) < 0.15) * rng.uniform(0.5, 1.5, (n, n)), 1)
    W[np.arange(n - 1), np.arange(1, n)] = 1.0
    return W + W.T


def test_rayleigh_quotient_dense():
    W = _graph()
    x = np.random.default_rng(1).standard_normal((40, 3))
    for normalization in ("combinatorial", "sym"):
        L = laplacian(graph_from_adjacency(W), normalization=normalization)
        Ld = np.asarray(L.todense(), np.float64)
        ref = np.einsum("ic,ij,jc->c", x, Ld, x) / np.sum(x * x, axis=0)
        assert_close(rayleigh_quotient(L, jnp.asarray(x, FLOAT)), ref, rtol32=1e-5)
    # Dirichlet energy: x^T (D - A) x = 1/2 sum_ij A_ij (x_i - x_j)^2
    L = laplacian(graph_from_adjacency(W))
    x0 = x[:, 0]
    energy = 0.5 * np.sum(W * (x0[:, None] - x0[None, :]) ** 2) / np.sum(x0 * x0)
    assert_close(rayleigh_quotient(L, jnp.asarray(x0, FLOAT)), energy, rtol32=1e-5)
    assert float(rayleigh_quotient(L, jnp.zeros(40, FLOAT))) == 0.0


def test_spectral_energy_dense():
    # Reference: the same band polynomials evaluated on NumPy's eigendecomposition, and the
    # bands sum to 1.
    W = _graph(seed=2)
    L = laplacian(graph_from_adjacency(W), normalization="sym")
    lam, U = np.linalg.eigh(np.asarray(L.todense(), np.float64))
    x = np.random.default_rng(3).standard_normal((40, 2))
    got = spectral_energy(L, jnp.asarray(x, FLOAT), lambda_max=2.0, num_bands=4, order=40)
    C = np.asarray(band_coefficients(4, 40, lambda_max=2.0), np.float64)
    P = np.stack([np.polynomial.chebyshev.chebval(lam - 1.0, c) for c in C])  # (bands, n)
    proj = (U.T @ x) ** 2
    ref = P @ proj / np.sum(x * x, axis=0)
    assert_close(got, ref, rtol64=1e-10, rtol32=1e-4, atol64=1e-12, atol32=1e-5)
    assert_close(got.sum(0), np.ones(2), rtol64=1e-12, rtol32=1e-5)
    # Against the hard band split the smoothed bands are close (edges smeared over ~2/40).
    hard = np.stack([((lam >= b / 2) & (lam < (b + 1) / 2 + 1e-12 * (b == 3))) for b in range(4)])
    assert np.max(np.abs(np.asarray(got) - hard @ proj / np.sum(x * x, 0))) < 0.15


def _anomaly_set(key, num_graphs=60, n=48, k=6, channels=4):
    """Graphs: kNN graphs of random points in the unit square; normal signals are heat-filtered
    white noise (smooth), anomalous ones add noise high-pass filtered to the top of the
    spectrum with a third of the smooth signal's energy."""
    kp, kx, kh = jax.random.split(key, 3)
    pts = jax.random.uniform(kp, (num_graphs, n, 2), dtype=FLOAT)
    low = chebyshev_coefficients(lambda lam: jnp.exp(-4.0 * lam), 20, lambda_max=2.0)
    high = chebyshev_coefficients(lambda lam: (lam / 2) ** 6, 20, lambda_max=2.0)
    labels = jnp.arange(num_graphs) % 2

    def one(p, kx, kh, label):
        L = laplacian(knn_graph(p, k=k), normalization="sym")
        smooth = chebyshev_filter(L, jax.random.normal(kx, (n, channels), FLOAT), low,
                                  lambda_max=2.0)
        rough = chebyshev_filter(L, jax.random.normal(kh, (n, channels), FLOAT), high,
                                 lambda_max=2.0)
        scale = jnp.sqrt(jnp.sum(smooth**2, 0) / jnp.sum(rough**2, 0) / 3.0)
        x = smooth + label * scale[None, :] * rough
        return rayleigh_quotient(L, x)

    feats = jax.jit(jax.vmap(one))(pts, jax.random.split(kx, num_graphs),
                                   jax.random.split(kh, num_graphs), labels.astype(FLOAT))
    return np.asarray(feats), np.asarray(labels)


def test_rayleigh_features_separate_anomalies(getkey):
    # The bar: Rayleigh-quotient features alone give AUC >= 0.95 (score: their mean
    # over channels; AUC by scikit-learn).
    from sklearn.metrics import roc_auc_score

    feats, labels = _anomaly_set(getkey())
    auc = roc_auc_score(labels, feats.mean(axis=1))
    assert auc >= 0.95, auc


def test_feature_transforms():
    W = _graph(n=12, seed=4)
    L = laplacian(graph_from_adjacency(W), normalization="sym")
    x = jnp.asarray(np.random.default_rng(5).standard_normal((12, 2)), FLOAT)
    check_transforms(lambda x: rayleigh_quotient(L, x), (x,), batch=(jnp.stack([x, -2 * x]),))
    check_transforms(lambda x: spectral_energy(L, x, lambda_max=2.0, num_bands=3, order=10),
                     (x,), batch=(jnp.stack([x, x**2]),), atol32=1e-5, rtol32=1e-4)


def test_bad_inputs():
    L = laplacian(graph_from_adjacency(_graph(n=5)))
    with pytest.raises(ValueError, match="`x` must have shape"):
        rayleigh_quotient(L, jnp.zeros((5, 2, 1), FLOAT))
    with pytest.raises(ValueError, match="`num_bands` must be an int >= 1"):
        spectral_energy(L, jnp.ones(5, FLOAT), lambda_max=8.0, num_bands=0)
