"""Bandwidth rules: golden values from SciPy, KDEpy and a NumPy/SciPy likelihood optimum."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from KDEpy.bw_selection import improved_sheather_jones
from scipy.optimize import minimize_scalar
from scipy.special import logsumexp
from scipy.stats import gaussian_kde

from jaxkern.density import (
    isj_bandwidth,
    kde_log_density,
    loo_bandwidth,
    loo_log_likelihood,
    scott_bandwidth,
    scott_bandwidth_matrix,
    silverman_bandwidth,
    silverman_bandwidth_matrix,
)

from ..helpers import FLOAT, X64, assert_close, check_transforms


def _sample(seed, n, d):
    return np.random.default_rng(seed).normal(size=(n, d)) @ np.diag(np.arange(1.0, d + 1))


@pytest.mark.parametrize(("rule", "method"), [(scott_bandwidth_matrix, "scott"),
                                              (silverman_bandwidth_matrix, "silverman")])
def test_rules_match_gaussian_kde(rule, method):
    # Reference: scipy.stats.gaussian_kde(X.T, bw_method=method).covariance, run here.
    X = _sample(0, 150, 3)
    ref = gaussian_kde(X.T, bw_method=method).covariance
    assert_close(rule(jnp.asarray(X, FLOAT)), ref, rtol64=1e-12, rtol32=1e-5)


@pytest.mark.parametrize(("old", "new"), [(scott_bandwidth, scott_bandwidth_matrix),
                                          (silverman_bandwidth, silverman_bandwidth_matrix)])
def test_old_rule_names_are_deprecated_aliases(old, new):
    X = jnp.asarray(_sample(0, 50, 2), FLOAT)
    with pytest.warns(DeprecationWarning, match=new.__name__):
        H = old(X)
    np.testing.assert_array_equal(H, new(X))


def test_rule_widths_are_the_diagonal_rule_not_the_full_matrix():
    # The documented width form: sqrt(diag(H)) as `bandwidth=` is the KDE with the diagonal of
    # H, which differs from the full H on correlated data (and equals it in 1-D).
    rng = np.random.default_rng(5)
    X = rng.normal(size=(300, 2)) @ np.array([[1.0, 0.9], [0.0, 0.4]])
    X, Y = jnp.asarray(X, FLOAT), jnp.asarray(rng.normal(size=(40, 2)), FLOAT)
    H = scott_bandwidth_matrix(X)
    widths = jnp.sqrt(jnp.diagonal(H))
    diag = kde_log_density(X, Y, bandwidth=widths)
    assert_close(diag, kde_log_density(X, Y, bandwidth_matrix=jnp.diag(jnp.diagonal(H))),
                 rtol32=2e-5)
    full = kde_log_density(X, Y, bandwidth_matrix=H)
    assert float(jnp.max(jnp.abs(full - diag))) > 0.1
    x = X[:, :1]
    h = jnp.sqrt(silverman_bandwidth_matrix(x)[0, 0])
    assert_close(kde_log_density(x, Y[:, :1], bandwidth=h),
                 kde_log_density(x, Y[:, :1], bandwidth_matrix=silverman_bandwidth_matrix(x)),
                 rtol32=2e-5)


@pytest.mark.parametrize("rule", [scott_bandwidth_matrix, silverman_bandwidth_matrix])
def test_rules_transforms_and_bad_input(rule):
    X = jnp.asarray(_sample(1, 40, 2), FLOAT)
    check_transforms(rule, (X,), batch=(jnp.stack([X, 2 * X]),), rtol32=2e-5)
    with pytest.raises(ValueError, match="data"):
        rule(jnp.zeros((1, 2), FLOAT))
    with pytest.raises(ValueError, match="data"):
        rule(X.at[0, 0].set(jnp.nan))


@pytest.mark.parametrize("seed", [0, 1])
def test_isj_matches_kdepy(seed):
    # Reference: KDEpy.bw_selection.improved_sheather_jones, run here. On data whose range
    # R >= 12 both use the grid [min - R/2, max + R/2] of 1024 nodes and reach the same
    # fixed point t*; KDEpy reports sqrt(t*) * R, and Botev et al.'s bandwidth (ours) is
    # sqrt(t*) * (grid width 2R): exactly twice KDEpy's number.
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.normal(-20, 3, 700), rng.normal(15, 5, 1300)])
    ref = 2 * improved_sheather_jones(x[:, None])
    assert_close(isj_bandwidth(jnp.asarray(x, FLOAT)), ref, rtol64=1e-7, rtol32=1e-4)


@pytest.mark.slow
def test_isj_close_to_normal_reference_rule_on_gaussian_data():
    # Property: for Gaussian data the AMISE-optimal width is (4/3)^(1/5) sigma n^(-1/5).
    x = jax.random.normal(jax.random.key(0), (20000,), FLOAT)
    h = float(isj_bandwidth(x))
    assert abs(h / ((4 / 3) ** 0.2 * 20000**-0.2) - 1) < 0.1
    # jit = eager; vmap over samples = a loop.
    check_transforms(isj_bandwidth, (x,), batch=(jnp.stack([x, 3 * x]),), grad_argnums=None,
                     rtol64=1e-10, rtol32=1e-4)
    # The gradient goes through the root by the implicit function theorem (optimistix), not
    # through the bisection's comparisons (which would give zero): h is scale-equivariant,
    # h(c x) = c h(x), so d h(c x) / dc at c = 1 is h(x).
    slope = jax.jit(jax.grad(lambda c: isj_bandwidth(c * x)))(jnp.asarray(1.0, FLOAT))
    assert_close(slope, h, rtol64=1e-6, rtol32=1e-3)


def test_isj_bad_input():
    with pytest.raises(ValueError, match="data"):
        isj_bandwidth(jnp.zeros((10, 2), FLOAT))
    with pytest.raises(ValueError, match="grid_size"):
        isj_bandwidth(jnp.zeros((10,), FLOAT), grid_size=4)
    with pytest.raises(ValueError, match="grid_size"):
        isj_bandwidth(jnp.zeros((10,), FLOAT), grid_size=1024.0)
    with pytest.raises(ValueError, match="iterations"):
        isj_bandwidth(jnp.zeros((10,), FLOAT), iterations=0)


def _numpy_loo(X, h):
    d2 = ((X[:, None] - X[None]) ** 2).sum(-1)
    n, d = X.shape
    log_k = -0.5 * d2 / h**2 - 0.5 * d * np.log(2 * np.pi * h**2)
    np.fill_diagonal(log_k, -np.inf)
    return np.mean(logsumexp(log_k, axis=1) - np.log(n - 1))


def test_loo_bandwidth_matches_scipy_optimum():
    # Reference: scipy.optimize.minimize_scalar on a NumPy float64 leave-one-out likelihood.
    X = _sample(2, 120, 2) / 2
    ref = minimize_scalar(lambda h: -_numpy_loo(X, h), bounds=(0.05, 3.0), method="bounded",
                          options={"xatol": 1e-8}).x
    fit = loo_bandwidth(jnp.asarray(X, FLOAT), num_steps=300)
    assert_close(fit.bandwidth, ref, rtol64=1e-4, rtol32=1e-3)
    assert_close(fit.loo_log_likelihood, _numpy_loo(X, ref), rtol64=1e-8, rtol32=1e-5)
    assert isinstance(fit.losses, np.ndarray) and fit.losses.shape == (300,)
    assert (fit.num_steps, fit.converged, fit.message) == (300, False, "num_steps reached")
    # L-BFGS through jaxkern.optim.minimize stops early at the same optimum.
    lbfgs = loo_bandwidth(jnp.asarray(X, FLOAT), num_steps=200, optimizer=optax.lbfgs(),
                          tol=1e-9 if X64 else 1e-6, chunk_size=10)
    assert lbfgs.converged and lbfgs.message == "tol reached" and lbfgs.num_steps < 200
    assert_close(lbfgs.bandwidth, ref, rtol64=1e-4, rtol32=1e-3)


def test_learning_rate_is_a_deprecated_alias():
    X = jnp.asarray(_sample(2, 60, 1), FLOAT)
    ref = loo_bandwidth(X, num_steps=20, optimizer=optax.adam(0.1))
    with pytest.warns(DeprecationWarning, match="optimizer"):
        old = loo_bandwidth(X, num_steps=20, learning_rate=0.1)
    np.testing.assert_array_equal(old.bandwidth, ref.bandwidth)
    np.testing.assert_array_equal(old.losses, ref.losses)
    with pytest.raises(ValueError, match="optimizer"):
        loo_bandwidth(X, num_steps=1, learning_rate=0.1, optimizer=optax.adam(0.1))


def test_loo_diagonal_improves_on_scalar():
    # Property: more freedom cannot lower the optimum on anisotropic data.
    X = jnp.asarray(_sample(3, 100, 2), FLOAT)
    scalar = loo_bandwidth(X, num_steps=150)
    diag = loo_bandwidth(X, diagonal=True, num_steps=150)
    assert diag.bandwidth.shape == (2,)
    assert float(diag.loo_log_likelihood) >= float(scalar.loo_log_likelihood) - 1e-6
    assert float(diag.bandwidth[1]) > float(diag.bandwidth[0])


def test_loo_log_likelihood_transforms():
    # jit = eager, vmap over bandwidths = a loop, grad in h and in the data = finite differences.
    X = jnp.asarray(_sample(4, 30, 2), FLOAT)
    check_transforms(lambda h: loo_log_likelihood(X, bandwidth=h, block_size=16),
                     (jnp.asarray(0.7, FLOAT),), batch=(jnp.array([0.4, 0.7, 1.3], FLOAT),),
                     rtol32=2e-5)
    check_transforms(lambda X: loo_log_likelihood(X, bandwidth=jnp.array([0.6, 1.1], FLOAT),
                                                  kernel="matern12"), (X,), rtol32=2e-5)
    # A bandwidth below its optimum has a positive derivative, above it a negative one.
    grad = jax.jit(jax.grad(lambda h: loo_log_likelihood(X, bandwidth=h)))
    assert float(grad(jnp.asarray(0.1, FLOAT))) > 0 > float(grad(jnp.asarray(5.0, FLOAT)))


def test_loo_bad_input():
    X = jnp.asarray(_sample(4, 30, 2), FLOAT)
    with pytest.raises(ValueError, match="init"):
        loo_bandwidth(X, init=-1.0, num_steps=1)
    with pytest.raises(ValueError, match="data"):
        loo_log_likelihood(X[:1], bandwidth=1.0)
    with pytest.raises(ValueError, match="num_steps"):
        loo_bandwidth(X, num_steps=-1)
    with pytest.raises(ValueError, match="kernel"):
        loo_bandwidth(X, kernel="boxcar", num_steps=1)
    with pytest.raises(ValueError, match="kernel"):
        loo_bandwidth(X, kernel="vmf", num_steps=1)
    with pytest.raises(ValueError, match="block_size"):
        loo_bandwidth(X, block_size=0, num_steps=1)
