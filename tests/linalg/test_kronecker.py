"""Kronecker algebra against the dense matrices it never forms."""

from functools import reduce

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxkern.kernels import Matern52, gram
from jaxkern.linalg import (
    apply_along_axes,
    kron_cholesky,
    kron_eigh,
    kron_logdet,
    kron_matvec,
    kron_shifted_logdet,
    kron_shifted_solve,
    kron_solve,
)

from ..helpers import FLOAT, assert_close, check_transforms, points


def _spd_factors(getkey, sizes):
    # Matérn-5/2 Gram matrices of random points plus a unit diagonal: well conditioned.
    return [gram(Matern52(), points(getkey(), n, 1)) + jnp.eye(n, dtype=FLOAT) for n in sizes]


def _dense(factors):
    # Reference: NumPy's kron in float64.
    return reduce(np.kron, [np.asarray(A, np.float64) for A in factors])


SIZES = [(5,), (3, 4), (2, 3, 4)]


@pytest.mark.parametrize("sizes", SIZES)
def test_matvec_matches_dense(getkey, sizes):
    factors = [jax.random.normal(getkey(), (n + 1, n), dtype=FLOAT) for n in sizes]
    v = jax.random.normal(getkey(), (int(np.prod(sizes)),), dtype=FLOAT)
    assert_close(kron_matvec(factors, v), _dense(factors) @ np.asarray(v, np.float64),
                 rtol64=1e-12, rtol32=1e-4, atol32=1e-4)


@pytest.mark.parametrize("sizes", SIZES)
def test_solve_and_logdet_match_dense(getkey, sizes):
    factors = _spd_factors(getkey, sizes)
    v = jax.random.normal(getkey(), (int(np.prod(sizes)),), dtype=FLOAT)
    chol = kron_cholesky(factors, jitter=0.0)
    K = _dense(factors)
    assert_close(kron_solve(chol, v), np.linalg.solve(K, np.asarray(v, np.float64)),
                 rtol64=1e-10, rtol32=1e-3, atol32=1e-4)
    assert_close(kron_logdet(chol), np.linalg.slogdet(K)[1], rtol64=1e-10, rtol32=1e-4)


@pytest.mark.parametrize("sizes", SIZES)
def test_shifted_solve_and_logdet_match_dense(getkey, sizes):
    factors = _spd_factors(getkey, sizes)
    v = jax.random.normal(getkey(), (int(np.prod(sizes)),), dtype=FLOAT)
    eig = kron_eigh(factors)
    K = _dense(factors) + 0.3 * np.eye(int(np.prod(sizes)))
    assert_close(kron_shifted_solve(eig, v, shift=0.3),
                 np.linalg.solve(K, np.asarray(v, np.float64)), rtol64=1e-10, rtol32=1e-3,
                 atol32=1e-4)
    assert_close(kron_shifted_logdet(eig, shift=0.3), np.linalg.slogdet(K)[1], rtol64=1e-10,
                 rtol32=1e-4)


def test_solve_inverts_matvec(getkey):
    # Property: K^{-1} (K v) = v.
    factors = _spd_factors(getkey, (3, 5))
    v = jax.random.normal(getkey(), (15,), dtype=FLOAT)
    back = kron_solve(kron_cholesky(factors, jitter=0.0), kron_matvec(factors, v))
    assert_close(back, v, rtol64=1e-10, rtol32=1e-3, atol32=1e-4)


def _sym(A):
    return (A + A.T) / 2


# Each function of (A, B, v, shift) for the factors A (3 x 3), B (4 x 4): the factors enter
# symmetrised, so that finite differences stay in the space the factorisations read.
KRON_FUNCTIONS = {
    "kron_matvec": lambda A, B, v, s: kron_matvec([A, B], v),
    "apply_along_axes": lambda A, B, v, s: apply_along_axes([A, B], v.reshape(3, 4)),
    "kron_solve": lambda A, B, v, s: kron_solve(kron_cholesky([_sym(A), _sym(B)], jitter=0.0), v),
    "kron_logdet": lambda A, B, v, s: kron_logdet(kron_cholesky([_sym(A), _sym(B)], jitter=0.0)),
    "kron_shifted_solve": lambda A, B, v, s: kron_shifted_solve(kron_eigh([_sym(A), _sym(B)]), v,
                                                                shift=s),
    "kron_shifted_logdet": lambda A, B, v, s: kron_shifted_logdet(kron_eigh([_sym(A), _sym(B)]),
                                                                  shift=s),
}


def test_jit_vmap_grad(getkey):
    # jit, vmap over right-hand sides, and gradients in both factors, v and the shift, of all
    # the functions at once (one compilation; a failure names the output).
    A, B = _spd_factors(getkey, (3, 4))
    V = jax.random.normal(getkey(), (2, 12), dtype=FLOAT)
    shift = jnp.asarray(0.5, FLOAT)

    def every_function(*args):
        return {name: f(*args) for name, f in KRON_FUNCTIONS.items()}

    check_transforms(every_function, (A, B, V[0], shift), batch=(A, B, V, shift),
                     in_axes=(None, None, 0, None), grad_argnums=(0, 1, 2, 3),
                     rtol64=1e-11, rtol32=1e-5, atol64=1e-12, atol32=1e-5)


def test_bad_inputs(getkey):
    factors = _spd_factors(getkey, (3, 4))
    with pytest.raises(ValueError, match="v"):
        kron_matvec(factors, jnp.ones(11, FLOAT))
    with pytest.raises(ValueError, match="factors"):
        kron_matvec([], jnp.ones(1, FLOAT))
    with pytest.raises(ValueError, match=r"factors\[1\]"):
        kron_cholesky([factors[0], jnp.ones((3, 4), FLOAT)])
    with pytest.raises(ValueError, match="shift"):
        kron_shifted_solve(kron_eigh(factors), jnp.ones(12, FLOAT), shift=-1.0)
    with pytest.raises(ValueError, match="matrices"):
        apply_along_axes(factors, jnp.ones((3, 4, 1), FLOAT))
