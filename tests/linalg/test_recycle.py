"""Krylov recycling: GCRO-DR, deflated CG, greedy ordering and sequences of systems."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as sla

from jaxkern.linalg import (
    RecycleSpace,
    deflated_cg,
    gcrodr,
    gmres,
    greedy_order,
    solve_sequence,
)

from ..helpers import FLOAT, X64

N = 12  # interior grid: n = 144 unknowns


def _coefficient(seed, amplitude=0.5):
    """A smooth positive coefficient on the (N + 2)^2 nodes: exp of a few random modes."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 1.0, N + 2)
    X, Y = np.meshgrid(t, t, indexing="ij")
    g = sum(rng.standard_normal() * np.sin(np.pi * i * X) * np.sin(np.pi * j * Y) / (i + j)
            for i in range(1, 4) for j in range(1, 4))
    return np.exp(amplitude * g)


def _faces(a):
    return 0.5 * (a[1:, 1:-1] + a[:-1, 1:-1]), 0.5 * (a[1:-1, 1:] + a[1:-1, :-1])


def _stencil(a, v):
    ax, ay = _faces(a)
    u = jnp.pad(v.reshape(N, N), 1)
    fx = ax * (u[1:, 1:-1] - u[:-1, 1:-1])
    fy = ay * (u[1:-1, 1:] - u[1:-1, :-1])
    return (-(fx[1:] - fx[:-1]) - (fy[:, 1:] - fy[:, :-1])).ravel()


def _dense_np(a):
    ax, ay = _faces(a)
    A = np.zeros((N * N, N * N))
    idx = np.arange(N * N).reshape(N, N)
    for i in range(N):
        for j in range(N):
            k = idx[i, j]
            A[k, k] = ax[i, j] + ax[i + 1, j] + ay[i, j] + ay[i, j + 1]
            if i > 0:
                A[k, idx[i - 1, j]] = -ax[i, j]
            if i < N - 1:
                A[k, idx[i + 1, j]] = -ax[i + 1, j]
            if j > 0:
                A[k, idx[i, j - 1]] = -ay[i, j]
            if j < N - 1:
                A[k, idx[i, j + 1]] = -ay[i, j + 1]
    return A


def _convection(a, v, c=3.0):
    """A nonsymmetric operator: the Darcy stencil plus a first-order upwind convection in x."""
    u = jnp.pad(v.reshape(N, N), ((1, 0), (0, 0)))
    return _stencil(a, v) + c * (u[1:] - u[:-1]).ravel()


def _rtol():
    return 1e-8 if X64 else 1e-4


def test_gcrodr_solves_like_scipy_gcrotmk():
    # Reference: scipy.sparse.linalg.gcrotmk on the same nonsymmetric matrix (float64), and
    # numpy.linalg.solve; both solutions agree to the tolerance's error bound.
    a = _coefficient(0)
    A = np.stack([np.asarray(_convection(a, e)) for e in np.eye(N * N)], axis=1)
    b = np.random.default_rng(1).standard_normal(N * N)
    x_ref, info = sla.gcrotmk(sp.csr_matrix(A), b, rtol=1e-12, maxiter=1000)
    assert info == 0
    np.testing.assert_allclose(x_ref, np.linalg.solve(A, b), rtol=1e-8, atol=1e-10)
    af = jnp.asarray(a, FLOAT)
    res = gcrodr(lambda v: _convection(af, v), jnp.asarray(b, FLOAT), cycle_length=20,
                 recycle_dim=6, rtol=_rtol())
    assert bool(res.converged) and not bool(res.negative_curvature)
    true_res = np.linalg.norm(b - A @ np.asarray(res.solution, np.float64)) / np.linalg.norm(b)
    assert true_res <= 2 * _rtol()
    cond = np.linalg.cond(A)
    np.testing.assert_allclose(res.solution, x_ref, atol=3 * _rtol() * cond
                               * np.abs(x_ref).max())
    # the recycle space is consistent: C = A U with orthonormal columns
    U, C = np.asarray(res.recycle.U, np.float64), np.asarray(res.recycle.C, np.float64)
    np.testing.assert_allclose(A @ U, C, atol=1e-8 if X64 else 2e-3)
    np.testing.assert_allclose(C.T @ C, np.eye(6), atol=1e-10 if X64 else 1e-4)
    hist = np.asarray(res.residual_history)
    it = int(res.iterations)
    assert hist.shape == (N * N + 1,) and np.all(hist[it:] == hist[it])
    assert int(res.num_matvecs) >= it


@pytest.mark.parametrize("restart", [7, 200])
def test_gmres_takes_scipys_steps_with_fewer_products(restart):
    # Reference: scipy.sparse.linalg.gmres (float64) on the same nonsymmetric matrix, counting
    # its products. GMRES(m) is one method: the same Arnoldi steps reach the same solution,
    # while SciPy also multiplies for r0 = b - A 0 and once more after each cycle.
    a = _coefficient(2)
    A = np.stack([np.asarray(_convection(a, e)) for e in np.eye(N * N)], axis=1)
    b = np.random.default_rng(3).standard_normal(N * N)
    calls = []
    op = sla.LinearOperator(A.shape, matvec=lambda v: calls.append(1) or A @ v)
    x_ref, info = sla.gmres(op, b, rtol=_rtol(), atol=0.0, restart=restart, maxiter=400)
    assert info == 0
    af = jnp.asarray(a, FLOAT)
    res = jax.jit(lambda b: gmres(lambda v: _convection(af, v), b, restart=restart,
                                  rtol=_rtol()))(jnp.asarray(b, FLOAT))
    assert bool(res.converged)
    cycles = -(-int(res.iterations) // restart)
    assert int(res.num_matvecs) == int(res.iterations) + cycles  # and b - Ax after each cycle
    assert len(calls) >= int(res.num_matvecs) + 1  # SciPy also multiplies by x0 = 0
    trusting = gmres(lambda v: _convection(af, v), jnp.asarray(b, FLOAT), restart=restart,
                     rtol=_rtol(), verify=False)  # the last cycle's recurrence residual
    assert int(trusting.num_matvecs) == int(res.num_matvecs) - 1
    np.testing.assert_allclose(trusting.solution, res.solution, rtol=1e-6, atol=1e-6)
    true_res = np.linalg.norm(b - A @ np.asarray(res.solution, np.float64)) / np.linalg.norm(b)
    assert true_res <= 2 * _rtol()
    if X64:  # both stop at the same Arnoldi step with the same iterate
        np.testing.assert_allclose(res.solution, x_ref, rtol=1e-9, atol=1e-12)
    hist = np.asarray(res.residual_history)
    assert np.all(np.diff(hist[:int(res.iterations) + 1]) <= 1e-12 * hist[0])  # minimal residual
    # a non-zero start costs one product; not converging is reported and can raise
    assert int(gmres(lambda v: _convection(af, v), jnp.asarray(b, FLOAT),
                     x0=jnp.asarray(x_ref, FLOAT), rtol=_rtol()).num_matvecs) <= 3
    short = gmres(lambda v: _convection(af, v), jnp.asarray(b, FLOAT), rtol=1e-10, max_steps=5)
    assert not bool(short.converged) and int(short.iterations) == 5
    with pytest.raises(Exception, match="did not converge"):
        jax.block_until_ready(gmres(lambda v: _convection(af, v), jnp.asarray(b, FLOAT),
                                    rtol=1e-10, max_steps=5, throw=True).solution)
    with pytest.raises(ValueError, match="`restart`"):
        gmres(lambda v: _convection(af, v), jnp.asarray(b, FLOAT), restart=0)
    with pytest.raises(ValueError, match="`b`"):
        gmres(lambda v: _convection(af, v), jnp.asarray(b, FLOAT).at[0].set(jnp.nan))


def test_deflated_cg_matches_direct_solve():
    # Reference: numpy.linalg.solve on the dense SPD stencil, float64.
    a = _coefficient(2)
    A = _dense_np(a)
    b = np.ones(N * N)
    af = jnp.asarray(a, FLOAT)
    first = deflated_cg(lambda v: _stencil(af, v), jnp.asarray(b, FLOAT), deflation_dim=6,
                        window=8, stride=2, rtol=_rtol())
    want = np.linalg.solve(A, b)
    assert bool(first.converged)
    np.testing.assert_allclose(first.solution, want, rtol=0,
                               atol=(1e-6 if X64 else 5e-2) * np.abs(want).max())
    # the harvested space is A-orthonormal and approximates the smallest eigenvectors
    W = np.asarray(first.recycle.U, np.float64)
    np.testing.assert_allclose(W.T @ A @ W, np.eye(6), atol=1e-8 if X64 else 1e-3)
    # Ritz values of an A-orthonormal W are 1 / eig(W^T W): bounded below by lambda_min
    # (Rayleigh-Ritz), and the smallest already near it after one solve.
    lam = np.linalg.eigvalsh(A)
    theta = 1.0 / np.linalg.eigvalsh(W.T @ W)
    assert lam[0] * (1 - 1e-3) <= theta.min() <= 3 * lam[0]


def _sequence(num=6, seed=10):
    return np.stack([_coefficient(seed + i, amplitude=0.3) for i in range(num)])


@pytest.mark.parametrize("method", ["gcrodr", "deflated_cg"])
def test_recycling_reduces_matvecs_on_a_sequence(method):
    # Property: carrying the space cuts the products per system against fresh solves (a zero
    # space is no space: nothing to deflate, and A U is not computed).
    coeffs = jnp.asarray(_sequence(5), FLOAT)
    b = jnp.ones(N * N, FLOAT)
    rtol = 1e-8 if X64 else 1e-6
    if method == "gcrodr":
        solve = jax.jit(lambda a, U: gcrodr(lambda v: _stencil(a, v), b, RecycleSpace(U),
                                            cycle_length=20, rtol=rtol))
    else:
        solve = jax.jit(lambda a, U: deflated_cg(lambda v: _stencil(a, v), b, RecycleSpace(U),
                                                 window=8, stride=2, rtol=rtol))
    zero = jnp.zeros((N * N, 8), FLOAT)
    fresh = [int(solve(a, zero).num_matvecs) for a in coeffs]
    U, recycled = zero, []
    for a in coeffs:
        res = solve(a, U)
        U = res.recycle.U
        recycled.append(int(res.num_matvecs))
        assert bool(res.converged)
        A = _dense_np(np.asarray(a, np.float64))
        r = np.linalg.norm(1.0 - A @ np.asarray(res.solution, np.float64)) / np.sqrt(N * N)
        assert r <= (5e-8 if X64 else 5e-4)
    assert recycled[0] == fresh[0]
    assert np.mean(recycled[1:]) < 0.9 * np.mean(fresh[1:])


def test_jit_equals_eager_and_same_operator_reuse():
    a = jnp.asarray(_coefficient(3), FLOAT)
    b = jnp.ones(N * N, FLOAT)
    mv = lambda v: _stencil(a, v)  # noqa: E731
    eager = deflated_cg(mv, b, deflation_dim=4, rtol=_rtol())
    jitted = jax.jit(lambda b: deflated_cg(mv, b, deflation_dim=4, rtol=_rtol()))(b)
    assert int(eager.num_matvecs) == int(jitted.num_matvecs)
    np.testing.assert_allclose(eager.solution, jitted.solution, rtol=1e-6 if X64 else 1e-3,
                               atol=1e-12 if X64 else 1e-5)
    # GCRO-DR under jit, then again on the same operator with C passed: no products on A U
    solve = jax.jit(lambda b, U, C: gcrodr(mv, b, RecycleSpace(U, C), cycle_length=16,
                                           rtol=_rtol()))
    zero = jnp.zeros((N * N, 4), FLOAT)
    first = solve(b, zero, zero)
    again = solve(2.0 * b + 0.1, first.recycle.U, first.recycle.C)
    assert bool(first.converged) and bool(again.converged)
    extra = int(again.num_matvecs) - int(again.iterations)
    assert extra in (0, 1)  # the explicit residual check, no A U
    assert int(again.iterations) < int(first.iterations)


def test_greedy_order_is_nearest_neighbour():
    # Reference: a hand-worked chain on the line.
    order = greedy_order(jnp.array([[0.0], [10.0], [1.0], [4.0], [2.0]]))
    assert order.tolist() == [0, 2, 4, 3, 1]
    pytree = {"a": jnp.array([[0.0, 0.0], [5.0, 5.0], [1.0, 0.0]]), "b": jnp.zeros((3,))}
    assert greedy_order(pytree, start=1).tolist() == [1, 2, 0]
    seq = solve_sequence(_stencil, jnp.asarray(_sequence(3), FLOAT), jnp.ones((3, N * N), FLOAT),
                         method="deflated_cg", recycle_dim=4, rtol=_rtol(),
                         order=jnp.array([2, 0, 1]))
    assert seq.order.tolist() == [2, 0, 1] and seq.converged.tolist() == [True] * 3


def test_not_converged_is_flagged_and_can_raise():
    a = jnp.asarray(_coefficient(4), FLOAT)
    b = jnp.ones(N * N, FLOAT)
    mv = lambda v: _stencil(a, v)  # noqa: E731
    res = gcrodr(mv, b, cycle_length=10, recycle_dim=4, rtol=1e-10, max_steps=12)
    assert not bool(res.converged) and int(res.iterations) <= 12
    solve = jax.jit(lambda sign: deflated_cg(lambda v: sign * mv(v), b, deflation_dim=4,
                                             rtol=1e-10, max_steps=5))
    res = solve(1.0)
    assert not bool(res.converged) and int(res.iterations) == 5
    # not positive definite: negative curvature is reported
    neg = solve(-1.0)
    assert bool(neg.negative_curvature) and not bool(neg.converged)
    with pytest.raises(Exception, match="did not converge"):
        jax.block_until_ready(deflated_cg(mv, b, deflation_dim=4, rtol=1e-10, max_steps=5,
                                          throw=True).solution)


def test_bad_inputs_raise_naming_the_argument():
    a = jnp.asarray(_coefficient(5), FLOAT)
    b = jnp.ones(N * N, FLOAT)
    mv = lambda v: _stencil(a, v)  # noqa: E731
    with pytest.raises(ValueError, match="`b`"):
        gcrodr(mv, b.at[3].set(jnp.nan), recycle_dim=4)
    with pytest.raises(ValueError, match="`b`"):
        deflated_cg(mv, b.at[0].set(jnp.inf), deflation_dim=4)
    with pytest.raises(ValueError, match="`recycle`"):
        gcrodr(mv, b, jnp.ones((N * N + 1, 3), FLOAT))
    with pytest.raises(ValueError, match="`recycle.C`"):
        gcrodr(mv, b, RecycleSpace(jnp.ones((N * N, 3), FLOAT), jnp.ones((N * N, 2), FLOAT)))
    with pytest.raises(ValueError, match="`matvec`"):
        gcrodr(lambda v: v[:-1], b, recycle_dim=4)
    with pytest.raises(ValueError, match="`recycle_dim`"):
        gcrodr(mv, b)
    with pytest.raises(ValueError, match="`cycle_length`"):
        gcrodr(mv, b, recycle_dim=8, cycle_length=8)
    with pytest.raises(ValueError, match="`x0`"):
        deflated_cg(mv, b, deflation_dim=2, x0=jnp.ones(3, FLOAT))
    with pytest.raises(ValueError, match="`bs`"):
        solve_sequence(_stencil, jnp.ones((2, N + 2, N + 2), FLOAT), b, recycle_dim=2)
    with pytest.raises(ValueError, match="`params`"):
        solve_sequence(_stencil, jnp.ones((3, N + 2, N + 2), FLOAT),
                       jnp.ones((2, N * N), FLOAT), recycle_dim=2)
    with pytest.raises(ValueError, match="`method`"):
        solve_sequence(_stencil, jnp.ones((2, N + 2, N + 2), FLOAT),
                       jnp.ones((2, N * N), FLOAT), recycle_dim=2, method="bicgstab")
    with pytest.raises(ValueError, match="`order`"):
        solve_sequence(_stencil, jnp.ones((2, N + 2, N + 2), FLOAT),
                       jnp.ones((2, N * N), FLOAT), recycle_dim=2, order=jnp.array([0, 0]))
