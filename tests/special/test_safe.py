"""safe_sqrt and safe_norm: values, zero gradients at 0, transforms."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxkern.special import safe_norm, safe_sqrt
from tests.helpers import FLOAT, assert_close, check_transforms, points


def test_values_against_numpy(getkey):
    # Reference: NumPy's sqrt and norm in float64; negative round-off is treated as 0.
    x = jnp.asarray([0.0, 1e-30, 0.25, 2.0, 1e30, -1e-12], FLOAT)
    ref = np.sqrt(np.maximum(np.asarray(x, np.float64), 0))
    assert_close(safe_sqrt(x), ref, rtol32=1e-6)
    X = points(getkey(), 4, 3)
    assert_close(safe_norm(X), np.linalg.norm(np.asarray(X, np.float64), axis=-1), rtol32=1e-6)
    assert_close(safe_norm(X, axis=0), np.linalg.norm(np.asarray(X, np.float64), axis=0),
                 rtol32=1e-6)


def test_gradient_is_zero_at_zero():
    # The documented convention: 0 (not inf or nan) at x = 0 and for negative round-off.
    assert float(jax.grad(safe_sqrt)(jnp.asarray(0.0, FLOAT))) == 0.0
    assert float(jax.grad(safe_sqrt)(jnp.asarray(-1e-9, FLOAT))) == 0.0
    assert np.all(np.asarray(jax.grad(safe_norm)(jnp.zeros(3, FLOAT))) == 0.0)


def test_transforms(getkey):
    x = jnp.asarray([0.3, 1.7, 4.0], FLOAT)
    check_transforms(safe_sqrt, (x,), batch=(x,))
    X = points(getkey(), 4, 3)
    check_transforms(safe_norm, (X,), batch=(X,))
    # At the zero vector the norm is differentiable along every line (|t| |v| is even in t,
    # so the central difference is 0): the gradient 0 agrees with finite differences.
    check_transforms(safe_norm, (jnp.zeros(3, FLOAT),))

