"""jittered_cholesky and the blocking helper: values, transforms, failure, bad inputs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxkern.kernels import Matern52, gram
from jaxkern.linalg import default_jitter, into_blocks, jittered_cholesky

from ..helpers import FLOAT, X64, assert_close, check_transforms, points


def _spd(getkey, n=5):
    return gram(Matern52(), points(getkey(), n, 2)) + 0.5 * jnp.eye(n, dtype=FLOAT)


def test_cholesky_against_numpy(getkey):
    # Reference: numpy.linalg.cholesky of A + jitter I in float64.
    A = _spd(getkey)
    L = jittered_cholesky(A, jitter=0.1)
    ref = np.linalg.cholesky(np.asarray(A, np.float64) + 0.1 * np.eye(5))
    assert_close(L, ref, rtol64=1e-12, rtol32=1e-5, atol64=1e-14, atol32=1e-6)
    assert L.dtype == FLOAT
    assert default_jitter(FLOAT) == (1e-10 if X64 else 1e-6)


def test_cholesky_transforms(getkey):
    # jit, vmap over a stack of matrices, and gradients in A (entering symmetrised) and jitter.
    A = _spd(getkey)
    stack = jnp.stack([A, A + jnp.eye(5, dtype=FLOAT)])

    def chol(A, jitter):
        return jittered_cholesky((A + A.T) / 2, jitter=jitter)

    jitter = jnp.asarray(0.1, FLOAT)
    check_transforms(chol, (A, jitter), batch=(stack, jitter), in_axes=(0, None),
                     grad_argnums=(0, 1), rtol32=2e-5, atol32=1e-6, atol64=1e-14)


def test_cholesky_raises_under_jit_when_not_positive_definite():
    bad = jax.jit(lambda A: jittered_cholesky(A, jitter=0.0))
    with pytest.raises(Exception, match="not positive definite"):
        bad(-jnp.eye(3, dtype=FLOAT)).block_until_ready()
    unchecked = jittered_cholesky(-jnp.eye(3, dtype=FLOAT), jitter=0.0, throw=False)
    assert np.any(np.isnan(np.asarray(unchecked)))  # LAPACK's nan factor, passed on


def test_cholesky_bad_input():
    with pytest.raises(ValueError, match="`A`"):
        jittered_cholesky(jnp.ones((3, 4), FLOAT))
    with pytest.raises(ValueError, match="`A`"):
        jittered_cholesky(jnp.ones(3, FLOAT))


def test_into_blocks_values_and_transforms(getkey):
    # Reference: the padding written out. "edge" repeats the last row, "zero" pads zeros.
    a = points(getkey(), 7, 2)
    edge = into_blocks(a, 3, "edge")
    assert edge.shape == (3, 3, 2)
    assert_close(edge.reshape(9, 2), jnp.concatenate([a, a[-1:], a[-1:]]))
    zero = into_blocks(a[:, 0], 4, "zero")
    assert_close(zero.reshape(8), jnp.concatenate([a[:, 0], jnp.zeros(1, FLOAT)]))
    assert into_blocks(a[:0], 4, "zero").shape == (0, 4, 2)
    for fill in ("edge", "zero"):
        check_transforms(into_blocks, (a,), batch=(jnp.stack([a, 2 * a]),),
                         kwargs=dict(block=3, fill=fill))
