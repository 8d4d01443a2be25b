"""Graph Matérn and heat kernels: GeometricKernels in this process as the golden reference, the
Chebyshev (eigenvector-free) kernel against the spectral one, use inside jaxkern.gp, Lanczos
eigenpairs against NumPy's eigh."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxkern.gp import fit, gp_posterior
from jaxkern.graphs import (
    FilterGraphKernel,
    GraphHeat,
    GraphMatern,
    graph_from_adjacency,
    laplacian,
    lowest_eigenpairs,
)
from tests.helpers import FLOAT, X64, assert_close, check_transforms


def _random_graph(n=30, p=0.2, seed=0):
    rng = np.random.default_rng(seed)
    W = np.triu((rng.random((n, n)) < p) * rng.uniform(0.5, 2.0, (n, n)), 1)
    W[np.arange(n - 1), np.arange(1, n)] = 1.0  # a path keeps it connected
    return W + W.T


def _spectrum(W, normalized):
    L = laplacian(graph_from_adjacency(W), normalization="sym" if normalized else "combinatorial")
    return np.linalg.eigh(np.asarray(L.todense(), np.float64))


@pytest.mark.parametrize("normalized", [False, True])
@pytest.mark.parametrize("nu", [0.5, 2.0, np.inf])
def test_equals_geometric_kernels(normalized, nu):
    # GeometricKernels' MaternGeometricKernel on a Graph (NumPy backend), same number of
    # eigenpairs, its default normalisation (average variance 1); nu = inf is its heat kernel.
    pytest.importorskip("geometric_kernels")
    from geometric_kernels.kernels import MaternGeometricKernel
    from geometric_kernels.spaces import Graph

    W = _random_graph()
    num = 12
    gk = MaternGeometricKernel(Graph(W, normalize_laplacian=normalized), num=num)
    params = dict(nu=np.array([nu]), lengthscale=np.array([1.3]))
    X = np.arange(30)[:, None]
    ref = gk.K(params, X, X[::3])
    lam, U = _spectrum(W, normalized)
    lam, U = jnp.asarray(lam[:num], FLOAT), jnp.asarray(U[:, :num], FLOAT)
    if np.isinf(nu):
        k = GraphHeat(lam, U, lengthscale=1.3)
    else:
        k = GraphMatern(lam, U, nu=nu, lengthscale=1.3)
    Xf = jnp.asarray(X, FLOAT)
    assert_close(k.gram(Xf, Xf[::3]), ref, rtol64=1e-10, rtol32=1e-4, atol64=1e-12, atol32=1e-5)
    assert_close(k(Xf[4], Xf[9]), ref[4, 3], rtol64=1e-10, rtol32=1e-4, atol64=1e-12,
                 atol32=1e-5)


def test_filter_kernel_equals_spectral():
    # Chebyshev filter of Phi(L) = spectral kernel with all eigenpairs, unnormalised.
    W = _random_graph(seed=1)
    L = laplacian(graph_from_adjacency(W), normalization="sym")
    lam, U = (jnp.asarray(a, FLOAT) for a in _spectrum(W, True))
    X = jnp.arange(30, dtype=FLOAT)[:, None]
    for nu in (None, 1.5):
        spec = (GraphHeat(lam, U, lengthscale=1.1, variance=0.7, normalize=False) if nu is None
                else GraphMatern(lam, U, nu=nu, lengthscale=1.1, variance=0.7, normalize=False))
        filt = FilterGraphKernel(L, nu=nu, lengthscale=1.1, variance=0.7, lambda_max=2.0,
                                 order=40)
        assert_close(filt.gram(X[:7], X), spec.gram(X[:7], X), rtol64=1e-9, rtol32=1e-4,
                     atol64=1e-10, atol32=1e-5)


def test_kernel_in_gp_posterior():
    # The kernel plugs into jaxkern.gp: the posterior mean equals the dense formula
    # K_*X (K + s I)^{-1} y, and the Gram matrix is positive semi-definite.
    W = _random_graph(seed=2)
    lam, U = _spectrum(W, False)
    k = GraphMatern(jnp.asarray(lam, FLOAT), jnp.asarray(U, FLOAT), nu=2.0, lengthscale=2.0)
    X = jnp.arange(30, dtype=FLOAT)[:, None]
    train, test = X[::2], X[1::2]
    y = jnp.sin(jnp.asarray(U[::2, 1], FLOAT) * 10)
    post = gp_posterior(k, train, y, test, noise=0.1)
    K = np.asarray(k.gram(X, X), np.float64)
    assert np.linalg.eigvalsh(K).min() > -1e-6
    Ktt = K[::2, ::2] + 0.1 * np.eye(15)
    ref = K[1::2, ::2] @ np.linalg.solve(Ktt, np.asarray(y, np.float64))
    assert_close(post.mean, ref, rtol64=1e-8, rtol32=1e-3, atol64=1e-10, atol32=1e-4)


def test_fit_moves_hyperparameters_not_eigenpairs():
    W = _random_graph(seed=3)
    lam, U = _spectrum(W, False)
    k = GraphMatern(jnp.asarray(lam, FLOAT), jnp.asarray(U, FLOAT), nu=1.0, lengthscale=1.0)
    X = jnp.arange(30, dtype=FLOAT)[:, None]
    y = jnp.asarray(U[:, 1] * 5, FLOAT)
    result = fit(k, X, y, noise=0.1, num_steps=20)
    assert np.all(np.isfinite(result.losses)) and result.losses[-1] < result.losses[0]
    np.testing.assert_array_equal(np.asarray(result.kernel.eigenvalues), np.asarray(k.eigenvalues))
    np.testing.assert_array_equal(np.asarray(result.kernel.eigenvectors),
                                  np.asarray(k.eigenvectors))
    assert float(result.kernel.lengthscale) != 1.0


def test_normalised_weights_do_not_overflow():
    # Large nu and lengthscale with the zero eigenvalue of a connected graph's Laplacian (where
    # maximum likelihood goes for a signal with a mean level): Phi(0) = (2 nu / ell^2)^(-nu)
    # overflows, the normalised weights N Phi / sum Phi do not. Reference: the same ratio from
    # NumPy in extended precision (Phi(lambda_l) / Phi(0) = (1 + lambda_l ell^2 / 2 nu)^(-nu)).
    lam, U = _spectrum(_random_graph(seed=4), False)
    nu, ell = 60.0, 1e4
    k = GraphMatern(jnp.asarray(lam, FLOAT), jnp.asarray(U, FLOAT), nu=nu, lengthscale=ell)
    lam_ld = np.maximum(lam, 0).astype(np.longdouble)
    rel = (1 + lam_ld * ell**2 / (2 * nu)) ** (-nu)
    ref = np.asarray(30 * rel / rel.sum(), np.float64)
    w = k.weights()
    assert np.all(np.isfinite(np.asarray(w)))
    assert_close(w, ref, rtol64=1e-10, rtol32=1e-4, atol64=1e-300, atol32=1e-30)
    g = jax.grad(lambda kk: jnp.sum(kk.weights() ** 2))(k)
    assert np.isfinite(float(g.nu)) and np.isfinite(float(g.lengthscale))


def test_kernel_transforms():
    W = _random_graph(seed=4, n=12)
    lam, U = _spectrum(W, True)
    lam, U = jnp.asarray(lam, FLOAT), jnp.asarray(U, FLOAT)
    X = jnp.arange(12, dtype=FLOAT)[:, None]

    def gram(ell, nu):
        return GraphMatern(lam, U, nu=nu, lengthscale=ell).gram(X, X[:4])

    one = jnp.asarray(1.2, FLOAT)
    check_transforms(gram, (one, jnp.asarray(1.5, FLOAT)),
                     batch=(jnp.stack([one, 2 * one]), jnp.asarray(1.5, FLOAT)),
                     in_axes=(0, None), grad_argnums=(0, 1), rtol32=1e-4)


def test_lanczos_eigenpairs_equal_eigh():
    # Lowest eigenpairs of the Minnesota-like random graph by the shared Lanczos
    # (jaxkern.linalg.lanczos_eigh) vs NumPy's eigh; distinct eigenvalues here.
    W = _random_graph(n=200, p=0.03, seed=5)
    L = laplacian(graph_from_adjacency(W), normalization="sym")
    lam, U = _spectrum(W, True)
    v0 = jax.random.normal(jax.random.key(0), (200,), dtype=FLOAT)
    pairs = lowest_eigenpairs(L, 5, v0=v0, num_steps=200)
    assert_close(pairs.values, lam[:5], rtol64=1e-8, rtol32=1e-3, atol64=1e-10, atol32=1e-4)
    overlap = np.abs(np.sum(np.asarray(pairs.vectors, np.float64) * U[:, :5], axis=0))
    np.testing.assert_allclose(overlap, 1.0, atol=1e-6 if X64 else 1e-2)
    assert float(jnp.max(pairs.residuals)) < (1e-8 if X64 else 1e-3)


def test_disconnected_graph_kernels():
    # Two components: the kernel between them is exactly zero (for the full spectrum), within
    # each the kernel is that component's own.
    W = np.zeros((6, 6))
    W[0, 1] = W[1, 2] = W[3, 4] = W[4, 5] = 1.0
    W = W + W.T
    lam, U = _spectrum(W, False)
    K = GraphMatern(jnp.asarray(lam, FLOAT), jnp.asarray(U, FLOAT), nu=1.5,
                    normalize=False).gram(jnp.arange(6.0, dtype=FLOAT)[:, None],
                                          jnp.arange(6.0, dtype=FLOAT)[:, None])
    np.testing.assert_allclose(np.asarray(K)[:3, 3:], 0.0, atol=1e-6)
    assert_close(np.asarray(K)[:3, :3], np.asarray(K)[3:, 3:], rtol32=1e-5, atol64=1e-12)


def test_bad_inputs():
    lam, U = jnp.zeros(3, FLOAT), jnp.eye(3, dtype=FLOAT)
    with pytest.raises(ValueError, match="`eigenvalues` must have one entry per column"):
        GraphMatern(jnp.zeros(2, FLOAT), U)
    with pytest.raises(ValueError, match="`lengthscale` must be positive"):
        GraphMatern(lam, U, lengthscale=-1.0)
    with pytest.raises(ValueError, match="`X` must hold node indices"):
        GraphHeat(lam, U).gram(jnp.array([[3.0]], FLOAT), jnp.array([[0.0]], FLOAT))
    with pytest.raises(ValueError, match="`eigenvalues` must be finite"):
        GraphHeat(jnp.array([0.0, jnp.nan, 1.0], FLOAT), U)
    with pytest.raises(ValueError, match="`num_steps` must be an int >= 4"):
        lowest_eigenpairs(lambda v: v, 4, v0=jnp.ones(5, FLOAT), num_steps=3)
