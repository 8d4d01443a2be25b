"""GP-HM grid solver: derivatives through the Kronecker structure, a reduced solve, bad inputs."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from jaxkern.kernels import RBF
from jaxkern.pde import grid_derivatives, mixture_kernels, predict, predict_grid, solve

from ..helpers import FLOAT, X64, grad_check_eps


def _poisson_problem(n=40):
    # u = sin(20 x) on [0, pi / 2]: 5 periods, u'' = -400 sin(20 x).
    x = jnp.linspace(0.0, math.pi / 2, n, dtype=FLOAT)

    def residual(u, du, d2u, X):
        return d2u[0] + 400.0 * jnp.sin(20.0 * X[0])

    return x, residual, [(jnp.sin(20.0 * x[0]), jnp.sin(20.0 * x[-1]))]


@pytest.fixture(scope="module")
def solution():
    x, residual, boundary = _poisson_problem()
    return solve(residual, (x,), boundary, mixture_kernels((x,), num_components=10),
                 num_steps=10, chunk_size=10)


def test_grid_derivatives_match_dense_kronecker():
    # Reference: the same conditional-mean operators applied to vec(U) as dense Kronecker
    # products (NumPy float64), D2_x (x) I + I (x) D2_y.
    x, y = jnp.linspace(0, 1, 7, dtype=FLOAT), jnp.linspace(0, 2, 5, dtype=FLOAT)
    U = jnp.sin(3 * x)[:, None] * jnp.cos(y)[None, :] + x[:, None] * y[None, :]
    kx, ky = RBF(lengthscale=0.4), RBF(lengthscale=0.9)
    d = grid_derivatives([kx, ky], (x, y), U, jitter=1e-6)
    ops = []
    for k, a in ((kx, x), (ky, y)):
        A = np.asarray(a, np.float64)[:, None]
        lag = A - A.T
        ell2 = float(k.lengthscale) ** 2
        K = np.exp(-0.5 * lag**2 / ell2) + 1e-6 * np.eye(len(a))
        G2 = (lag**2 / ell2**2 - 1 / ell2) * np.exp(-0.5 * lag**2 / ell2)
        ops.append(G2 @ np.linalg.inv(K))
    u = np.asarray(U, np.float64).reshape(-1)
    lap = (np.kron(ops[0], np.eye(5)) + np.kron(np.eye(7), ops[1])) @ u
    np.testing.assert_allclose(np.asarray(d.d2u[0] + d.d2u[1]).reshape(-1), lap,
                               rtol=1e-6 if X64 else 5e-2, atol=1e-6 if X64 else 5e-1)


def test_grid_derivatives_of_a_smooth_function():
    # Golden: d^2/dx^2 sin(2 pi x) = -(2 pi)^2 sin(2 pi x), away from the ends.
    x = jnp.linspace(0, 1, 30, dtype=FLOAT)
    d = grid_derivatives([RBF(lengthscale=0.3)], (x,), jnp.sin(2 * jnp.pi * x))
    ref = -(2 * np.pi) ** 2 * np.sin(2 * np.pi * np.asarray(x, np.float64))
    err = np.abs(np.asarray(d.d2u[0]) - ref)[5:-5].max() / np.abs(ref).max()
    assert err < (1e-3 if X64 else 0.2)


def test_grid_derivatives_jit_vmap_grad():
    x = jnp.linspace(0, 1, 8, dtype=FLOAT)
    k = RBF(lengthscale=0.3)
    f = jax.jit(lambda U: grid_derivatives([k], (x,), U, jitter=1e-4).du[0])
    Us = jnp.stack([jnp.sin(x), jnp.cos(x)])
    np.testing.assert_allclose(np.asarray(jax.vmap(f)(Us)[1]), np.asarray(f(Us[1])),
                               rtol=1e-10 if X64 else 1e-4)
    check_grads(f, (Us[0],), order=1, modes=["rev"], eps=grad_check_eps(), atol=1e-2, rtol=1e-2)


@pytest.mark.skipif(not X64, reason="the solver's K^{-1} needs float64 for this accuracy")
def test_reduced_problem_reaches_target(solution):
    # Target for this reduced problem: relative L2 <= 2e-2 on a held-out 300-point grid.
    xt = jnp.linspace(0.0, math.pi / 2, 300)
    err = jnp.linalg.norm(predict_grid(solution, (xt,)) - jnp.sin(20 * xt)) / jnp.linalg.norm(
        jnp.sin(20 * xt))
    assert float(err) <= 2e-2
    assert solution.losses.shape == (10,)


def test_reduced_problem_float32_twin(solution):
    xt = jnp.linspace(0.0, math.pi / 2, 300, dtype=FLOAT)
    pred = predict_grid(solution, (xt,))
    assert pred.dtype == FLOAT
    err = jnp.linalg.norm(pred - jnp.sin(20 * xt)) / jnp.linalg.norm(jnp.sin(20 * xt))
    assert float(err) <= (2e-2 if X64 else 5e-2)


def test_predict_matches_predict_grid_and_jits(solution):
    xt = jnp.linspace(0.1, 1.4, 9, dtype=FLOAT)
    grid = predict_grid(solution, (xt,))
    points = eqx.filter_jit(predict)(solution, xt[:, None])
    np.testing.assert_allclose(np.asarray(points), np.asarray(grid), rtol=1e-8 if X64 else 1e-3,
                               atol=1e-8 if X64 else 1e-3)


def test_bad_problems():
    x, residual, boundary = _poisson_problem(12)
    with pytest.raises(ValueError, match="boundary"):
        solve(residual, (x,), [(jnp.zeros(3, FLOAT), 0.0)], num_steps=0)
    with pytest.raises(ValueError, match="boundary"):
        solve(residual, (x, x), boundary, num_steps=0)
    with pytest.raises(ValueError, match="residual"):
        solve(lambda u, du, d2u, X: jnp.sum(u), (x,), boundary, num_steps=0)
    bent = x.at[3].add(0.05)
    with pytest.raises(ValueError, match=r"axes\[0\].*uniformly"):
        solve(residual, (bent,), boundary, num_steps=0)
    with pytest.raises(ValueError, match="kernels"):
        solve(residual, (x,), boundary, [RBF(), RBF()], num_steps=0)
    with pytest.raises(ValueError, match="U"):
        grid_derivatives([RBF()], (x,), jnp.zeros(5, FLOAT))
    with pytest.raises(ValueError, match="max_frequency"):
        mixture_kernels((x,), max_frequency=[1.0, 2.0])
