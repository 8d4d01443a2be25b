"""Tolerances keyed by dtype, and small builders shared by the tests."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

#: The float dtype of this run: float64 under JAX_ENABLE_X64=1, else float32.
FLOAT = jnp.result_type(float)
X64 = FLOAT == jnp.float64

#: Default relative tolerances for computations that should agree to rounding.
RTOL = {jnp.dtype("float32"): 1e-5, jnp.dtype("float64"): 1e-12}


def tol(rtol64: float = 1e-12, rtol32: float = 1e-5) -> float:
    """The tolerance for this run's dtype."""
    return rtol64 if X64 else rtol32


def assert_close(actual, desired, *, rtol64=1e-12, rtol32=1e-5, atol64=0.0, atol32=0.0):
    """`np.testing.assert_allclose` with the tolerance of this run's dtype."""
    np.testing.assert_allclose(
        np.asarray(actual, dtype=np.float64),
        np.asarray(desired, dtype=np.float64),
        rtol=tol(rtol64, rtol32),
        atol=atol64 if X64 else atol32,
    )


def points(key, n: int, d: int, scale: float = 1.0) -> jax.Array:
    """n standard-normal points in d dimensions, in this run's float dtype."""
    return scale * jax.random.normal(key, (n, d), dtype=FLOAT)


def grad_check_eps() -> float:
    """Finite-difference step for `jax.test_util.check_grads` in this run's dtype."""
    return 1e-6 if X64 else 1e-2
