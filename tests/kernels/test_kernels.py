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
from sklearn.gaussian_process import kernels as skk
from sklearn.metrics.pairwise import polynomial_kernel

from jaxkern import kernels as K
from tests.helpers import FLOAT, X64, assert_close, check_transforms, points

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
def test_stationary_gradient_at_zero_distance(k, getkey):
    # DESIGN.md: distance kernels have finite values and gradients at r = 0. Gradients in the
    # point and the hyperparameters of k(z, x) at z = x and of k(z, z) against finite
    # differences (which check_transforms requires to be finite).
    x = points(getkey(), 1, 3)[0]
    check_transforms(lambda kk, z: (kk(z, x), kk(z, z)), (k, x), grad_argnums=(0, 1))


@pytest.mark.parametrize("k", DOT_MODULES, ids=ids(DOT_MODULES))
def test_dot_product_gradient_at_equal_points(k, getkey):
    x = points(getkey(), 1, 3)[0]
    if isinstance(k, K.ArcCosine) and k.order == 0:
        # 1 - theta / pi has a cone at theta = 0: no derivative to compare with; by convention
        # the gradient there is finite.
        assert jnp.all(jnp.isfinite(jax.grad(lambda z: k(z, x))(x)))
    else:
        check_transforms(lambda z: k(z, x), (x,))
    check_transforms(lambda z: k(z, z), (jnp.zeros(3, FLOAT),))


@pytest.mark.parametrize("kernel, c4", [(K.matern52, 25.0 / 24.0), (K.matern72, 49.0 / 120.0)],
                         ids=["matern52", "matern72"])
def test_fourth_derivative_at_zero_lag(kernel, c4):
    # Reference: the Taylor series of the profile in tau / l, k = 1 - a tau^2 + c4 tau^4 + ...
    # ((1 + s + s^2/3) e^{-s}, s = sqrt5 tau/l, has c4 = 25/24; Matern-7/2 49/120), so
    # d^4 k / d tau^4 (0) = 24 c4 / l^4. Both kernels are C^4 at 0 (nu > 2).
    ell = 0.5
    d4 = lambda s: kernel(s[None], jnp.zeros(1, FLOAT), lengthscale=ell)
    for _ in range(4):
        d4 = jax.grad(d4)
    assert_close(jax.jit(d4)(jnp.zeros((), FLOAT)), 24 * c4 / ell**4, rtol64=1e-10, rtol32=1e-4)


def test_arccos_gradient_matches_finite_differences_near_parallel():
    # Where x and y are nearly parallel, arccos' chain rule has an infinite factor that the
    # closed-form dJ/dc removes; check the result against finite differences.
    x = jnp.array([1.0, 0.3], FLOAT)
    y = jnp.array([1.0, 0.31], FLOAT)
    for order in (1, 2):
        check_transforms(K.arccos, (x, y), kwargs=dict(order=order), grad_rtol32=1e-3)


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
    X = points(getkey(), 4, 3)
    check_transforms(k, (x, y), batch=(X, y), in_axes=(0, None), grad_argnums=(0, 1),
                     grad_order=2 if X64 else 1, grad_modes=("fwd", "rev"))


COMPOSED = [
    2.0 * K.RBF(lengthscale=0.8) + K.Matern32(variance=0.5) * K.Linear(bias=0.2),
    K.Matern72(lengthscale=[0.7, 1.3, 2.0]),
    K.ProductMatern(1.5, lengthscale=[0.7, 1.3, 2.0]),
    K.StudentTMixture([0.7, 0.3], [[0.5, 0.0, 0.1], [0.2, 0.3, 0.0]],
                      [[1.2, 0.4, 0.9], [0.8, 2.0, 1.1]]),
]


@pytest.mark.parametrize("k", ALL_MODULES + COMPOSED, ids=ids(ALL_MODULES + COMPOSED))
def test_module_transforms(k, getkey):
    # jit, vmap over the first point, and the gradient in the points and every hyperparameter.
    x, y = points(getkey(), 2, 3)
    X = points(getkey(), 3, 3)
    check_transforms(lambda kk, a, b: kk(a, b), (k, x, y), batch=(k, X, y),
                     in_axes=(None, 0, None), grad_argnums=(0, 1, 2))


def test_grad_wrt_hyperparameters_of_pure_function(getkey):
    x, y = points(getkey(), 2, 3)
    check_transforms(lambda ell, var: K.rbf(x, y, lengthscale=ell, variance=var),
                     (jnp.array([0.5, 1.0, 2.0], FLOAT), jnp.asarray(1.3, FLOAT)),
                     grad_argnums=(0, 1))


@pytest.mark.parametrize("order", [0, 1, 2])
def test_arccos_map_transforms(order, getkey):
    # Second moments of random points: kxx, kyy > 0 and kxy^2 < kxx kyy.
    A, B = points(getkey(), 4, 3), points(getkey(), 4, 3)
    kxx, kxy, kyy = jnp.sum(A * A, 1), jnp.sum(A * B, 1), jnp.sum(B * B, 1)
    check_transforms(K.arccos_map, (kxx, kxy, kyy), batch=(kxx, kxy, kyy),
                     kwargs=dict(order=order), grad_argnums=(0, 1, 2))


def test_scaled_sqdists_transforms(getkey):
    X, Y = points(getkey(), 4, 3), points(getkey(), 5, 3)
    ell = jnp.array([0.5, 1.0, 2.0], FLOAT)
    check_transforms(K.scaled_sqdists, (X, Y, ell), batch=(jnp.stack([X, 2 * X]), Y, ell),
                     in_axes=(0, None, None),
                     grad_argnums=(0, 1, 2), rtol32=2e-5, atol32=1e-5, atol64=1e-13)
    check_transforms(K.scaled_sqdist, (X[0], Y[0], ell), batch=(X, Y[0], ell),
                     in_axes=(0, None, None), grad_argnums=(0, 1, 2))


def test_spectral_frequencies_transforms():
    # Random draws: jit and vmap over keys only (nothing to differentiate).
    keys = jax.random.split(jax.random.key(0), 3)

    def draw(key):
        return {(spectrum, orthogonal): K.spectral_frequencies(
                    2, key=key, num_features=4, spectrum=spectrum, orthogonal=orthogonal,
                    dtype=FLOAT)
                for spectrum in ("rbf", "matern32") for orthogonal in (False, True)}

    check_transforms(draw, (keys[0],), batch=(keys,), grad_argnums=None)


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


def test_repr_shows_small_parameter_values():
    # A fitted kernel should say what it learned (issue 25): values for small arrays,
    # dtype and shape for large ones.
    k = K.RBF(lengthscale=0.5) + 2.0 * K.RBF(lengthscale=jnp.ones(20, FLOAT))
    text = repr(k)
    assert "lengthscale=0.5" in text and "scale=2" in text
    assert "[20]" in text and "1., 1., 1." not in text


@pytest.mark.skipif(not X64, reason="float64 hyperparameters need x64")
@pytest.mark.parametrize("module", [
    K.RBF(), K.Matern32(), K.RationalQuadratic(), K.Matern(1.7),
    K.ProductMatern(1.5), K.Periodic(), K.Cosine(), K.Constant(),
    K.Linear(bias=0.5), K.Polynomial(2), K.ArcCosine(),
    K.SpectralMixture(jnp.ones(2), jnp.ones((2, 2)), jnp.ones((2, 2))),
    K.StudentTMixture(jnp.ones(2), jnp.ones((2, 2)), jnp.ones((2, 2))),
    K.RBF() + 2.0 * K.Linear(), K.Periodic() * K.Matern52(),
], ids=lambda m: type(m).__name__)
def test_float32_data_gives_float32_results_under_x64(module):
    # Hyperparameters are stored in the default dtype (float64 under x64); the result must
    # still have the data's dtype, for every module (issue 26: the non-radial ones returned
    # float64), and so must the gradient's leaves keep theirs.
    X = jnp.linspace(0.0, 1.0, 8, dtype=jnp.float32).reshape(4, 2)
    assert K.gram(module, X, X).dtype == jnp.float32
    assert module(X[0], X[1]).dtype == jnp.float32
    grad = jax.grad(lambda m: K.gram(m, X, X).sum())(module)
    for g, p in zip(jax.tree.leaves(grad), jax.tree.leaves(module)):
        assert g.dtype == p.dtype
