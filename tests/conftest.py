"""Test-wide JAX settings and fixtures.

CI runs the suite twice, with `JAX_ENABLE_X64=0` and `=1`; tests read the active float dtype from
`helpers.FLOAT` and choose tolerances with `helpers.tol`.
"""

import itertools

import jax
import pytest

jax.config.update("jax_numpy_dtype_promotion", "strict")
jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture
def getkey():
    """`getkey()` returns a fresh PRNG key on each call, deterministic per test."""
    counter = itertools.count()
    base = jax.random.key(0)
    return lambda: jax.random.fold_in(base, next(counter))
