"""Private similarity sums: exact in the noiseless limit, noise calibrated to the sensitivity."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxkern.density import (
    analytic_gaussian_sigma,
    fast_jl,
    private_kernel_sum,
    private_l1_sum,
)
from jaxkern.density._private import _l1_tree_release

from ..helpers import FLOAT, assert_close


def _uniform(key, n, d):
    return jax.random.uniform(key, (n, d), FLOAT)


def test_l1_sum_exact_without_noise(getkey):
    # Reference: the direct NumPy sum of |x - y|_1. With a huge budget the only error is the
    # query's own cell (width 2^-16 per point there).
    X, Y = _uniform(getkey(), 2000, 3), _uniform(getkey(), 20, 3)
    tree = private_l1_sum(X, epsilon=1e12, key=getkey(), lo=0.0, hi=1.0, depth=16)
    ref = np.abs(np.asarray(X, np.float64)[None] - np.asarray(Y, np.float64)[:, None]).sum((1, 2))
    assert_close(tree(Y), ref, rtol64=1e-6, rtol32=1e-4)


def test_l1_sensitivity_on_neighbouring_datasets(getkey):
    # Adding one point (at a corner: the worst case) moves the release by at most epsilon in
    # the Laplace privacy loss sum |T(D) - T(D')| / scale, and the bound is attained.
    X = _uniform(getkey(), 300, 4)
    eps, depth = 0.7, 6
    lo, width = jnp.zeros(4, FLOAT), jnp.ones(4, FLOAT)
    for extra in (jnp.ones((1, 4), FLOAT), jnp.array([[0.0, 1.0, 0.3, 0.99]], FLOAT)):
        a = _l1_tree_release(X, lo, width, depth, eps)
        b = _l1_tree_release(jnp.concatenate([X, extra]), lo, width, depth, eps)
        loss = float(jnp.sum(jnp.abs(a.values - b.values) / a.scales))
        assert loss <= eps * (1 + 1e-6)
    assert loss > 0.75 * eps  # counts alone spend eps/2; sums of a near-corner point ~eps/2


def test_l1_noise_has_the_calibrated_scale(getkey):
    # The released minus the noiseless statistics are Laplace(scale): mean |noise| = scale
    # (16380 draws: standard error 0.008).
    X = _uniform(getkey(), 100, 2)
    tree = private_l1_sum(X, epsilon=2.0, key=getkey(), lo=0.0, hi=1.0, depth=11)
    exact = _l1_tree_release(X, jnp.zeros(2, FLOAT), jnp.ones(2, FLOAT), 11, 2.0)
    noise = (jnp.concatenate([tree.counts, tree.sums]) - exact.values) / exact.scales
    assert abs(float(jnp.mean(jnp.abs(noise))) - 1) < 0.05


def test_l1_error_falls_with_epsilon(getkey):
    X, Y = _uniform(getkey(), 5000, 2), _uniform(getkey(), 50, 2)
    ref = jnp.abs(X[None] - Y[:, None]).sum((1, 2))
    errs = [float(jnp.mean(jnp.abs(private_l1_sum(X, epsilon=e, key=getkey(), lo=0.0, hi=1.0,
                                                  depth=8)(Y) - ref)))
            for e in (0.1, 1.0, 10.0)]
    assert errs[0] > errs[1] > errs[2]


@pytest.mark.parametrize("kernel", ["gaussian", "exponential"])
def test_kernel_sum_without_noise_is_the_random_feature_estimate(kernel, getkey):
    # Reference: the exact kernel sum in NumPy; with no noise the error is the random-feature
    # error, O(1/sqrt(D)) relative.
    X, Y = jax.random.normal(getkey(), (1000, 3), FLOAT), jax.random.normal(getkey(), (30, 3),
                                                                           FLOAT)
    dp = private_kernel_sum(X, epsilon=1e12, key=getkey(), kernel=kernel, bandwidth=1.5,
                            num_features=4096)
    r2 = np.sum((np.asarray(X, np.float64)[None] - np.asarray(Y, np.float64)[:, None]) ** 2, -1)
    k = np.exp(-r2 / (2 * 1.5**2)) if kernel == "gaussian" else np.exp(-np.sqrt(r2) / 1.5)
    ref = k.sum(1)
    assert float(np.mean(np.abs(np.asarray(dp(Y)) - ref)) / ref.mean()) < 0.06


def test_kernel_sum_sensitivity_and_noise_scale(getkey):
    # ||phi(x)||_1 <= sqrt(2D): adding any point moves the released sum by at most the
    # Laplace scale * epsilon in l1; the noise has that scale.
    X = jax.random.normal(getkey(), (200, 5), FLOAT)
    D, eps, key = 256, 0.5, getkey()
    noiseless = private_kernel_sum(X, epsilon=1e12, key=key, num_features=D)
    for extra in jax.random.normal(getkey(), (20, 5), FLOAT) * 10:
        shift = jnp.sum(jnp.abs(noiseless.features(extra[None])[0]))
        assert float(shift) <= np.sqrt(2 * D) * (1 + 1e-6)
    noisy = private_kernel_sum(X, epsilon=eps, key=key, num_features=D)
    noise = noisy.noisy_sum - noiseless.noisy_sum
    assert abs(float(jnp.mean(jnp.abs(noise))) / (np.sqrt(2 * D) / eps) - 1) < 0.15


@pytest.mark.parametrize("eps, delta", [(0.1, 1e-5), (1.0, 1e-5), (1.0, 1e-3), (8.0, 1e-6)])
def test_analytic_gaussian_sigma_meets_the_privacy_profile(eps, delta):
    # Balle & Wang (2018), Theorem 8, evaluated with SciPy's normal CDF: delta(sigma) equals the
    # target at the returned sigma, and the classical sqrt(2 log(1.25/delta))/eps is larger.
    from scipy.stats import norm

    sigma = analytic_gaussian_sigma(eps, delta)
    a, b = 0.5 / sigma, eps * sigma
    profile = norm.cdf(a - b) - np.exp(eps) * norm.cdf(-a - b)
    assert abs(profile - delta) < 1e-8 * delta
    if eps < 1:
        assert sigma < np.sqrt(2 * np.log(1.25 / delta)) / eps


def test_gaussian_kernel_sum_noise_scale(getkey):
    # With delta, the l2 sensitivity is ||phi(x)||_2 <= sqrt(2) whatever D: Gaussian noise of
    # std sqrt(2) * sigma(eps, delta), not growing with D.
    X = jax.random.normal(getkey(), (200, 5), FLOAT)
    eps, delta, key = 0.5, 1e-5, getkey()
    for D in (64, 1024):
        noiseless = private_kernel_sum(X, epsilon=1e12, key=key, num_features=D)
        for extra in jax.random.normal(getkey(), (20, 5), FLOAT) * 10:
            assert float(jnp.linalg.norm(noiseless.features(extra[None])[0])) <= np.sqrt(2) + 1e-6
        noisy = private_kernel_sum(X, epsilon=eps, key=key, num_features=D, delta=delta)
        noise = np.asarray(noisy.noisy_sum - noiseless.noisy_sum, np.float64)
        expected = np.sqrt(2) * analytic_gaussian_sigma(eps, delta)
        assert abs(noise.std() / expected - 1) < (0.35 if D == 64 else 0.1)


def test_projection_keeps_kernel_sums_close(getkey):
    X = jax.random.normal(getkey(), (500, 50), FLOAT) / np.sqrt(50)
    Y = jax.random.normal(getkey(), (20, 50), FLOAT) / np.sqrt(50)
    r2 = np.sum((np.asarray(X, np.float64)[None] - np.asarray(Y, np.float64)[:, None]) ** 2, -1)
    ref = np.exp(-r2 / 2).sum(1)
    dp = private_kernel_sum(X, epsilon=1e12, key=getkey(), num_features=4096, project_to=40)
    assert dp.projection.signs.shape == (64,) and dp.projection.rows.shape == (40,)
    assert float(np.mean(np.abs(np.asarray(dp(Y)) - ref)) / ref.mean()) < 0.1


def test_fast_jl_is_an_isometry_in_expectation(getkey):
    # H D is orthonormal (norms exact before sampling); the sampled, rescaled map keeps norms
    # within the JL distortion, and the mean of |Px|^2 / |x|^2 over many maps is 1.
    X = jax.random.normal(getkey(), (30, 100), FLOAT)
    full = fast_jl(getkey(), 100, 128, FLOAT)  # every coordinate of the padded transform
    assert_close(jnp.linalg.norm(full(X), axis=1), jnp.linalg.norm(X, axis=1),
                 rtol64=1e-12, rtol32=1e-5)
    ratios = np.stack([np.asarray(jnp.sum(fast_jl(k, 100, 32, FLOAT)(X) ** 2, 1)
                                  / jnp.sum(X**2, 1)) for k in jax.random.split(getkey(), 200)])
    assert abs(ratios.mean() - 1) < 0.02 and np.all(np.abs(ratios - 1) < 1.2)
    P = fast_jl(getkey(), 100, 32, FLOAT)
    assert_close(jax.jit(lambda P, X: P(X))(P, X), P(X), rtol64=1e-12, rtol32=1e-6)
    assert jax.vmap(P)(X[:, None, :]).shape == (30, 1, 32)
    with pytest.raises(ValueError, match="project_to"):
        fast_jl(getkey(), 100, 129)


def test_queries_jit_vmap(getkey):
    X = _uniform(getkey(), 100, 2)
    tree = private_l1_sum(X, epsilon=1.0, key=getkey(), lo=0.0, hi=1.0)
    Y = _uniform(getkey(), 6, 2)
    assert_close(jax.jit(lambda t, y: t(y))(tree, Y), tree(Y), rtol32=1e-5)
    dp = private_kernel_sum(X, epsilon=1.0, key=getkey())
    batched = jax.vmap(lambda y: dp(y[None])[0])(Y)
    assert_close(batched, dp(Y), rtol32=1e-5)
    built = jax.jit(lambda X, k: private_kernel_sum(X, epsilon=1.0, key=k))(X, getkey())
    assert built(Y).shape == (6,)


def test_bad_input(getkey):
    X = _uniform(getkey(), 10, 2)
    for eps in (0.0, -1.0, float("inf")):
        with pytest.raises(ValueError, match="epsilon"):
            private_l1_sum(X, epsilon=eps, key=getkey(), lo=0.0, hi=1.0)
        with pytest.raises(ValueError, match="epsilon"):
            private_kernel_sum(X, epsilon=eps, key=getkey())
    with pytest.raises(ValueError, match="hi - lo"):
        private_l1_sum(X, epsilon=1.0, key=getkey(), lo=1.0, hi=0.0)
    with pytest.raises(ValueError, match="data"):
        private_kernel_sum(X.at[0, 0].set(jnp.nan), epsilon=1.0, key=getkey())
    tree = private_l1_sum(X, epsilon=1.0, key=getkey(), lo=0.0, hi=1.0)
    with pytest.raises(ValueError, match="queries"):
        tree(jnp.zeros((3, 3), FLOAT))
    with pytest.raises(ValueError, match="queries"):
        private_kernel_sum(X, epsilon=1.0, key=getkey())(jnp.zeros((3, 3), FLOAT))
    with pytest.raises(ValueError, match="kernel"):
        private_kernel_sum(X, epsilon=1.0, key=getkey(), kernel="cosine")
    for delta in (0.0, 1.0, -1e-5):
        with pytest.raises(ValueError, match="delta"):
            private_kernel_sum(X, epsilon=1.0, key=getkey(), delta=delta)
