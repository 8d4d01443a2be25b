"""Random Fourier features and FAVOR+ features: unbiasedness, variance, transforms, errors."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from jaxkern.features import fourier_features, softmax_features, spectral_frequencies
from jaxkern.kernels import gram, matern12, matern32, matern52, rbf

from ..helpers import FLOAT, assert_close, check_transforms, points

SEEDS = 1000


def _estimates(feature_fn, d, *, spectrum="rbf", orthogonal=False, m=16):
    """Kernel estimates phi(X) phi(X)^T for SEEDS independent sets of m frequencies.

    One draw of SEEDS * m frequencies split into groups: iid rows, and orthogonal blocks of d
    rows (m is a multiple of d), are independent across groups.
    """
    W = spectral_frequencies(d, key=jax.random.key(7), num_features=SEEDS * m,
                             spectrum=spectrum, orthogonal=orthogonal, dtype=FLOAT)
    phi = jax.vmap(feature_fn)(W.reshape(SEEDS, m, d))
    return phi @ jnp.swapaxes(phi, 1, 2)


def _assert_unbiased(est, exact):
    # Mean over independent seeds within 3 standard errors of the exact kernel (plus a
    # rounding floor where the estimate is exact, e.g. the diagonal of Fourier features).
    est = np.asarray(est, np.float64)
    mean, se = est.mean(0), est.std(0, ddof=1) / np.sqrt(est.shape[0])
    assert np.all(np.abs(mean - np.asarray(exact)) <= 3 * se + 1e-5), (mean, exact, se)


@pytest.mark.parametrize(
    "spectrum, kernel",
    [("rbf", rbf), ("matern12", matern12), ("matern32", matern32), ("matern52", matern52)],
)
@pytest.mark.parametrize("orthogonal", [False, True])
def test_fourier_unbiased_against_kernels(getkey, spectrum, kernel, orthogonal):
    # Reference: the closed-form kernels of jaxkern.kernels, ARD lengthscale and variance.
    X = points(getkey(), 4, 2)
    ls, var = jnp.array([0.8, 1.7], FLOAT), 1.3
    est = _estimates(lambda W: fourier_features(X, W, lengthscale=ls, variance=var), 2,
                     spectrum=spectrum, orthogonal=orthogonal)
    exact = gram(functools.partial(kernel, lengthscale=ls, variance=var), X)
    _assert_unbiased(est, exact)


@pytest.mark.parametrize("spectrum, dist", [
    ("rbf", scipy.stats.norm()),
    ("matern12", scipy.stats.t(1)),  # Matern-nu spectrum in 1-D: Student t, 2 nu dof
    ("matern32", scipy.stats.t(3)),
    ("matern52", scipy.stats.t(5)),
])
def test_spectral_density_against_scipy(spectrum, dist):
    W = spectral_frequencies(1, key=jax.random.key(3), num_features=4000, spectrum=spectrum)
    assert scipy.stats.kstest(np.asarray(W[:, 0], np.float64), dist.cdf).pvalue > 1e-3


def test_orthogonal_radii_follow_spectrum():
    # Orthogonal features keep the radius law: |w| ~ chi(d) for the RBF spectrum.
    W = spectral_frequencies(4, key=jax.random.key(4), num_features=4000, orthogonal=True)
    radii = np.linalg.norm(np.asarray(W, np.float64), axis=1)
    assert scipy.stats.kstest(radii, scipy.stats.chi(4).cdf).pvalue > 1e-3
    block = np.asarray(W[:4], np.float64)
    gram_dirs = (block / radii[:4, None]) @ (block / radii[:4, None]).T
    np.testing.assert_allclose(gram_dirs, np.eye(4), atol=1e-5)


def test_orthogonal_features_have_lower_variance(getkey):
    X = points(getkey(), 6, 8, scale=0.4)
    iid = _estimates(lambda W: fourier_features(X, W), 8, m=8)
    orf = _estimates(lambda W: fourier_features(X, W), 8, m=8, orthogonal=True)
    off = ~np.eye(6, dtype=bool)
    v_iid = np.asarray(iid, np.float64).var(0)[off].mean()
    v_orf = np.asarray(orf, np.float64).var(0)[off].mean()
    assert v_orf < 0.8 * v_iid, (v_orf, v_iid)


def test_fourier_diagonal_is_exact(getkey):
    X = points(getkey(), 5, 3)
    W = spectral_frequencies(3, key=getkey(), num_features=7, spectrum="matern32", dtype=FLOAT)
    phi = fourier_features(X, W, variance=2.5)
    assert phi.shape == (5, 14) and phi.dtype == FLOAT
    assert_close(jnp.sum(phi * phi, axis=1), jnp.full(5, 2.5), rtol64=1e-12, rtol32=1e-5)


def test_fourier_transforms(getkey):
    X = points(getkey(), 4, 3)
    W = spectral_frequencies(3, key=getkey(), num_features=5, dtype=FLOAT)
    ls = jnp.array([0.7, 1.1, 1.9], FLOAT)
    var = jnp.asarray(1.3, FLOAT)
    # jit, vmap over point sets, and gradients in the points, frequencies and hyperparameters.
    check_transforms(lambda X, W, ls, var: fourier_features(X, W, lengthscale=ls, variance=var),
                     (X, W, ls, var), batch=(jnp.stack([X, -X]), W, ls, var),
                     in_axes=(0, None, None, None), grad_argnums=(0, 1, 2, 3))


def test_frequencies_jit_and_vmap_over_keys():
    keys = jax.random.split(jax.random.key(0), 2)

    def draw(key):
        return spectral_frequencies(2, key=key, num_features=4, orthogonal=True, dtype=FLOAT)

    check_transforms(draw, (keys[0],), batch=(keys,), grad_argnums=None)


def test_fourier_bad_input():
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="num_features"):
        spectral_frequencies(2, key=key, num_features=0)
    with pytest.raises(ValueError, match="spectrum"):
        spectral_frequencies(2, key=key, num_features=3, spectrum="laplace")
    W = spectral_frequencies(2, key=key, num_features=3)
    with pytest.raises(ValueError, match="frequencies"):
        fourier_features(jnp.ones((4, 3)), W)
    with pytest.raises(ValueError, match="lengthscale"):
        fourier_features(jnp.ones((4, 2)), W, lengthscale=-1.0)
    for features in (fourier_features, jax.jit(fourier_features)):
        # Three lengthscales for 2-D points: a TypeError from `div` before, naming neither.
        with pytest.raises(ValueError, match=r"`lengthscale`.*\(2,\).*`X`.*got shape \(3,\)"):
            features(jnp.ones((4, 2), FLOAT), W.astype(FLOAT), lengthscale=jnp.ones(3, FLOAT))
        assert_close(features(jnp.ones((4, 2), FLOAT), W.astype(FLOAT),
                              lengthscale=jnp.full(1, 0.5, FLOAT)),
                     features(jnp.ones((4, 2), FLOAT), W.astype(FLOAT), lengthscale=0.5))
    with pytest.raises(ValueError, match="X"):
        fourier_features(jnp.ones(4), W)


@pytest.mark.parametrize("hyperbolic", [False, True])
def test_softmax_features_unbiased(getkey, hyperbolic):
    # Reference: exp(x^T y) computed directly.
    X = points(getkey(), 4, 3, scale=0.5)
    est = _estimates(lambda W: softmax_features(X, W, hyperbolic=hyperbolic), 3, m=32)
    assert bool(jnp.all(est > 0))
    _assert_unbiased(est, jnp.exp(X @ X.T))


def test_softmax_hyperbolic_has_lower_variance(getkey):
    X = points(getkey(), 5, 3, scale=0.3)
    plain = _estimates(lambda W: softmax_features(X, W), 3, m=32)
    hyp = _estimates(lambda W: softmax_features(X, W, hyperbolic=True), 3, m=32)
    assert np.asarray(hyp, np.float64).var(0).mean() < np.asarray(plain, np.float64).var(0).mean()


def test_softmax_features_transforms_and_errors(getkey):
    X = points(getkey(), 3, 2, scale=0.5)
    W = spectral_frequencies(2, key=getkey(), num_features=6, dtype=FLOAT)
    for hyperbolic in (False, True):
        check_transforms(softmax_features, (X, W), batch=(jnp.stack([X, -X]), W),
                         in_axes=(0, None), grad_argnums=(0, 1),
                         kwargs=dict(hyperbolic=hyperbolic))
    with pytest.raises(ValueError, match="frequencies"):
        softmax_features(jnp.ones((3, 5)), W)
