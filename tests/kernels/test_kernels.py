"""Pairwise kernels: golden values, r = 0 gradients, PSD Gram matrices, transforms, bad inputs."""

import functools
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate
from hypothesis import given, settings
from hypothesis import strategies as st
from jax.test_util import check_grads
from sklearn.gaussian_process import kernels as skk
from sklearn.metrics.pairwise import polynomial_kernel

from jaxkern import kernels as K
from tests.helpers import FLOAT, X64, assert_close, grad_check_eps, points

STATIONARY_MODULES = [
    K.RBF(lengthscale=[0.7, 1.3, 2.0], variance=1.5),
    K.Matern12(lengthscale=[0.7, 1.3, 2.0], variance=1.5),
    K.Matern32(lengthscale=0.9, variance=0.5),
    K.Matern52(lengthscale=[0.7, 1.3, 2.0]),
    K.RationalQuadratic(lengthscale=1.1, variance=2.0, alpha=0.7),
    K.Periodic(lengthscale=[0.8, 1.0, 1.2], period=[1.0, 2.0, 3.0], variance=1.3),
    K.Cosine(period=[1.0, 2.5, 4.0], variance=0.8),
    K.SpectralMixture(
        weights=[0.5, 1.5], means=[[0.1, 0.2, 0.0], [0.5, 0.0, 0.3]],
        variances=[[0.05, 0.1, 0.2], [0.3, 0.1, 0.05]],
    ),
]
DOT_MODULES = [
    K.Linear(variance=0.7, bias=0.3),
    K.Polynomial(degree=3, variance=0.5, bias=1.0),
    K.ArcCosine(order=0),
    K.ArcCosine(order=1, bias_variance=0.2),
    K.ArcCosine(order=2, weight_variance=0.5, variance=2.0),
]
ALL_MODULES = STATIONARY_MODULES + DOT_MODULES
ids = lambda ks: [type(k).__name__ + str(i) for i, k in enumerate(ks)]  # noqa: E731


def _np(x):
    return np.asarray(x, dtype=np.float64)


@pytest.fixture
def XY(getkey):
    return points(getkey(), 7, 3), points(getkey(), 5, 3)


# --- golden values -----------------------------------------------------------------------------

# Reference: scikit-learn's kernels (independent implementation), evaluated in float64.
SKLEARN_PAIRS = [
    (K.RBF(lengthscale=[0.5, 1.0, 2.0], variance=2.0),
     skk.ConstantKernel(2.0) * skk.RBF(length_scale=[0.5, 1.0, 2.0])),
    (K.Matern12(lengthscale=0.8), skk.Matern(length_scale=0.8, nu=0.5)),
    (K.Matern32(lengthscale=[0.5, 1.0, 2.0]), skk.Matern(length_scale=[0.5, 1.0, 2.0], nu=1.5)),
    (K.Matern52(lengthscale=1.3, variance=0.4),
     skk.ConstantKernel(0.4) * skk.Matern(length_scale=1.3, nu=2.5)),
    (K.RationalQuadratic(lengthscale=1.2, alpha=0.3),
     skk.RationalQuadratic(length_scale=1.2, alpha=0.3)),
    (K.Linear(variance=1.0, bias=0.25), skk.DotProduct(sigma_0=0.5)),
]


@pytest.mark.parametrize("ours, theirs", SKLEARN_PAIRS, ids=[type(p[0]).__name__ for p in
                                                             SKLEARN_PAIRS])
def test_against_sklearn(ours, theirs, XY):
    X, Y = XY
    assert_close(K.gram(ours, X, Y), theirs(_np(X), _np(Y)), rtol64=1e-13, rtol32=2e-5)


def test_periodic_against_sklearn_1d(getkey):
    # Reference: scikit-learn ExpSineSquared (1-D only; ours is its product over dimensions).
    X, Y = points(getkey(), 6, 1, 2.0), points(getkey(), 4, 1, 2.0)
    ours = K.gram(K.Periodic(lengthscale=0.7, period=1.9, variance=1.0), X, Y)
    theirs = skk.ExpSineSquared(length_scale=0.7, periodicity=1.9)(_np(X), _np(Y))
    assert_close(ours, theirs, rtol64=1e-13, rtol32=2e-5, atol32=1e-6)


def test_polynomial_against_sklearn(XY):
    # Reference: sklearn.metrics.pairwise.polynomial_kernel, (gamma <x, y> + coef0)^degree.
    X, Y = XY
    ours = K.gram(K.Polynomial(degree=3, variance=0.5, bias=2.0), X, Y)
    assert_close(ours, polynomial_kernel(_np(X), _np(Y), degree=3, gamma=0.5, coef0=2.0),
                 rtol64=1e-13, rtol32=2e-5)


def test_spectral_mixture_is_fourier_transform_of_its_spectrum():
    # Reference: k(tau) = int S(s) cos(2 pi s tau) ds of the symmetrised Gaussian-mixture
    # spectral density S, by scipy.integrate.quad (Wilson & Adams 2013, eq. 12).
    w, mu, v = [0.5, 1.5], [0.3, 1.2], [0.04, 0.2]

    def density(s):
        g = lambda m, var: math.exp(-((s - m) ** 2) / (2 * var)) / math.sqrt(2 * math.pi * var)
        return sum(wq * 0.5 * (g(m, var) + g(-m, var)) for wq, m, var in zip(w, mu, v))

    k = K.SpectralMixture(weights=w, means=[[m] for m in mu], variances=[[x] for x in v])
    for tau in [0.0, 0.37, 1.1, 2.5]:
        ref = scipy.integrate.quad(lambda s: density(s) * math.cos(2 * math.pi * s * tau),
                                   -30, 30, limit=2000, epsabs=1e-14)[0]
        ours = k(jnp.array([tau], FLOAT), jnp.zeros(1, FLOAT))
        assert_close(ours, ref, rtol64=1e-10, rtol32=1e-5, atol64=1e-13, atol32=1e-6)


@pytest.mark.parametrize("order", [0, 1, 2])
def test_arccos_against_gaussian_integral(order):
    # Reference: Cho & Saul's definition k_n = 2 E[H(w.x)H(w.y)(w.x)^n(w.y)^n], w ~ N(0, I_2),
    # in polar coordinates: the radial integral is 2^n n! / (2 pi), the angular one is done by
    # scipy.integrate.quad with the sign changes of w.x and w.y as break points.
    x, y = np.array([1.3, 0.2]), np.array([-0.4, 0.9])

    def angular(phi):
        u = np.array([math.cos(phi), math.sin(phi)])
        a, b = u @ x, u @ y
        return (a * b) ** order if a > 0 and b > 0 else 0.0

    breaks = sorted((math.atan2(p[1], p[0]) + s * math.pi / 2) % (2 * math.pi)
                    for p in (x, y) for s in (1, -1))
    radial = 2**order * math.factorial(order) / (2 * math.pi)
    ref = 2 * radial * scipy.integrate.quad(angular, 0, 2 * math.pi, points=breaks,
                                            epsabs=1e-14, epsrel=1e-13)[0]
    ours = K.arccos(jnp.asarray(x, FLOAT), jnp.asarray(y, FLOAT), order=order)
    assert_close(ours, ref, rtol64=1e-12, rtol32=1e-5)


def test_cosine_and_linear_values():
    # Reference: the closed forms evaluated by hand.
    x, y = jnp.array([0.1, 0.4], FLOAT), jnp.array([0.3, -0.2], FLOAT)
    assert_close(K.cosine(x, y, period=jnp.array([2.0, 3.0], FLOAT)),
                 math.cos(2 * math.pi * (-0.2 / 2 + 0.6 / 3)))
    assert_close(K.linear(x, y, variance=2.0, bias=0.5), 0.5 + 2 * (0.03 - 0.08))


# --- properties ---------------------------------------------------------------------------------


_jit_gram = eqx.filter_jit(K.gram)


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**16), scale=st.floats(0.05, 5.0))
def test_gram_is_symmetric_psd(seed, scale):
    X = points(jax.random.key(seed), 12, 3, scale)
    for k in ALL_MODULES:
        G = _np(_jit_gram(k, X))
        np.testing.assert_allclose(G, G.T, rtol=1e-6, atol=1e-6 * np.abs(G).max())
        smallest = np.linalg.eigvalsh(G).min()
        assert smallest >= -(1e-10 if X64 else 1e-4) * max(np.abs(G).max(), 1.0), (k, smallest)


@pytest.mark.parametrize("k", STATIONARY_MODULES, ids=ids(STATIONARY_MODULES))
def test_stationary_finite_gradient_at_zero_distance(k, getkey):
    x = points(getkey(), 1, 3)[0]
    # d/dx k(x, y) at y = x, d/dx k(x, x), and d/dtheta k(x, x): all finite.
    assert jnp.all(jnp.isfinite(jax.grad(lambda z: k(z, x))(x)))
    assert jnp.all(jnp.isfinite(jax.grad(lambda z: k(z, z))(x)))
    grads = jax.grad(lambda kk: kk(x, x))(k)
    assert all(jnp.all(jnp.isfinite(g)) for g in jax.tree.leaves(grads))
    assert jnp.isfinite(k(x, x))


@pytest.mark.parametrize("k", DOT_MODULES, ids=ids(DOT_MODULES))
def test_dot_product_finite_gradient_at_equal_points(k, getkey):
    x = points(getkey(), 1, 3)[0]
    assert jnp.all(jnp.isfinite(jax.grad(lambda z: k(z, x))(x)))
    assert jnp.all(jnp.isfinite(jax.grad(lambda z: k(z, z))(jnp.zeros(3, FLOAT))))


def test_arccos_gradient_matches_finite_differences_near_parallel():
    # Where x and y are nearly parallel, arccos' chain rule has an infinite factor that the
    # closed-form dJ/dc removes; check the result against finite differences.
    x = jnp.array([1.0, 0.3], FLOAT)
    y = jnp.array([1.0, 0.31], FLOAT)
    for order in (1, 2):
        check_grads(lambda a: K.arccos(a, y, order=order), (x,), order=1, modes=["rev"],
                    eps=grad_check_eps(), atol=1e-3 if not X64 else None)


def test_composition():
    a, b = K.RBF(lengthscale=0.5), K.Matern32(variance=2.0)
    x, y = jnp.array([0.1, 0.2], FLOAT), jnp.array([0.3, -0.1], FLOAT)
    assert_close((a + b)(x, y), a(x, y) + b(x, y))
    assert_close((a * b)(x, y), a(x, y) * b(x, y))
    assert_close((2.0 * a)(x, y), 2 * a(x, y))
    assert_close((a * 3.0)(x, y), 3 * a(x, y))
    assert isinstance(2.0 * a + b * a, K.SumKernel)


def test_rational_quadratic_tends_to_rbf():
    x, y = jnp.array([0.1, 0.9], FLOAT), jnp.array([0.5, -0.3], FLOAT)
    assert_close(K.rational_quadratic(x, y, alpha=1e4), K.rbf(x, y), rtol64=1e-4, rtol32=1e-3)


# --- transforms ---------------------------------------------------------------------------------

PURE = [
    functools.partial(K.rbf, lengthscale=0.8),
    functools.partial(K.matern12, lengthscale=0.8),
    functools.partial(K.matern32, lengthscale=0.8),
    functools.partial(K.matern52, lengthscale=0.8),
    functools.partial(K.rational_quadratic, alpha=2.0),
    functools.partial(K.periodic, period=2.0),
    functools.partial(K.cosine, period=3.0),
    functools.partial(K.linear, bias=0.1),
    functools.partial(K.polynomial, degree=2),
    functools.partial(K.arccos, order=1),
]


@pytest.mark.parametrize("k", PURE, ids=[p.func.__name__ for p in PURE])
def test_jit_vmap_grad(k, getkey):
    x, y = points(getkey(), 2, 3)
    direct = k(x, y)
    assert_close(jax.jit(k)(x, y), direct)
    X = points(getkey(), 4, 3)
    assert_close(jax.vmap(k, in_axes=(0, None))(X, y), jnp.stack([k(xi, y) for xi in X]))
    check_grads(k, (x, y), order=2 if X64 else 1, modes=["fwd", "rev"], eps=grad_check_eps(),
                atol=None if X64 else 5e-2, rtol=None if X64 else 5e-2)


def test_grad_wrt_hyperparameters(getkey):
    x, y = points(getkey(), 2, 3)
    for k in ALL_MODULES:
        grads = jax.grad(lambda kk: kk(x, y))(k)
        assert all(jnp.all(jnp.isfinite(g)) for g in jax.tree.leaves(grads)), k
    check_grads(lambda ell, var: K.rbf(x, y, lengthscale=ell, variance=var),
                (jnp.array([0.5, 1.0, 2.0], FLOAT), jnp.asarray(1.3, FLOAT)), order=1,
                modes=["rev"], eps=grad_check_eps(), atol=None if X64 else 5e-2)


# --- bad inputs ---------------------------------------------------------------------------------


@pytest.mark.parametrize("make, name", [
    (lambda: K.RBF(lengthscale=-1.0), "lengthscale"),
    (lambda: K.Matern32(variance=0.0), "variance"),
    (lambda: K.Periodic(period=-2.0), "period"),
    (lambda: K.RationalQuadratic(alpha=-1.0), "alpha"),
    (lambda: K.Polynomial(degree=0), "degree"),
    (lambda: K.ArcCosine(order=3), "order"),
    (lambda: K.SpectralMixture(weights=[1.0], means=[[1.0, 2.0]], variances=[[1.0]]), "means"),
    (lambda: K.rbf(jnp.zeros(2), jnp.zeros(2), lengthscale=-0.5), "lengthscale"),
    (lambda: K.linear(jnp.zeros(2), jnp.zeros(2), bias=-1.0), "bias"),
])
def test_bad_hyperparameters(make, name):
    with pytest.raises(ValueError, match=name):
        make()
