"""Nyström features (issue 22: balancing functions for paper #24)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxkern.features import nystrom_features
from jaxkern.kernels import RBF, gram
from tests.helpers import FLOAT, assert_close, points


def _numpy_nystrom(X, L, ell):
    """Independent reference: K_XL K_LL^{-1} K_LX in float64 NumPy."""
    def k(A, B):
        return np.exp(-((A[:, None] - B[None]) ** 2).sum(-1) / (2 * ell**2))
    return k(X, L) @ np.linalg.solve(k(L, L), k(L, X))


def test_inner_products_equal_the_nystrom_kernel(getkey):
    X, L = points(getkey(), 40, 3), points(getkey(), 8, 3)
    phi = nystrom_features(RBF(lengthscale=1.5), X, L)
    assert phi.shape == (40, 8) and phi.dtype == FLOAT
    ref = _numpy_nystrom(np.asarray(X, np.float64), np.asarray(L, np.float64), 1.5)
    assert_close(phi @ phi.T, ref, rtol64=1e-9, rtol32=1e-3, atol64=1e-10, atol32=1e-3)


def test_exact_on_landmarks_and_leading_columns_first(getkey):
    L = points(getkey(), 10, 2)
    k = RBF(lengthscale=2.0)
    phi = nystrom_features(k, L, L)
    assert_close(phi @ phi.T, gram(k, L), rtol64=1e-9, rtol32=1e-3, atol64=1e-10, atol32=1e-3)
    # Column j's squared norm on the landmarks is the j-th eigenvalue: decreasing.
    norms = np.asarray(jnp.sum(phi**2, 0))
    assert np.all(np.diff(norms) <= 1e-6 * norms[0])


def test_rank_deficient_landmarks_give_zero_columns_not_nan(getkey):
    L = points(getkey(), 3, 2)
    L = jnp.concatenate([L, L[:1]])  # a repeated landmark: K_LL singular
    phi = nystrom_features(RBF(), points(getkey(), 5, 2), L)
    assert bool(jnp.all(jnp.isfinite(phi)))
    assert float(jnp.max(jnp.abs(phi[:, -1]))) == 0.0


def test_jit_and_grad(getkey):
    X, L = points(getkey(), 6, 2), points(getkey(), 4, 2)
    f = jax.jit(lambda X: jnp.sum(nystrom_features(RBF(), X, L) ** 2))
    g = jax.grad(f)(X)
    assert g.shape == X.shape and bool(jnp.all(jnp.isfinite(g)))
    # d/dX of sum_i phi(x_i)^T phi(x_i) vs central differences on one coordinate.
    eps = 1e-5 if FLOAT == jnp.float64 else 1e-2
    e = jnp.zeros_like(X).at[2, 1].set(eps)
    fd = (f(X + e) - f(X - e)) / (2 * eps)
    assert abs(float(g[2, 1] - fd)) < (1e-6 if FLOAT == jnp.float64 else 5e-2)


def test_bad_inputs():
    X = jnp.zeros((4, 2))
    with pytest.raises(ValueError, match="landmarks"):
        nystrom_features(RBF(), X, jnp.zeros((3, 5)))
    with pytest.raises(ValueError, match="X"):
        nystrom_features(RBF(), jnp.zeros(4), X)
    with pytest.raises(ValueError, match="rtol"):
        nystrom_features(RBF(), X, X, rtol=-1.0)
