"""Connection Laplacians and RVGP: a SciPy sparse assembly of the same matrix, the spectrum on
S^2 (clusters of 6, 10, 14 in the ratio 1 : 5 : 11, SciPy's eigsh as reference), the
heat-filtered Lanczos eigenpairs against eigsh, frames, the vector-field GP, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as sla

from jaxkern.graphs import (
    chebyshev_coefficients,
    chebyshev_filter,
    connection_laplacian,
    knn,
    lowest_eigenpairs,
    nearest_orthogonal,
    tangent_frames,
    to_ambient,
    to_local,
)
from tests.helpers import FLOAT, X64, assert_close, check_transforms


def _sphere(n, seed=0):
    X = np.random.default_rng(seed).standard_normal((n, 3))
    return jnp.asarray(X / np.linalg.norm(X, axis=1, keepdims=True), FLOAT)


def _scipy_matrix(L):
    """The same operator assembled independently as a SciPy CSR matrix from its parts."""
    g = L.graph
    Ot, r, s, w = (np.asarray(a, np.float64) for a in (L.transports, g.receivers, g.senders,
                                                      g.weights))
    r, s = r.astype(int), s.astype(int)
    n, d = g.num_nodes, Ot.shape[-1]
    rows, cols, vals = [], [], []
    for a in range(d):
        for b in range(d):
            rows.append(d * r + a), cols.append(d * s + b), vals.append(-w * Ot[:, a, b])
    deg = np.bincount(s, weights=w, minlength=n)
    rows.append(np.arange(d * n)), cols.append(np.arange(d * n)), vals.append(np.repeat(deg, d))
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                         shape=(d * n, d * n))


def _clusters(values):
    return np.array([values[:6].mean(), values[6:16].mean(), values[16:30].mean()])


def _check_sphere_spectrum(n, k, rtol):
    L = connection_laplacian(_sphere(n), k=k, dim=2)
    M = _scipy_matrix(L)
    v = np.random.default_rng(1).standard_normal(2 * n)
    assert_close(L(jnp.asarray(v, FLOAT)), M @ v, rtol64=1e-11, atol64=1e-11, atol32=1e-4,
                 rtol32=1e-4)
    assert abs(M - M.T).max() < 1e-6
    ref = np.sort(sla.eigsh(M, k=36, sigma=-1e-3, which="LM", return_eigenvectors=False))
    # Clusters of 6, 10 and 14: the three largest gaps among the lowest 31 eigenvalues fall
    # after the 6th, 16th and 30th.
    gaps = np.diff(ref[:31])
    assert set(np.argsort(gaps)[-3:]) == {5, 15, 29}, np.round(ref[:31], 4)
    ratios = _clusters(ref) / _clusters(ref)[0]
    np.testing.assert_allclose(ratios, [1.0, 5.0, 11.0], rtol=rtol)
    return L, ref


def test_sphere_spectrum_small():
    # 1,000 points, k = 12: the clusters hold, the 1 : 5 : 11 ratios within 10 %.
    _check_sphere_spectrum(1000, 12, 0.1)


@pytest.mark.slow
def test_sphere_spectrum_bar_and_lanczos():
    # The bar: 4,000 uniform points, k = 12 (SciPy eigsh reference: 1 : 4.95 : 10.78),
    # and the lowest 30 eigenpairs by Lanczos on the heat-filtered operator equal eigsh.
    L, ref = _check_sphere_spectrum(4000, 12, 0.05)
    lmax = float(L.lambda_max_bound())
    c = chebyshev_coefficients(lambda lam: jnp.exp(-20 * lam), 60, lambda_max=lmax)
    v0 = jax.random.normal(jax.random.key(0), (2, 8000), FLOAT)
    pairs = jax.jit(lambda v: lowest_eigenpairs(
        L, 30, v0=v, num_steps=60,
        krylov_matvec=lambda u: chebyshev_filter(L, u, c, lambda_max=lmax)))(v0)
    assert_close(pairs.values, ref[:30], rtol64=1e-8, rtol32=1e-3)


@pytest.mark.slow
def test_filtered_lanczos_equals_eigsh():
    # Exact pairs on S^2 (multiplicity 2): two starts pooled by Rayleigh-Ritz find both.
    L = connection_laplacian(_sphere(400), k=10, dim=2)
    ref = np.sort(sla.eigsh(_scipy_matrix(L), k=16, sigma=-1e-3, which="LM",
                            return_eigenvectors=False))
    lmax = float(L.lambda_max_bound())
    c = chebyshev_coefficients(lambda lam: jnp.exp(-8 * lam), 50, lambda_max=lmax)
    v0 = jax.random.normal(jax.random.key(0), (2, 800), FLOAT)
    pairs = lowest_eigenpairs(L, 16, v0=v0, num_steps=40,
                              krylov_matvec=lambda u: chebyshev_filter(L, u, c, lambda_max=lmax))
    assert_close(pairs.values, ref, rtol64=1e-8, rtol32=2e-3)
    assert float(jnp.max(pairs.residuals)) < (1e-8 if X64 else 1e-3)


def test_frames_and_transports():
    X = _sphere(300)
    L = connection_laplacian(X, k=10, dim=2)
    T = np.asarray(L.frames, np.float64)
    # orthonormal frames, nearly orthogonal to the normal x (local PCA tilts them by O(h^2),
    # more where a neighbourhood is lopsided: 0.05 typically at n = 300, k = 10)
    np.testing.assert_allclose(np.einsum("nDa,nDb->nab", T, T), np.broadcast_to(np.eye(2),
                               (300, 2, 2)), atol=1e-5)
    tilt = np.linalg.norm(np.einsum("nDa,nD->na", T, np.asarray(X, np.float64)), axis=1)
    assert np.median(tilt) < 0.1 and np.max(tilt) < 0.3
    Ot = np.asarray(L.transports, np.float64)
    np.testing.assert_allclose(np.einsum("eab,ecb->eac", Ot, Ot),
                               np.broadcast_to(np.eye(2), Ot.shape), atol=1e-5)
    # nearest_orthogonal = the polar factor from SciPy
    from scipy.linalg import polar

    M = np.random.default_rng(0).standard_normal((3, 3))
    assert_close(nearest_orthogonal(jnp.asarray(M, FLOAT)), polar(M)[0], rtol64=1e-10,
                 atol64=1e-12, atol32=1e-5)
    # round trip of tangent vectors through the frames
    V = np.cross(np.asarray(X, np.float64), [0.0, 0.0, 1.0])
    Vt = to_ambient(L.frames, to_local(L.frames, jnp.asarray(V, FLOAT)))
    assert np.mean(np.linalg.norm(np.asarray(Vt) - V, axis=1)) < 0.05


def test_jet_frames_are_tangent():
    # The exact tangent plane of S^2 at x is x-perp (the independent reference): local PCA is
    # tilted by O(h) where a neighbourhood is lopsided (about 2 degrees on average here), the
    # quadratic (jet) fit by O(h^2) (about 0.02 degrees).
    X = _sphere(800)
    Xn = np.asarray(X, np.float64)

    def tilt_deg(frames):
        T = np.asarray(frames, np.float64)
        np.testing.assert_allclose(np.einsum("nDa,nDb->nab", T, T),
                                   np.broadcast_to(np.eye(2), (800, 2, 2)), atol=1e-5)
        sin = np.linalg.norm(np.einsum("nDa,nD->na", T, Xn), axis=1)
        return np.degrees(np.arcsin(np.clip(sin, 0, 1)))

    pca = tilt_deg(connection_laplacian(X, k=10, dim=2).frames)
    jet = tilt_deg(connection_laplacian(X, k=10, dim=2, frames="jet").frames)
    assert 1.0 < pca.mean() < 4.0
    assert jet.mean() < (0.1 if X64 else 0.5) and jet.max() < (0.5 if X64 else 2.0)
    # a curve in R^3 (dim 1, two normal directions): the helix's unit tangent
    t = jnp.linspace(0, 4 * np.pi, 400, dtype=FLOAT)
    H = jnp.stack([jnp.cos(t), jnp.sin(t), 0.3 * t], axis=1)
    T = np.asarray(tangent_frames(H, knn(H, k=6).indices, dim=1, method="jet"))[:, :, 0]
    exact = np.stack([-np.sin(t), np.cos(t), 0.3 * np.ones_like(t)], 1) / np.sqrt(1.09)
    cos = np.abs(np.sum(T[5:-5] * exact[5:-5], 1))
    assert np.min(cos) > 1 - (1e-6 if X64 else 1e-4)


def test_transforms():
    L = connection_laplacian(_sphere(60), k=6, dim=2)
    v = jnp.asarray(np.random.default_rng(2).standard_normal(120), FLOAT)
    check_transforms(L, (v,), batch=(jnp.stack([v, 2 * v]),), atol32=1e-5)
    check_transforms(lambda X: connection_laplacian(X, k=6, dim=2)(v), (_sphere(60),),
                     grad_argnums=None, atol32=1e-5)


def test_bad_input():
    X = _sphere(20)
    with pytest.raises(ValueError, match="`k` must be smaller"):
        connection_laplacian(X, k=20, dim=2)
    with pytest.raises(ValueError, match="`k` must be at least `dim`"):
        connection_laplacian(X, k=1, dim=2)
    with pytest.raises(ValueError, match="`X` must be finite"):
        connection_laplacian(X.at[3, 0].set(jnp.nan), k=5, dim=2)
    with pytest.raises(ValueError, match="`dim` must be at most"):
        tangent_frames(X, jnp.zeros((20, 5), jnp.int32), dim=4)
    with pytest.raises(ValueError, match="`normalization`"):
        connection_laplacian(X, k=5, dim=2, normalization="rw")
    with pytest.raises(ValueError, match="`method` must be one of"):
        connection_laplacian(X, k=5, dim=2, frames="quadric")
    with pytest.raises(ValueError, match="at least 5 columns"):
        connection_laplacian(X, k=4, dim=2, frames="jet")


@pytest.mark.slow
def test_vector_field_gp():
    # RVGP: the vector-field Matern GP on the connection Laplacian's eigenpairs (NumPy eigh of
    # the dense matrix as the reference eigensolver here), trained on half of 300 points on S^2
    # with a smooth tangent field; predictions are tangent by construction, the held-out mean
    # angular error is small, and the posterior mean equals the dense GP formula.
    from jaxkern.gp import gp_posterior
    from jaxkern.graphs import GraphMatern, vector_field_points

    n = 300
    X = _sphere(n, seed=3)
    Xn = np.asarray(X, np.float64)
    V = np.cross(Xn, [0.0, 0.0, 1.0]) + np.cross(Xn, np.cross(Xn, [1.0, 0.0, 0.0]))
    L = connection_laplacian(X, k=10, dim=2)
    lam, U = np.linalg.eigh(np.asarray(L.todense(), np.float64))
    k = GraphMatern(jnp.asarray(lam[:80], FLOAT), jnp.asarray(U[:, :80], FLOAT), nu=3.0,
                    lengthscale=8.0)
    tr, te = np.arange(0, n, 2), np.arange(1, n, 2)
    Xtr, Xte = vector_field_points(jnp.asarray(tr), 2), vector_field_points(jnp.asarray(te), 2)
    ytr = to_local(L.frames[tr], jnp.asarray(V[tr], FLOAT))
    post = gp_posterior(k, Xtr, ytr, Xte, noise=1e-3)
    K = np.asarray(k.gram(jnp.concatenate([Xtr, Xte]), jnp.concatenate([Xtr, Xte])), np.float64)
    m = Xtr.shape[0]
    ref = K[m:, :m] @ np.linalg.solve(K[:m, :m] + 1e-3 * np.eye(m), np.asarray(ytr, np.float64))
    assert_close(post.mean, ref, rtol64=1e-7, rtol32=1e-2, atol64=1e-8, atol32=1e-3)
    Vhat = np.asarray(to_ambient(L.frames[te], post.mean), np.float64)
    cos = np.sum(Vhat * V[te], 1) / np.linalg.norm(Vhat, axis=1) / np.linalg.norm(V[te], axis=1)
    assert np.degrees(np.arccos(np.clip(cos, -1, 1))).mean() < 15.0
    assert np.all(np.asarray(post.variance) >= 0)
