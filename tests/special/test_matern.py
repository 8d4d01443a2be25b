"""The general Matérn kernel against the closed forms, scikit-learn and its limits."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.gaussian_process.kernels import Matern as SkMatern

from jaxkern.kernels import Matern, gram, matern, matern12, matern32, matern52, rbf
from tests.helpers import FLOAT, X64, check_transforms, points, tol


@pytest.mark.parametrize(("nu", "closed"), [(0.5, matern12), (1.5, matern32), (2.5, matern52)])
def test_half_integer_orders(getkey, nu, closed):
    X = points(getkey(), 6, 3)
    k_gen = gram(lambda a, b: matern(a, b, nu=nu, lengthscale=0.8, variance=1.7), X, X)
    k_ref = gram(lambda a, b: closed(a, b, lengthscale=0.8, variance=1.7), X, X)
    np.testing.assert_allclose(k_gen, k_ref, rtol=tol(1e-13, 1e-5), atol=tol(1e-15, 1e-6))


def test_against_sklearn(getkey):
    # scikit-learn's Matern (scipy.special.kv inside) at a non-half-integer order
    X = points(getkey(), 8, 2)
    ref = SkMatern(length_scale=1.3, nu=0.7)(np.asarray(X, np.float64))
    got = gram(lambda a, b: matern(a, b, nu=0.7, lengthscale=1.3), X, X)
    np.testing.assert_allclose(got, ref, rtol=tol(1e-12, 1e-5), atol=tol(1e-14, 1e-6))


def test_tends_to_rbf():
    x, y = jnp.asarray([0.3, -0.2], FLOAT), jnp.asarray([1.0, 0.4], FLOAT)
    gaps = [abs(float(matern(x, y, nu=nu) - rbf(x, y))) for nu in (10.0, 100.0, 1000.0)]
    assert gaps[0] > gaps[1] > gaps[2] and gaps[2] < 1e-3


def test_value_and_gradient_at_zero_distance():
    x = jnp.asarray([0.5, -1.0], FLOAT)
    for nu in (0.5, 1.2, 7.0):
        assert float(matern(x, x, nu=nu, variance=2.0)) == 2.0
        g = jax.grad(lambda a, n=nu: matern(a, x, nu=n))(x)
        assert np.all(np.asarray(g) == 0)


@pytest.mark.slow
def test_order_gradient():
    # d k / d nu against a central difference in float64 of the same kernel
    x, y = jnp.asarray([0.3, -0.2], FLOAT), jnp.asarray([1.0, 0.4], FLOAT)
    g = jax.grad(lambda nu: matern(x, y, nu=nu))(jnp.asarray(2.2, FLOAT))
    h = 1e-5 if X64 else 1e-2
    fd = (matern(x, y, nu=2.2 + h) - matern(x, y, nu=2.2 - h)) / (2 * h)
    np.testing.assert_allclose(g, fd, rtol=tol(1e-7, 2e-2))


@pytest.mark.slow
def test_module_jit_vmap_and_psd(getkey):
    kernel = Matern(3.7, lengthscale=jnp.asarray([0.5, 2.0], FLOAT), variance=1.5)
    X = points(getkey(), 20, 2)
    K = eqx.filter_jit(gram)(kernel, X, X)
    np.testing.assert_allclose(K, K.T, rtol=tol(1e-14, 1e-6))
    assert float(jnp.linalg.eigvalsh(K).min()) > -tol(1e-10, 1e-4)
    row = jax.vmap(lambda b: kernel(X[0], b))(X)
    np.testing.assert_allclose(row, K[0], rtol=tol(1e-13, 1e-5))
    # jit, vmap over points, and gradients in the points and every parameter (nu included,
    # through log K_nu's order derivative) against finite differences.
    check_transforms(lambda k, x, y: k(x, y), (kernel, X[0], X[1]), batch=(kernel, X[:2], X[1]),
                     in_axes=(None, 0, None), grad_argnums=(0, 1, 2))


def test_bad_input():
    x = jnp.zeros(2, FLOAT)
    with pytest.raises(ValueError, match="nu"):
        matern(x, x, nu=0.0)
    with pytest.raises(ValueError, match="lengthscale"):
        Matern(1.5, lengthscale=-1.0)
