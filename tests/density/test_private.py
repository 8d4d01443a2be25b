"""Private similarity sums: exact in the noiseless limit, noise calibrated to the sensitivity."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxkern.density import (
    KERNEL_ALIASES,
    analytic_gaussian_sigma,
    fast_jl,
    private_kernel_sum,
    private_l1_sum,
)
from jaxkern.density._private import _l1_tree_release
from jaxkern.kernels import spectral_frequencies

from ..helpers import FLOAT, assert_close, check_transforms


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


def _matern(r2, kernel):
    """Reference: the unit-variance kernels of r^2 = |x - y|^2 / h^2, written out in NumPy."""
    r = np.sqrt(r2)
    return {"rbf": np.exp(-r2 / 2), "matern12": np.exp(-r),
            "matern32": (1 + np.sqrt(3) * r) * np.exp(-np.sqrt(3) * r),
            "matern52": (1 + np.sqrt(5) * r + 5 * r2 / 3) * np.exp(-np.sqrt(5) * r)}[kernel]


def _random_feature_error(X, Y, ref, key, **kwargs):
    """Mean relative error over the queries of the noiseless estimate, averaged over 8 keys."""
    build = jax.vmap(lambda k: private_kernel_sum(X, epsilon=1e12, key=k, num_features=4096,
                                                  **kwargs)(Y))
    est = np.asarray(jax.jit(build)(jax.random.split(key, 8)), np.float64).mean(0)
    return float(np.mean(np.abs(est - ref)) / ref.mean())


@pytest.mark.parametrize("kernel", ["rbf", "matern12", "matern32", "matern52"])
def test_kernel_sum_without_noise_is_the_random_feature_estimate(kernel, getkey):
    # Reference: the exact kernel sum in NumPy. With no noise the error is the random-feature
    # error, O(1/sqrt(8 D)) relative for the mean of 8 structures. The frequencies come from
    # jaxkern.kernels.spectral_frequencies (matern12 draws changed with it: same multivariate
    # Cauchy law, new draws), so the bound is set from the law, not from one draw: over 100
    # repetitions of 8 keys (float32) the error averaged 0.006 (rbf) to 0.009 (matern12), at
    # most 0.023; a 10% wrong bandwidth or the neighbouring Matern spectrum gives >= 0.06.
    X, Y = jax.random.normal(getkey(), (1000, 3), FLOAT), jax.random.normal(getkey(), (30, 3),
                                                                           FLOAT)
    r2 = np.sum((np.asarray(X, np.float64)[None] - np.asarray(Y, np.float64)[:, None]) ** 2, -1)
    ref = _matern(r2 / 1.5**2, kernel).sum(1)
    assert _random_feature_error(X, Y, ref, getkey(), kernel=kernel, bandwidth=1.5) < 0.035


def test_kernel_sum_uses_the_shared_spectral_sampler_and_aliases(getkey):
    # One formula in one place: W = spectral_frequencies(...) / h with the frequency key, and
    # scikit-learn's names are the canonical kernels (same key, same structure).
    X, key = jax.random.normal(getkey(), (50, 3), FLOAT), getkey()
    k_freq = jax.random.split(key, 4)[1]
    for alias, canonical in KERNEL_ALIASES.items():
        dp = private_kernel_sum(X, epsilon=1.0, key=key, kernel=canonical, bandwidth=1.5,
                                num_features=64)
        W = spectral_frequencies(3, key=k_freq, num_features=64, spectrum=canonical, dtype=FLOAT)
        assert_close(dp.frequencies, W / 1.5)
        old = private_kernel_sum(X, epsilon=1.0, key=key, kernel=alias, bandwidth=1.5,
                                 num_features=64)
        np.testing.assert_array_equal(old.noisy_sum, dp.noisy_sum)
        np.testing.assert_array_equal(old.frequencies, dp.frequencies)


def test_kernel_sum_per_dimension_widths(getkey):
    # bandwidth of shape (d,): f = exp(-sum_i (x_i - y_i)^2 / 2 h_i^2).
    X, Y = jax.random.normal(getkey(), (1000, 2), FLOAT), jax.random.normal(getkey(), (30, 2),
                                                                           FLOAT)
    h = np.array([0.7, 2.0])
    diff = (np.asarray(X, np.float64)[None] - np.asarray(Y, np.float64)[:, None]) / h
    ref = np.exp(-0.5 * np.sum(diff**2, -1)).sum(1)
    assert _random_feature_error(X, Y, ref, getkey(), bandwidth=jnp.asarray(h, FLOAT)) < 0.035


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


@pytest.mark.slow
def test_projection_keeps_kernel_sums_close(getkey):
    X = jax.random.normal(getkey(), (500, 50), FLOAT) / np.sqrt(50)
    Y = jax.random.normal(getkey(), (20, 50), FLOAT) / np.sqrt(50)
    r2 = np.sum((np.asarray(X, np.float64)[None] - np.asarray(Y, np.float64)[:, None]) ** 2, -1)
    ref = np.exp(-r2 / 2).sum(1)
    dp = private_kernel_sum(X, epsilon=1e12, key=getkey(), num_features=4096, project_to=40)
    assert dp.projection.signs.shape == (64,) and dp.projection.rows.shape == (40,)
    assert float(np.mean(np.abs(np.asarray(dp(Y)) - ref)) / ref.mean()) < 0.1


@pytest.mark.slow
def test_fast_jl_is_an_isometry_in_expectation(getkey):
    # H D is orthonormal (norms exact before sampling); the sampled, rescaled map keeps norms
    # within the JL distortion, and the mean of |Px|^2 / |x|^2 over many maps is 1.
    X = jax.random.normal(getkey(), (30, 100), FLOAT)
    full = fast_jl(100, 128, key=getkey(), dtype=FLOAT)  # every coordinate of the transform
    assert_close(jnp.linalg.norm(full(X), axis=1), jnp.linalg.norm(X, axis=1),
                 rtol64=1e-12, rtol32=1e-5)
    ratios = np.stack([np.asarray(jnp.sum(fast_jl(100, 32, key=k, dtype=FLOAT)(X) ** 2, 1)
                                  / jnp.sum(X**2, 1)) for k in jax.random.split(getkey(), 200)])
    assert abs(ratios.mean() - 1) < 0.02 and np.all(np.abs(ratios - 1) < 1.2)
    P = fast_jl(100, 32, key=getkey(), dtype=FLOAT)
    check_transforms(P, (X,), batch=(X[:, None, :],), rtol32=1e-5)
    with pytest.raises(ValueError, match="project_to"):
        fast_jl(100, 129, key=getkey())
    with pytest.raises(ValueError, match="project_to"):
        fast_jl(100, 0, key=getkey())
    with pytest.raises(ValueError, match="dim"):
        fast_jl(True, 1, key=getkey())
    with pytest.raises(TypeError, match="key"):
        fast_jl(100, 32)


def test_fast_jl_key_first_is_deprecated(getkey):
    # The old call fast_jl(key, dim, project_to, dtype) builds the same map, with a warning,
    # for typed and raw (uint32) keys.
    for key in (getkey(), jax.random.PRNGKey(3)):
        new = fast_jl(100, 32, key=key, dtype=FLOAT)
        with pytest.warns(DeprecationWarning, match="key=key"):
            old = fast_jl(key, 100, 32, FLOAT)
        np.testing.assert_array_equal(old.signs, new.signs)
        np.testing.assert_array_equal(old.rows, new.rows)
        with pytest.warns(DeprecationWarning):
            assert fast_jl(key, 100, 32, dtype=FLOAT).signs.dtype == FLOAT
    with pytest.raises(TypeError, match="positional"):
        fast_jl(100, 32, FLOAT, key=getkey())


def test_queries_transforms(getkey):
    # jit = eager and vmap over queries = a loop for both structures; the kernel sum is smooth
    # in the query (grad = finite differences), the l1 sum is piecewise linear (no grad check).
    X = _uniform(getkey(), 100, 2)
    tree = private_l1_sum(X, epsilon=1.0, key=getkey(), lo=0.0, hi=1.0)
    Y = _uniform(getkey(), 6, 2)
    check_transforms(tree, (Y,), batch=(Y[:, None, :],), grad_argnums=None, rtol32=1e-5)
    dp = private_kernel_sum(X, epsilon=1.0, key=getkey())
    check_transforms(dp, (Y,), batch=(Y[:, None, :],), rtol32=1e-5)
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
    with pytest.raises(ValueError, match="num_features"):
        private_kernel_sum(X, epsilon=1.0, key=getkey(), num_features=0)
    with pytest.raises(ValueError, match="project_to"):
        private_kernel_sum(X, epsilon=1.0, key=getkey(), project_to=True)
    with pytest.raises(ValueError, match="bandwidth"):
        private_kernel_sum(X, epsilon=1.0, key=getkey(), bandwidth=jnp.ones(3))
    with pytest.raises(ValueError, match="bandwidth"):
        private_kernel_sum(X, epsilon=1.0, key=getkey(), bandwidth=jnp.ones(2), project_to=2)
    for depth in (0, 25, True, 8.0):
        with pytest.raises(ValueError, match="depth"):
            private_l1_sum(X, epsilon=1.0, key=getkey(), lo=0.0, hi=1.0, depth=depth)
    for delta in (0.0, 1.0, -1e-5):
        with pytest.raises(ValueError, match="delta"):
            private_kernel_sum(X, epsilon=1.0, key=getkey(), delta=delta)
