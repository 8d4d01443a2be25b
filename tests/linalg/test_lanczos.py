"""Lanczos, SLQ traces and spectral densities against dense NumPy references."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxkern.kernels import RBF, gram
from jaxkern.linalg import (
    LanczosDecomposition,
    SpectralDensity,
    gauss_rules,
    lanczos,
    lanczos_eigh,
    slq_logdet,
    smoothed_density,
    spectral_density,
    stochastic_trace,
)

from ..helpers import FLOAT, X64, assert_close, check_transforms


def _rbf_gram(key, n, shift=0.0):
    # RBF Gram of x ~ U[-3, 3]^3 (the test problem), plus `shift` I.
    X = jax.random.uniform(key, (n, 3), dtype=FLOAT, minval=-3.0, maxval=3.0)
    return gram(RBF(), X) + shift * jnp.eye(n, dtype=FLOAT)


def _tridiag(dec):
    d, e = np.asarray(dec.diag, np.float64), np.asarray(dec.offdiag, np.float64)
    return np.diag(d) + np.diag(e, 1) + np.diag(e, -1)


def test_gauss_rules_match_scipy_eigh_tridiagonal(getkey):
    # Reference: SciPy eigh_tridiagonal (LAPACK stemr) in float64; the weights are the squared
    # first components of its eigenvectors, and a Gauss rule's weights sum to one.
    from scipy.linalg import eigh_tridiagonal

    diag = jax.random.uniform(getkey(), (3, 7), dtype=FLOAT, minval=1.0, maxval=3.0)
    offdiag = jax.random.uniform(getkey(), (3, 6), dtype=FLOAT, minval=0.1, maxval=1.0)
    nodes, weights = gauss_rules(diag, offdiag)
    for k in range(3):
        d, e = np.asarray(diag[k], np.float64), np.asarray(offdiag[k], np.float64)
        theta, S = eigh_tridiagonal(d, e)
        assert_close(nodes[k], theta, rtol64=1e-12, rtol32=1e-5)
        assert_close(weights[k], S[0] ** 2, rtol64=1e-10, rtol32=1e-4, atol32=1e-6)
    assert_close(weights.sum(axis=1), np.ones(3), rtol64=1e-13, rtol32=1e-6)


@pytest.mark.parametrize("n", [pytest.param(2000, marks=pytest.mark.slow), 500])
def test_lambda_max_matches_eigvalsh_on_gram(getkey, n):
    # Issue bar at n = 2000 (slow), fast equivalent at n = 500.
    # Reference: NumPy eigvalsh (LAPACK syevd) of the same matrix in float64.
    K = _rbf_gram(getkey(), n)
    v0 = jax.random.normal(getkey(), (n,), dtype=FLOAT)
    ritz = jax.jit(lambda K, v: lanczos_eigh(lambda x: K @ x, v, num_steps=60))(K, v0)
    want = np.linalg.eigvalsh(np.asarray(K, np.float64))[-1]
    np.testing.assert_allclose(float(ritz.values[-1]), want, rtol=1e-8 if X64 else 1e-5)
    # The Ritz vector is an eigenvector: small residual relative to lambda_max.
    u = ritz.vectors[-1]
    resid = np.linalg.norm(np.asarray(K @ u - ritz.values[-1] * u, np.float64))
    assert resid <= (1e-6 if X64 else 1e-2) * want


def test_decomposition_is_orthonormal_and_tridiagonalises(getkey):
    # Property: Q Q^T = I and Q A Q^T = T (full reorthogonalisation).
    A = _rbf_gram(getkey(), 50, shift=0.1)
    dec = lanczos(lambda x: A @ x, jax.random.normal(getkey(), (50,), dtype=FLOAT), num_steps=20)
    assert isinstance(dec, LanczosDecomposition)
    assert dec.basis.shape == (20, 50) and dec.diag.shape == (20,) and dec.offdiag.shape == (19,)
    Q = np.asarray(dec.basis, np.float64)
    assert_close(Q @ Q.T, np.eye(20), rtol64=0, rtol32=0, atol64=1e-12, atol32=1e-5)
    assert_close(Q @ np.asarray(A, np.float64) @ Q.T, _tridiag(dec), rtol64=0, rtol32=0,
                 atol64=1e-11, atol32=1e-4)


def test_without_reorthogonalisation_extreme_ritz_value(getkey):
    # Three-term recurrence alone still finds lambda_max of a small matrix (reference eigvalsh).
    A = _rbf_gram(getkey(), 200, shift=0.1)
    ritz = lanczos_eigh(lambda x: A @ x, jnp.ones(200, FLOAT), num_steps=30,
                        reorthogonalize=False)
    want = np.linalg.eigvalsh(np.asarray(A, np.float64))[-1]
    np.testing.assert_allclose(float(ritz.values[-1]), want, rtol=1e-10 if X64 else 1e-5)


@pytest.mark.slow
def test_breakdown_restarts_without_nan():
    # diag(1,1,1,2,2,2,3,3) from the ones vector: the Krylov space has dimension 3, so beta_3 = 0;
    # the restarted basis still spans R^8 and T's eigenvalues are A's (reference: the diagonal).
    a = jnp.array([1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 3.0, 3.0], FLOAT)
    dec = lanczos(lambda x: a * x, jnp.ones(8, FLOAT), num_steps=8)
    for leaf in dec:
        assert np.all(np.isfinite(np.asarray(leaf)))
    assert float(dec.offdiag[2]) == 0.0
    Q = np.asarray(dec.basis, np.float64)
    assert_close(Q @ Q.T, np.eye(8), rtol64=0, rtol32=0, atol64=1e-12, atol32=1e-5)
    assert_close(np.linalg.eigvalsh(_tridiag(dec)), np.sort(np.asarray(a)), rtol64=1e-12,
                 rtol32=1e-5)
    # An eigenvector as start vector breaks down at the first step.
    e = jnp.zeros(8, FLOAT).at[7].set(1.0)
    dec = lanczos(lambda x: a * x, e, num_steps=3)
    assert float(dec.offdiag[0]) == 0.0 and float(dec.diag[0]) == 3.0
    # SLQ through a breakdown: finite, and exact (Gauss rule on 3 nodes, Rademacher probes).
    est = slq_logdet(lambda x: a * x, 8, key=jax.random.key(3), num_probes=3, num_steps=6)
    assert_close(est.estimate, np.sum(np.log(np.asarray(a, np.float64))), rtol64=1e-12,
                 rtol32=1e-5)


def test_zero_operator_does_not_nan():
    dec = lanczos(lambda x: 0.0 * x, jnp.ones(4, FLOAT), num_steps=4)
    for leaf in dec:
        assert np.all(np.isfinite(np.asarray(leaf)))
    assert_close(np.asarray(dec.diag), np.zeros(4), rtol64=0, rtol32=0)


def test_slq_logdet_rbf_gram(getkey):
    # Issue bar (fast size): log det(K + 0.1 I), x ~ U[-3, 3]^3, 30 Rademacher probes x 30
    # steps, relative error <= 1e-2. Reference: NumPy slogdet in float64.
    A = _rbf_gram(getkey(), 1000, shift=0.1)
    est = jax.jit(lambda A, key: slq_logdet(lambda x: A @ x, 1000, key=key, num_probes=30,
                                            num_steps=30))(A, getkey())
    want = np.linalg.slogdet(np.asarray(A, np.float64))[1]
    rel = abs(float(est.estimate) - want) / abs(want)
    assert rel <= 1e-2, rel
    se = float(est.standard_error)
    assert 0 < se < 0.05 * abs(want)
    assert abs(float(est.estimate) - want) <= 5 * se + 1e-3 * abs(want)


@pytest.mark.slow
def test_slq_logdet_rbf_gram_n4000(getkey):
    # Issue bar at full size n = 4000, matrix-free via a dense matvec. Reference: NumPy slogdet.
    A = _rbf_gram(getkey(), 4000, shift=0.1)
    est = slq_logdet(lambda x: A @ x, 4000, key=getkey(), num_probes=30, num_steps=30)
    want = np.linalg.slogdet(np.asarray(A, np.float64))[1]
    assert abs(float(est.estimate) - want) / abs(want) <= 1e-2


@pytest.mark.slow
def test_stochastic_trace_exact_on_diagonal_and_normal_probes(getkey):
    # tr f(A) for diagonal A with Rademacher probes and m = n is exact (z_i^2 = 1);
    # Gaussian probes are unbiased: within 5 standard errors (reference: NumPy sum).
    a = jnp.linspace(0.5, 4.0, 12, dtype=FLOAT)
    est = stochastic_trace(lambda x: a * x, jnp.ones(12, FLOAT), jnp.sqrt, key=getkey(),
                           num_probes=2, num_steps=12)
    want = np.sum(np.sqrt(np.asarray(a, np.float64)))
    assert_close(est.estimate, want, rtol64=1e-12, rtol32=1e-5)
    assert float(est.standard_error) <= (1e-10 if X64 else 1e-4)
    est = stochastic_trace(lambda x: a * x, 12, jnp.sqrt, key=getkey(), num_probes=200,
                           num_steps=12, probes="normal")
    assert abs(float(est.estimate) - want) <= 5 * float(est.standard_error)
    one = stochastic_trace(lambda x: a * x, 12, jnp.sqrt, key=getkey(), num_probes=1,
                           num_steps=4)
    assert np.isinf(float(one.standard_error))


@pytest.mark.slow
def test_spectral_density_weights_are_squared_first_components(getkey):
    # Dense reference (NumPy eigh): seen from q = z/|z|, the spectral measure of A has nodes
    # lambda_i and weights (u_i^T q)^2. With m = n steps the Gauss rule is that measure. The
    # probes are the documented draw jax.random.rademacher(key, (num_probes, n)).
    n, p = 7, 3
    M = jax.random.normal(getkey(), (n, n), dtype=FLOAT)
    A = M @ M.T + jnp.diag(jnp.arange(n, dtype=FLOAT))
    key = getkey()
    sd = spectral_density(lambda x: A @ x, n, key=key, num_probes=p, num_steps=n)
    assert isinstance(sd, SpectralDensity) and sd.nodes.shape == (p, n)
    lam, U = np.linalg.eigh(np.asarray(A, np.float64))
    Z = np.asarray(jax.random.rademacher(key, (p, n), dtype=FLOAT), np.float64)
    Q = Z / np.linalg.norm(Z, axis=1, keepdims=True)
    want_w = (Q @ U) ** 2  # (p, n): weight of eigenvalue i seen from probe k
    assert_close(sd.nodes, np.broadcast_to(lam, (p, n)), rtol64=1e-10, rtol32=1e-4,
                 atol32=1e-4)
    assert_close(sd.weights, want_w, rtol64=0, rtol32=0, atol64=1e-10, atol32=1e-4)
    # The PyHessian bug -- components of eigenvectors instead of first components -- differs.
    dec = lanczos(lambda x: A @ x, jnp.asarray(Q[0], FLOAT), num_steps=n)
    S = np.linalg.eigh(_tridiag(dec))[1]
    assert np.max(np.abs(S[:, 0] ** 2 - want_w[0])) > 1e-2
    # Gauss exactness with m < n: sum_i w_i theta_i^j = q^T A^j q for j <= 2m - 1.
    m = 3
    sd = spectral_density(lambda x: A @ x, n, key=key, num_probes=p, num_steps=m)
    assert_close(jnp.sum(sd.weights, axis=1), np.ones(p), rtol64=1e-12, rtol32=1e-5)
    A64 = np.asarray(A, np.float64)
    for j in range(2 * m):
        moment = np.einsum("ki,ki->k", Q, (np.linalg.matrix_power(A64, j) @ Q.T).T)
        got = np.sum(np.asarray(sd.weights, np.float64) * np.asarray(sd.nodes, np.float64) ** j,
                     axis=1)
        np.testing.assert_allclose(got, moment, rtol=1e-9 if X64 else 1e-3)


def test_smoothed_density_integrates_to_one(getkey):
    A = _rbf_gram(getkey(), 60, shift=0.1)
    sd = spectral_density(lambda x: A @ x, 60, key=getkey(), num_probes=4, num_steps=10)
    lo, hi = float(jnp.min(sd.nodes)), float(jnp.max(sd.nodes))
    grid = jnp.linspace(lo - 2.0, hi + 2.0, 4001, dtype=FLOAT)
    rho = smoothed_density(sd, grid, width=0.2)
    assert rho.shape == (4001,) and np.all(np.asarray(rho) >= 0)
    integral = float(jnp.sum(rho)) * float(grid[1] - grid[0])
    np.testing.assert_allclose(integral, 1.0, rtol=1e-3)


def _ritz_max(A, v0):
    return lanczos_eigh(lambda x: A @ x, v0, num_steps=6).values[-1]


def _logdet(A, key):
    return slq_logdet(lambda x: A @ x, A.shape[0], key=key, num_probes=3, num_steps=6).estimate


def test_transforms(getkey):
    # jit = eager, vmap over start vectors = loop, grad w.r.t. A = finite differences.
    M = jax.random.normal(getkey(), (6, 6), dtype=FLOAT)
    A = M @ M.T / 6 + jnp.eye(6, dtype=FLOAT)
    V = jax.random.normal(getkey(), (3, 6), dtype=FLOAT)
    check_transforms(_ritz_max, (A, V[0]), batch=(A, V), in_axes=(None, 0),
                     rtol32=1e-4, grad_argnums=(0,))
    # d/dA of SLQ log det with m = n equals the probe average of z z^T : A^{-1} -- checked
    # against finite differences.
    check_transforms(_logdet, (A, jax.random.key(0)), grad_argnums=(0,), rtol32=1e-4)


def test_bad_inputs():
    A = jnp.eye(4, dtype=FLOAT)
    mv = lambda x: A @ x  # noqa: E731
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="`v0`"):
        lanczos(mv, jnp.ones((4, 1), FLOAT), num_steps=2)
    with pytest.raises(ValueError, match="`v0` must be nonzero"):
        lanczos(mv, jnp.zeros(4, FLOAT), num_steps=2)
    with pytest.raises(ValueError, match="`v0` must be finite"):
        lanczos(mv, jnp.array([1.0, jnp.nan, 0.0, 0.0], FLOAT), num_steps=2)
    with pytest.raises(ValueError, match="`v0` must be a real floating"):
        lanczos(mv, jnp.ones(4, jnp.int32), num_steps=2)
    with pytest.raises(ValueError, match="`num_steps` must be at most"):
        lanczos(mv, jnp.ones(4, FLOAT), num_steps=5)
    with pytest.raises(ValueError, match="`num_steps`"):
        lanczos(mv, jnp.ones(4, FLOAT), num_steps=0)
    with pytest.raises(ValueError, match="`matvec` must map"):
        lanczos(lambda x: x[:3], jnp.ones(4, FLOAT), num_steps=2)
    with pytest.raises(ValueError, match="`matvec` must be a callable"):
        lanczos(A, jnp.ones(4, FLOAT), num_steps=2)
    with pytest.raises(ValueError, match="`key`"):
        slq_logdet(mv, 4, key=0, num_probes=2, num_steps=2)
    with pytest.raises(ValueError, match="`probes`"):
        slq_logdet(mv, 4, key=key, num_probes=2, num_steps=2, probes="sobol")
    with pytest.raises(ValueError, match="`num_probes`"):
        stochastic_trace(mv, 4, jnp.log, key=key, num_probes=0, num_steps=2)
    with pytest.raises(ValueError, match="`dim_or_probe_template`"):
        stochastic_trace(mv, "four", jnp.log, key=key, num_probes=2, num_steps=2)
    with pytest.raises(ValueError, match="`fn`"):
        stochastic_trace(mv, 4, None, key=key, num_probes=2, num_steps=2)
    with pytest.raises(ValueError, match="`num_steps` must be at most"):
        spectral_density(mv, 4, key=key, num_probes=2, num_steps=9)
    with pytest.raises(ValueError, match="`matvec` must map"):
        spectral_density(lambda x: jnp.ones(3, FLOAT), 4, key=key, num_probes=2, num_steps=2)
    sd = spectral_density(mv, 4, key=key, num_probes=2, num_steps=2)
    with pytest.raises(ValueError, match="`width`"):
        smoothed_density(sd, jnp.linspace(0, 1, 5, dtype=FLOAT), width=0.0)
    with pytest.raises(ValueError, match="`grid`"):
        smoothed_density(sd, jnp.ones((2, 2), FLOAT), width=0.1)
    with pytest.raises(ValueError, match="`sd`"):
        smoothed_density((sd.nodes, sd.weights), jnp.ones(3, FLOAT), width=0.1)
