"""Student-t mixture kernel (GP-HM's Matérn-5/2 times cosine mixture)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.gaussian_process.kernels import Matern

from jaxkern.kernels import StudentTMixture, gram, matern52, student_t_mixture

from ..helpers import FLOAT, assert_close, check_transforms, points

W = jnp.array([0.7, 0.3], FLOAT)
MU = jnp.array([[0.5, 2.0], [3.0, 0.0]], FLOAT)
ELL = jnp.array([[1.2, 0.4], [0.8, 2.0]], FLOAT)


def test_golden_against_sklearn_matern(getkey):
    # Reference: scikit-learn's Matern(nu=2.5) per dimension (float64) times the cosine.
    x, y = points(getkey(), 1, 2)[0], points(getkey(), 1, 2)[0]
    xn, yn = np.asarray(x, np.float64), np.asarray(y, np.float64)
    ref = 0.0
    for q in range(2):
        env = np.prod([
            Matern(length_scale=float(ELL[q, p]), nu=2.5)(xn[None, p:p + 1],
                                                          yn[None, p:p + 1])[0, 0]
            for p in range(2)
        ])
        ref += float(W[q]) * env * np.cos(2 * np.pi * np.asarray(MU[q], np.float64) @ (xn - yn))
    assert_close(student_t_mixture(x, y, weights=W, means=MU, lengthscales=ELL), ref,
                 rtol64=1e-12, rtol32=1e-5, atol32=1e-6)


def test_reduces_to_matern52_in_one_dimension():
    # One component at zero frequency is the Matérn-5/2 kernel.
    x, y = jnp.array([0.3], FLOAT), jnp.array([1.1], FLOAT)
    k = student_t_mixture(x, y, weights=jnp.array([2.0], FLOAT), means=jnp.zeros((1, 1), FLOAT),
                          lengthscales=jnp.array([[0.7]], FLOAT))
    assert_close(k, matern52(x, y, lengthscale=0.7, variance=2.0))


def test_second_derivative_at_zero_lag_is_exact():
    # k''(0) = -w (5 / (3 l^2) + (2 pi mu)^2), from the Taylor series of m(t) cos(2 pi mu t).
    def k(s, t):
        return student_t_mixture(s[None], t[None], weights=jnp.array([1.5], FLOAT),
                                 means=jnp.array([[2.0]], FLOAT),
                                 lengthscales=jnp.array([[0.5]], FLOAT))

    z = jnp.zeros((), FLOAT)
    d2 = jax.grad(jax.grad(k, 0), 0)(z, z)
    assert_close(d2, -1.5 * (5 / (3 * 0.25) + (2 * np.pi * 2.0) ** 2), rtol32=1e-5)
    # The third derivative at zero lag against finite differences (the fourth: see
    # test_kernels.py::test_fourth_derivative_at_zero_lag, a known bug).
    check_transforms(jax.grad(jax.grad(k, 0), 0), (z, z), grad_argnums=(0, 1), rtol32=1e-4)


def test_gram_is_psd(getkey):
    X = points(getkey(), 30, 2)
    eig = np.linalg.eigvalsh(np.asarray(gram(StudentTMixture(W, MU, ELL), X), np.float64))
    assert eig.min() > -1e-4 * eig.max()


def _mixture(x, y, w, mu, ell):
    return student_t_mixture(x, y, weights=w, means=mu, lengthscales=ell)


def test_jit_vmap_grad(getkey):
    X, Y = points(getkey(), 4, 2), points(getkey(), 4, 2)
    check_transforms(_mixture, (X[0], Y[0], W, MU, ELL), batch=(X, Y, W, MU, ELL),
                     in_axes=(0, 0, None, None, None), grad_argnums=(0, 1, 2, 3, 4))
    # At zero lag: gradients in the points and every parameter against finite differences.
    check_transforms(_mixture, (X[0], X[0], W, MU, ELL), grad_argnums=(0, 1, 2, 3, 4))


def test_bad_inputs():
    x = jnp.zeros(1, FLOAT)
    with pytest.raises(ValueError, match="lengthscales"):
        student_t_mixture(x, x, weights=jnp.ones(1), means=jnp.ones((1, 1)),
                          lengthscales=-jnp.ones((1, 1)))
    with pytest.raises(ValueError, match="weights"):
        StudentTMixture(jnp.ones(2), jnp.ones((1, 1)), jnp.ones((1, 1)))
