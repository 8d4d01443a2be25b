"""Per-dimension (ARD) lengthscales and periods must fit the inputs' dimension, or raise."""

import functools
import math

import jax
import jax.numpy as jnp
import pytest

from jaxkern import kernels as K
from tests.helpers import FLOAT, assert_close, points

Q = 2


def _ones(*shape):
    return jnp.ones(shape, FLOAT)


def _mixture_widths(d, width):
    """Q components in d dimensions, the width field of length `width`."""
    return dict(weights=_ones(Q), means=0.3 * _ones(Q, d), width=0.5 * _ones(Q, width))


# (name of the per-dimension argument, a kernel function taking it as `value`, d -> the value
# for d dimensions). Every kernel function with a per-dimension argument.
FUNCTIONS = [
    ("lengthscale", lambda x, y, v: K.rbf(x, y, lengthscale=v)),
    ("lengthscale", lambda x, y, v: K.rational_quadratic(x, y, lengthscale=v, alpha=0.7)),
    ("lengthscale", lambda x, y, v: K.matern12(x, y, lengthscale=v)),
    ("lengthscale", lambda x, y, v: K.matern32(x, y, lengthscale=v)),
    ("lengthscale", lambda x, y, v: K.matern52(x, y, lengthscale=v)),
    ("lengthscale", lambda x, y, v: K.matern72(x, y, lengthscale=v)),
    ("lengthscale", lambda x, y, v: K.matern(x, y, nu=1.7, lengthscale=v)),
    ("lengthscale", lambda x, y, v: K.product_matern(x, y, nu=1.5, lengthscale=v)),
    ("lengthscale", lambda x, y, v: K.periodic(x, y, lengthscale=v, period=2.0)),
    ("period", lambda x, y, v: K.periodic(x, y, lengthscale=1.5, period=v)),
    ("period", lambda x, y, v: K.cosine(x, y, period=v)),
    ("lengthscale", lambda x, y, v: K.scaled_sqdist(x, y, v)),
]

# Every kernel module with a per-dimension argument, built with that argument = value.
MODULES = [
    ("lengthscale", K.RBF),
    ("lengthscale", K.Matern12),
    ("lengthscale", K.Matern32),
    ("lengthscale", K.Matern52),
    ("lengthscale", K.Matern72),
    ("lengthscale", functools.partial(K.RationalQuadratic, alpha=0.7)),
    ("lengthscale", functools.partial(K.Matern, 1.7)),
    ("lengthscale", functools.partial(K.ProductMatern, 1.5)),
    ("lengthscale", lambda v: K.Periodic(lengthscale=v, period=2.0)),
    ("period", lambda v: K.Periodic(lengthscale=1.5, period=v)),
    ("period", K.Cosine),
    # A sum and a scaled kernel keep the check of their terms.
    ("lengthscale", lambda v: K.RBF() + 2.0 * K.Matern52(lengthscale=v)),
]

MIXTURES = [
    ("variances", lambda x, y, p: K.spectral_mixture(
        x, y, weights=p["weights"], means=p["means"], variances=p["width"])),
    ("lengthscales", lambda x, y, p: K.student_t_mixture(
        x, y, weights=p["weights"], means=p["means"], lengthscales=p["width"])),
]
MIXTURE_MODULES = [("variances", K.SpectralMixture), ("lengthscales", K.StudentTMixture)]

# (d of the inputs, length of the per-dimension argument): the issue's 1-D inputs with three
# lengthscales, and 3-D inputs with two.
WRONG = [(1, 3), (3, 2)]
ids = lambda cases: [f"{name}-{i}" for i, (name, _) in enumerate(cases)]  # noqa: E731


@pytest.mark.parametrize("d, length", WRONG)
@pytest.mark.parametrize("name, k", FUNCTIONS, ids=ids(FUNCTIONS))
def test_functions_refuse_a_wrong_length(name, k, d, length, getkey):
    x, y = points(getkey(), 2, d)
    v = 0.8 * _ones(length)
    match = rf"`{name}`.*\({d},\).*got shape \({length},\)"
    with pytest.raises(ValueError, match=match):
        k(x, y, v)
    with pytest.raises(ValueError, match=match):  # a shape check: at trace time under jit,
        jax.jit(k)(x, y, v)
    with pytest.raises(ValueError, match=match):  # vmap,
        jax.vmap(k, in_axes=(0, 0, None))(points(getkey(), 4, d), points(getkey(), 4, d), v)
    with pytest.raises(ValueError, match=match):  # and grad
        jax.grad(k, argnums=2)(x, y, v)


@pytest.mark.parametrize("name, k", FUNCTIONS, ids=ids(FUNCTIONS))
def test_functions_accept_the_right_length(name, k, getkey):
    # One entry per dimension, or shape (1,), gives the kernel of the scalar with that value;
    # under jit too.
    x, y = points(getkey(), 2, 3)
    scalar = k(x, y, jnp.asarray(0.8, FLOAT))
    assert_close(k(x, y, 0.8 * _ones(3)), scalar)
    assert_close(jax.jit(k)(x, y, 0.8 * _ones(3)), scalar)
    assert_close(k(x, y, 0.8 * _ones(1)), scalar)
    ard = jnp.array([0.5, 1.0, 2.0], FLOAT)
    assert jnp.isfinite(jax.jit(jax.grad(k, argnums=2))(x, y, ard)).all()


def test_the_issue_case():
    # RBF(lengthscale=jnp.ones(3)) on 1-D inputs gave K[0, 1] = exp(-3 * 1.5^2 / 2) = 0.034.
    X = jnp.array([[0.0], [1.5]], FLOAT)
    assert_close(K.gram(K.RBF(lengthscale=_ones(1)), X)[0, 1], math.exp(-(1.5**2) / 2))
    with pytest.raises(ValueError, match=r"`lengthscale`.*\(1,\).*`X`.*\(2, 1\).*\(3,\)"):
        K.gram(K.RBF(lengthscale=_ones(3)), X)


@pytest.mark.parametrize("d, length", WRONG)
@pytest.mark.parametrize("name, make", MODULES, ids=ids(MODULES))
def test_modules_refuse_a_wrong_length(name, make, d, length, getkey):
    X = points(getkey(), 5, d)
    k = make(0.8 * _ones(length))
    match = rf"`{name}`.*\({d},\).*got shape \({length},\)"
    for call in (
        lambda: k(X[0], X[1]),
        lambda: jax.jit(lambda k, x, y: k(x, y))(k, X[0], X[1]),
        lambda: K.gram(k, X),  # the radial kernels' one-matrix-product path
        lambda: jax.jit(K.gram)(k, X),
        lambda: K.gram_diag(k, X),
        lambda: K.kernel_matvec(k, X, X, _ones(5), block_size=2),
        lambda: jax.grad(lambda k: jnp.sum(K.gram(k, X)))(k),
    ):
        with pytest.raises(ValueError, match=match):
            call()


@pytest.mark.parametrize("name, make", MODULES, ids=ids(MODULES))
def test_modules_accept_the_right_length(name, make, getkey):
    X = points(getkey(), 5, 3)
    scalar = K.gram(make(jnp.asarray(0.8, FLOAT)), X)
    for v in (0.8 * _ones(3), 0.8 * _ones(1)):
        assert_close(K.gram(make(v), X), scalar)
        assert_close(jax.jit(K.gram)(make(v), X), scalar)
        assert_close(make(v)(X[0], X[1]), scalar[0, 1])


def test_scaled_sqdists_checks_the_lengthscale(getkey):
    X = points(getkey(), 4, 2)
    with pytest.raises(ValueError, match=r"`lengthscale`.*\(2,\).*`X`.*got shape \(3,\)"):
        K.scaled_sqdists(X, X, _ones(3))
    with pytest.raises(ValueError, match=r"`lengthscale`.*got shape \(2, 2\)"):
        K.scaled_sqdists(X, X, _ones(2, 2))
    assert_close(K.scaled_sqdists(X, X, _ones(2)), K.scaled_sqdists(X, X, _ones(1)))


@pytest.mark.parametrize("d, width", WRONG)
@pytest.mark.parametrize("name, k", MIXTURES, ids=ids(MIXTURES))
def test_mixtures_refuse_a_wrong_width(name, k, d, width, getkey):
    # Means of the right shape and widths for another dimension: (Q, 3) widths on 1-D points
    # broadcast into a 3-D product before.
    x, y = points(getkey(), 2, d)
    p = _mixture_widths(d, width)
    match = rf"`{name}`.*\(Q, d\).*d = {d}.*got \({Q},\), \({Q}, {d}\), \({Q}, {width}\)"
    with pytest.raises(ValueError, match=match):
        k(x, y, p)
    with pytest.raises(ValueError, match=match):
        jax.jit(k)(x, y, p)
    # Means and widths that agree, for another dimension than the points'.
    q = _mixture_widths(width, width)
    with pytest.raises(ValueError, match=rf"`{name}`.*d = {d}"):
        k(x, y, q)


@pytest.mark.parametrize("name, make", MIXTURE_MODULES)
def test_mixture_modules_refuse_other_dimensions(name, make, getkey):
    X = points(getkey(), 5, 1)
    p = _mixture_widths(3, 3)
    k = make(p["weights"], p["means"], p["width"])
    with pytest.raises(ValueError, match=rf"`{name}`.*d = 1"):
        K.gram(k, X)
    with pytest.raises(ValueError, match=rf"`{name}`.*d = 1"):
        jax.jit(K.gram)(k, X)
    # The right dimension still works, under jit too.
    X3 = points(getkey(), 5, 3)
    assert_close(jax.jit(K.gram)(k, X3), K.gram(k, X3))
    assert jnp.isfinite(K.gram(k, X3)).all()
