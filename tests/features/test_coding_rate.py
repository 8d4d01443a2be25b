"""Coding rates, Sinkhorn memberships and spectral clustering (issue 22, paper #25)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.metrics import adjusted_rand_score

from jaxkern.features import (
    coding_rate,
    coding_rate_clusters,
    mlc_loss,
    mlc_membership,
    sinkhorn,
    spectral_clustering,
)
from tests.helpers import FLOAT, X64, assert_close, check_transforms, points


def _digits():
    X, y = load_digits(return_X_y=True)
    Z = X - X.mean(0)
    return Z / np.linalg.norm(Z, axis=1, keepdims=True), y


def _numpy_rates(Z, y, eps):
    """Reference: the definitions in NumPy float64 with slogdet (Z rows are features)."""
    n, d = Z.shape
    R = 0.5 * np.linalg.slogdet(np.eye(d) + d / (n * eps**2) * Z.T @ Z)[1]
    Rc = 0.0
    for c in np.unique(y):
        Zc = Z[y == c]
        Rc += len(Zc) / (2 * n) * np.linalg.slogdet(np.eye(d) + d / (len(Zc) * eps**2)
                                                    * Zc.T @ Zc)[1]
    return R, Rc


def test_digits_golden():
    """The issue's figures (R = 31.143320, R_c = 21.688944 with the true labels, eps = 0.5) and
    the NumPy float64 definitions to 1e-10."""
    Z, y = _digits()
    R_ref, Rc_ref = _numpy_rates(Z, y, 0.5)
    assert abs(R_ref - 31.143320) < 1e-6 and abs(Rc_ref - 21.688944) < 1e-6
    Zj = jnp.asarray(Z, FLOAT)
    onehot = jnp.asarray(np.eye(10)[y], FLOAT)
    assert_close(coding_rate(Zj, eps=0.5), R_ref, rtol64=1e-10, rtol32=1e-4)
    assert_close(coding_rate_clusters(Zj, onehot, eps=0.5), Rc_ref, rtol64=1e-10, rtol32=1e-4)
    # The MLC form: Gamma_ij = 1 / n_c within a class is doubly stochastic, and gives the same.
    counts = np.bincount(y)
    Gamma = (y[:, None] == y[None, :]) / counts[y][None, :]
    assert_close(coding_rate_clusters(Zj, jnp.asarray(Gamma, FLOAT), eps=0.5), Rc_ref,
                 rtol64=1e-10, rtol32=1e-4)


def test_small_and_wide_forms_agree(getkey):
    """n x n and d x d forms (d > n and d <= n) against NumPy."""
    for n, d in [(5, 12), (12, 5)]:
        Z = np.asarray(points(getkey(), n, d), np.float64)
        y = np.arange(n) % 3
        R_ref, Rc_ref = _numpy_rates(Z, y, 0.7)
        Zj = jnp.asarray(Z, FLOAT)
        assert_close(coding_rate(Zj, eps=0.7), R_ref, rtol64=1e-11, rtol32=1e-5)
        assert_close(coding_rate_clusters(Zj, jnp.asarray(np.eye(4)[y], FLOAT), eps=0.7),
                     Rc_ref, rtol64=1e-11, rtol32=1e-5)  # the 4th cluster is empty


def test_gradients_and_transforms(getkey):
    Z = points(getkey(), 7, 3)
    P = jax.nn.softmax(points(getkey(), 7, 2), axis=1)
    check_transforms(lambda Z, P: (coding_rate(Z, eps=0.5), coding_rate_clusters(Z, P, eps=0.5)),
                     (Z, P), batch=(jnp.stack([Z, 2 * Z]), jnp.stack([P, P[::-1]])),
                     grad_argnums=(0, 1), rtol64=1e-11, rtol32=1e-5, grad_rtol32=5e-2)
    S = points(getkey(), 5, 5)
    check_transforms(lambda S: sinkhorn(S @ S.T, num_iters=30), (S,), grad_argnums=(0,),
                     rtol64=1e-11, rtol32=1e-5, grad_rtol32=5e-2)


def test_sinkhorn_is_doubly_stochastic(getkey):
    Z, _ = _digits()
    Zs = jnp.asarray(Z[:200], FLOAT)
    G = sinkhorn(Zs @ Zs.T / 0.5, num_iters=200)
    tol = 1e-10 if X64 else 1e-5
    np.testing.assert_allclose(np.asarray(G.sum(axis=0)), 1, atol=tol)
    np.testing.assert_allclose(np.asarray(G.sum(axis=1)), 1, atol=tol)
    assert np.all(np.asarray(G) >= 0)
    np.testing.assert_allclose(np.asarray(G), np.asarray(G.T), atol=10 * tol)  # symmetric S


def test_spectral_clustering_recovers_blocks_and_matches_sklearn(getkey):
    """Two noisy blocks exactly; on digits' Gamma, agrees with scikit-learn's spectral
    clustering of the same affinity (ARI > 0.8; both are randomised k-means)."""
    from sklearn.cluster import SpectralClustering

    Z, y = _digits()
    idx = np.concatenate([np.where(y == c)[0][:40] for c in range(4)])
    Zs = jnp.asarray(Z[idx], FLOAT)
    G = np.asarray(sinkhorn(Zs @ Zs.T / 0.1, num_iters=100), np.float64)
    ours = np.asarray(spectral_clustering(jnp.asarray(G, FLOAT), 4, key=jax.random.key(0)))
    theirs = SpectralClustering(4, affinity="precomputed", random_state=0).fit_predict(
        (G + G.T) / 2)
    assert adjusted_rand_score(ours, theirs) > 0.8
    assert adjusted_rand_score(ours, y[idx]) > 0.6


def test_bad_inputs():
    Z = jnp.ones((4, 2), FLOAT)
    with pytest.raises(ValueError, match="eps"):
        coding_rate(Z, eps=0.0)
    with pytest.raises(ValueError, match="membership"):
        coding_rate_clusters(Z, jnp.ones((3, 2), FLOAT), eps=1.0)
    with pytest.raises(ValueError, match="log_affinity"):
        sinkhorn(jnp.ones((3, 2), FLOAT))
    with pytest.raises(ValueError, match="num_clusters"):
        spectral_clustering(jnp.eye(3, dtype=FLOAT), 5, key=jax.random.key(0))


def _numpy_mlc(Z, C, eps, eta, rounds):
    """Independent float64 reference: Sinkhorn by alternating scalings, slogdet rates."""
    Z = Z / np.linalg.norm(Z, axis=1, keepdims=True)
    C = C / np.linalg.norm(C, axis=1, keepdims=True)
    K = np.exp(C @ C.T / eta) * (1 - np.eye(len(C)))
    for _ in range(rounds):
        K = K / K.sum(1, keepdims=True)
        K = K / K.sum(0, keepdims=True)
    n, d = Z.shape
    R = 0.5 * np.linalg.slogdet(np.eye(d) + d / (n * eps**2) * Z.T @ Z)[1]
    Rc = sum(K[:, j].sum() / (2 * n) * np.linalg.slogdet(
        np.eye(d) + d / (K[:, j].sum() * eps**2) * (Z * K[:, j:j + 1]).T @ Z)[1] for j in range(n))
    return K, Rc - R


def test_mlc_loss_and_membership_against_numpy(getkey):
    Z, C = points(getkey(), 10, 4), points(getkey(), 10, 3)
    G_ref, L_ref = _numpy_mlc(np.asarray(Z, np.float64), np.asarray(C, np.float64), 0.5, 0.3, 50)
    G = mlc_membership(C, eta=0.3, num_iters=50)
    assert_close(G, G_ref, rtol64=1e-10, rtol32=1e-4, atol64=1e-13, atol32=1e-6)
    assert float(jnp.max(jnp.abs(jnp.diagonal(G)))) == 0.0
    assert_close(mlc_loss(Z, C, eps=0.5, eta=0.3, num_iters=50), L_ref, rtol64=1e-10,
                 rtol32=1e-4)


def test_mlc_loss_gradient_matches_finite_differences(getkey):
    Z, C = points(getkey(), 8, 3), points(getkey(), 8, 2)
    f = jax.jit(lambda Z, C: mlc_loss(Z, C, eps=0.5, eta=0.5, num_iters=5))
    gZ, gC = jax.grad(f, argnums=(0, 1))(Z, C)
    eps = 1e-5 if X64 else 1e-2
    for g, which in ((gZ, 0), (gC, 1)):
        args = [Z, C]
        e = jnp.zeros_like(args[which]).at[3, 1].set(eps)
        plus, minus = list(args), list(args)
        plus[which], minus[which] = args[which] + e, args[which] - e
        fd = (f(*plus) - f(*minus)) / (2 * eps)
        assert abs(float(g[3, 1] - fd)) < (1e-6 if X64 else 2e-2) * max(1.0, abs(float(fd)))


def test_mlc_bad_inputs():
    Z = jnp.ones((4, 2), FLOAT)
    with pytest.raises(ValueError, match="C"):
        mlc_loss(Z, jnp.ones((5, 2), FLOAT), eps=0.5, eta=0.1)
    with pytest.raises(ValueError, match="eta"):
        mlc_membership(Z, eta=0.0)
    with pytest.raises(ValueError, match="eps"):
        mlc_loss(Z, Z, eps=-1.0, eta=0.1)
