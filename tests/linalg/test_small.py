"""`small_solve`: batched Gauss–Jordan in plain XLA operations (no LAPACK custom call)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxkern.linalg import small_solve

from ..helpers import FLOAT, assert_close, check_transforms


@pytest.mark.parametrize("batch,m,k", [((), 1, 1), ((7,), 2, 3), ((3, 4), 6, 1), ((5,), 9, 9)])
def test_equals_numpy_solve(batch, m, k):
    # reference: LAPACK gesv through numpy.linalg.solve, float64
    rng = np.random.default_rng(m * 10 + k)
    A = rng.normal(size=batch + (m, m)) + 3 * np.eye(m) * rng.choice([-1, 1], size=batch + (1, 1))
    B = rng.normal(size=batch + (m, k))
    got = small_solve(jnp.asarray(A, FLOAT), jnp.asarray(B, FLOAT))
    assert got.shape == batch + (m, k) and got.dtype == FLOAT
    assert_close(got, np.linalg.solve(A, B), rtol64=1e-11, rtol32=2e-4, atol64=1e-12, atol32=1e-5)


def test_pivots_on_a_zero_diagonal():
    # a zero leading entry needs a row swap; without pivoting the elimination divides by 0
    A = jnp.asarray([[0.0, 2.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 3.0]], FLOAT)
    B = jnp.asarray([[3.0], [1.0], [4.0]], FLOAT)
    assert_close(small_solve(A, B), np.linalg.solve(np.asarray(A), np.asarray(B)), rtol32=1e-6)


def test_no_lapack_call_in_the_program():
    # the point of the function: the compiled program holds no custom call (on the CPU,
    # batched LAPACK calls can deadlock XLA's thread pool; see jaxkern/_xla_cpu.py)
    A, B = jnp.broadcast_to(2 * jnp.eye(3, dtype=FLOAT), (4, 3, 3)), jnp.ones((4, 3, 2), FLOAT)
    assert "custom_call" not in jax.jit(small_solve).lower(A, B).as_text()


def test_transforms(getkey):
    A = jax.random.normal(getkey(), (4, 4), FLOAT) + 4 * jnp.eye(4, dtype=FLOAT)
    B = jax.random.normal(getkey(), (4, 2), FLOAT)
    check_transforms(small_solve, (A, B), batch=(jnp.stack([A, 2 * A]), jnp.stack([B, B])),
                     grad_argnums=(0, 1), rtol32=1e-4)


def test_bad_shapes():
    with pytest.raises(ValueError, match="`A` must be a batch of square"):
        small_solve(jnp.ones((2, 3)), jnp.ones((2, 1)))
    with pytest.raises(ValueError, match="`B` must have shape"):
        small_solve(jnp.eye(2), jnp.ones((3, 1)))
