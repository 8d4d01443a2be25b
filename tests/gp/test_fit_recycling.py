"""Recycled CG solves across the steps of `gp.fit` (issue 18): same fit, fewer iterations."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxkern.gp import CG, fit, log_marginal_likelihood
from jaxkern.kernels import RBF
from jaxkern.optim import minimize

from ..helpers import FLOAT, X64


def _data(n, seed=0):
    # The problem: x ~ U[-3, 3]^3, a smooth target plus noise.
    kx, ky = jax.random.split(jax.random.key(seed))
    X = jax.random.uniform(kx, (n, 3), dtype=FLOAT, minval=-3.0, maxval=3.0)
    y = jnp.sin(X[:, 0]) * jnp.cos(X[:, 1]) + 0.1 * jax.random.normal(ky, (n,), dtype=FLOAT)
    return X, y


N = 150
# Small noise and a short quadrature: the solves need many more steps than the probes'
# Lanczos runs, which is where warm starts pay (as at n = 2000 with the default CG()).
SOLVER = CG(rtol=1e-5 if X64 else 1e-4, num_probes=4, preconditioner_rank=5,
            quadrature_steps=8)


def _fit(recycle, steps=6, solver=SOLVER):
    X, y = _data(N)
    return fit(RBF(), X, y, noise=1e-3, num_steps=steps, solver=solver, recycle=recycle,
               chunk_size=4)


def test_recycled_fit_equals_cold_fit_with_fewer_iterations():
    # Reference: the same fit with every CG solve started from zero (recycle=False), whose
    # values are checked against the dense Cholesky path in test_iterative.py. The
    # log-determinant comes from the same cold probe Lanczos runs in both, so the losses differ
    # only through the solves' tolerance.
    cold, warm = _fit(False), _fit(True)
    assert cold.num_steps == warm.num_steps == 6
    np.testing.assert_allclose(warm.losses, cold.losses, rtol=1e-5 if X64 else 1e-3)
    np.testing.assert_allclose(float(warm.noise), float(cold.noise), rtol=1e-5 if X64 else 1e-3)
    np.testing.assert_allclose(float(warm.kernel.lengthscale), float(cold.kernel.lengthscale),
                               rtol=1e-5 if X64 else 1e-3)
    assert 0 < warm.cg_iterations < 0.9 * cold.cg_iterations
    # The first loss is the CG likelihood at the initial parameters.
    X, y = _data(N)
    first = -log_marginal_likelihood(RBF(), X, y, noise=1e-3, solver=SOLVER)
    np.testing.assert_allclose(cold.losses[0], float(first), rtol=1e-6 if X64 else 1e-3)


def test_iteration_count_and_cholesky_fit():
    # The count is the batched loop's iterations, at least 1 and at most max_steps per step;
    # a Cholesky fit has none.
    res = _fit(False, steps=3)
    assert 3 <= res.cg_iterations <= 3 * SOLVER.max_steps
    X, y = _data(20)
    assert fit(RBF(), X, y, noise=0.1, num_steps=2).cg_iterations is None
    # A line-search optimiser runs the CG fit cold (documented), with no count.
    lbfgs = fit(RBF(), X, y, noise=0.1, num_steps=2, solver=CG(), optimizer=optax.lbfgs())
    assert lbfgs.cg_iterations is None and lbfgs.num_steps == 2


def test_bad_recycle():
    X, y = _data(10)
    with pytest.raises(ValueError, match="`recycle`"):
        fit(RBF(), X, y, noise=0.1, num_steps=1, solver=CG(), recycle="yes")


def test_minimize_carries_aux():
    # A step counter and the last gradient-free evaluation travel through the compiled
    # chunks; params are those of the plain loss (reference: the closed-form minimiser 3).
    def loss(p, aux):
        value = jnp.sum((p - 3.0) ** 2)
        return value, {"count": aux["count"] + 1, "last": value}

    start = {"count": jnp.zeros((), jnp.int32), "last": jnp.zeros((), FLOAT)}
    res = minimize(loss, jnp.zeros(2, FLOAT), aux=start, optimizer=optax.adam(0.1),
                   num_steps=7, chunk_size=3)
    plain = minimize(lambda p: jnp.sum((p - 3.0) ** 2), jnp.zeros(2, FLOAT),
                     optimizer=optax.adam(0.1), num_steps=7, chunk_size=3)
    assert int(res.aux["count"]) == 7 and plain.aux is None
    np.testing.assert_allclose(np.asarray(res.params), np.asarray(plain.params), rtol=1e-6)
    np.testing.assert_allclose(float(res.aux["last"]), res.losses[-1], rtol=1e-6)
