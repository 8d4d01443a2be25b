"""Bandwidth rules: golden values from SciPy, KDEpy and a NumPy/SciPy likelihood optimum."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from KDEpy.bw_selection import improved_sheather_jones
from scipy.optimize import minimize_scalar
from scipy.special import logsumexp
from scipy.stats import gaussian_kde

from jaxkern.density import (
    isj_bandwidth,
    loo_bandwidth,
    loo_log_likelihood,
    scott_bandwidth,
    silverman_bandwidth,
)

from ..helpers import FLOAT, X64, assert_close


def _sample(seed, n, d):
    return np.random.default_rng(seed).normal(size=(n, d)) @ np.diag(np.arange(1.0, d + 1))


@pytest.mark.parametrize(("rule", "method"), [(scott_bandwidth, "scott"),
                                              (silverman_bandwidth, "silverman")])
def test_rules_match_gaussian_kde(rule, method):
    # Reference: scipy.stats.gaussian_kde(X.T, bw_method=method).covariance, run here.
    X = _sample(0, 150, 3)
    ref = gaussian_kde(X.T, bw_method=method).covariance
    assert_close(rule(jnp.asarray(X, FLOAT)), ref, rtol64=1e-12, rtol32=1e-5)


def test_rules_jit_vmap_and_bad_input():
    X = jnp.asarray(_sample(1, 40, 2), FLOAT)
    assert_close(jax.jit(scott_bandwidth)(X), scott_bandwidth(X))
    batch = jnp.stack([X, 2 * X])
    assert_close(jax.vmap(silverman_bandwidth)(batch)[1], 4 * silverman_bandwidth(X))
    with pytest.raises(ValueError, match="data"):
        scott_bandwidth(jnp.zeros((1, 2), FLOAT))
    with pytest.raises(ValueError, match="data"):
        silverman_bandwidth(X.at[0, 0].set(jnp.nan))


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


def test_isj_close_to_normal_reference_rule_on_gaussian_data():
    # Property: for Gaussian data the AMISE-optimal width is (4/3)^(1/5) sigma n^(-1/5).
    x = jax.random.normal(jax.random.key(0), (20000,), FLOAT)
    h = float(isj_bandwidth(x))
    assert abs(h / ((4 / 3) ** 0.2 * 20000**-0.2) - 1) < 0.1
    assert_close(jax.jit(isj_bandwidth)(x), h, rtol32=1e-4)


def test_isj_bad_input():
    with pytest.raises(ValueError, match="data"):
        isj_bandwidth(jnp.zeros((10, 2), FLOAT))
    with pytest.raises(ValueError, match="grid_size"):
        isj_bandwidth(jnp.zeros((10,), FLOAT), grid_size=4)


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
    fit = loo_bandwidth(jnp.asarray(X, FLOAT), num_steps=300, learning_rate=0.05)
    assert_close(fit.bandwidth, ref, rtol64=1e-4, rtol32=1e-3)
    assert_close(fit.loo_log_likelihood, _numpy_loo(X, ref), rtol64=1e-8, rtol32=1e-5)


def test_loo_diagonal_improves_on_scalar():
    # Property: more freedom cannot lower the optimum on anisotropic data.
    X = jnp.asarray(_sample(3, 100, 2), FLOAT)
    scalar = loo_bandwidth(X, num_steps=150, learning_rate=0.05)
    diag = loo_bandwidth(X, diagonal=True, num_steps=150, learning_rate=0.05)
    assert diag.bandwidth.shape == (2,)
    assert float(diag.loo_log_likelihood) >= float(scalar.loo_log_likelihood) - 1e-6
    assert float(diag.bandwidth[1]) > float(diag.bandwidth[0])


def test_loo_gradient_is_finite_and_bad_input():
    X = jnp.asarray(_sample(4, 30, 2), FLOAT)
    g = jax.grad(lambda h: loo_log_likelihood(X, bandwidth=h))(jnp.asarray(0.7, FLOAT))
    assert np.isfinite(float(g))
    with pytest.raises(ValueError, match="init"):
        loo_bandwidth(X, init=-1.0, num_steps=1)
    with pytest.raises(ValueError, match="data"):
        loo_log_likelihood(X[:1], bandwidth=1.0)
    if X64:
        # A bandwidth below its optimum has a positive derivative.
        assert float(g) > 0 or float(jax.grad(lambda h: loo_log_likelihood(
            X, bandwidth=h))(jnp.asarray(0.1, FLOAT))) > 0
