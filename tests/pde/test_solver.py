"""GP-HM grid solver: derivatives through the Kronecker structure, a reduced solve, bad inputs."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import jaxkern
from jaxkern.kernels import RBF, SpectralMixture, StudentTMixture
from jaxkern.pde import (
    PDESolution,
    grid_derivatives,
    mixture_kernels,
    predict,
    predict_grid,
    prune,
    solve,
)
from jaxkern.pde._solve import AUTO_TREND_GAP

from ..helpers import FLOAT, X64, check_transforms, grad_check_eps

LENGTH = 2 * math.pi / 5


def _poisson_problem(n=80):
    # The paper's 1-D Poisson problem u = sin(100 x), u'' = -1e4 sin(100 x), on a fifth of its
    # domain [0, 2 pi] with a fifth of its 400 grid points: 16 periods, 4 points a period.
    x = jnp.linspace(0.0, LENGTH, n, dtype=FLOAT)

    def residual(u, du, d2u, X):
        return d2u[0] + 1e4 * jnp.sin(100.0 * X[0])

    return x, residual, [(jnp.sin(100.0 * x[0]), jnp.sin(100.0 * x[-1]))]


STEPS = 30  # L-BFGS steps


@pytest.fixture(scope="module")
def fit():
    """One fit, with what `solve` handed to its pruning step: (unpruned, pruned)."""
    import jaxkern.pde._solve

    x, residual, boundary = _poisson_problem()
    # The authors' mixture for this problem spans [0, 20] cycles per unit.
    kernels = mixture_kernels((x,), num_components=10, max_frequency=20.0)
    seen = []

    def spy(solution, **kwargs):
        seen.append((solution, kwargs))
        return prune(solution, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(jaxkern.pde._solve, "prune", spy)
        pruned = solve(residual, (x,), boundary, kernels, num_steps=STEPS, chunk_size=STEPS)
    ((unpruned, kwargs),) = seen
    assert kwargs["tol"] == 1e-3  # the default prune_tol
    return unpruned, pruned


@pytest.fixture(scope="module")
def solution(fit):
    return fit[1]


def test_grid_derivatives_match_dense_kronecker():
    # Reference: the same conditional-mean operators applied to vec(U) as dense Kronecker
    # products (NumPy float64), D2_x (x) I + I (x) D2_y.
    x, y = jnp.linspace(0, 1, 7, dtype=FLOAT), jnp.linspace(0, 2, 5, dtype=FLOAT)
    U = jnp.sin(3 * x)[:, None] * jnp.cos(y)[None, :] + x[:, None] * y[None, :]
    kx, ky = RBF(lengthscale=0.4), RBF(lengthscale=0.9)
    d = grid_derivatives([kx, ky], (x, y), U, relative_jitter=1e-6)
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


def test_grid_derivatives_transforms():
    # jit = eager, vmap over grid values = a loop, and the gradient with respect to the
    # kernel's lengthscale (through the custom-VJP inverse) = finite differences.
    x = jnp.linspace(0, 1, 8, dtype=FLOAT)

    def f(lengthscale, U):
        d = grid_derivatives([RBF(lengthscale=lengthscale)], (x,), U, relative_jitter=1e-4)
        return d.du[0] + 0.1 * d.d2u[0]

    ell = jnp.asarray(0.3, FLOAT)
    Us = jnp.stack([jnp.sin(x), jnp.cos(x)])
    check_transforms(f, (ell, Us[0]), batch=(ell, Us), in_axes=(None, 0), grad_argnums=(0, 1),
                     rtol64=1e-9, rtol32=1e-3, atol64=1e-9, atol32=1e-3, grad_rtol32=1e-1)


@pytest.mark.skipif(not X64, reason="the solver's K^{-1} needs float64 for this accuracy")
def test_reduced_problem_reaches_target(solution):
    # Target for this reduced problem: relative L2 <= 1e-6 on a held-out 300-point grid. The
    # fit alone ends near 4e-5; pruning the mixture to the components that carry the solution
    # takes it to about 7e-9 (three of ten kept since the mixtures sum their components by a
    # dot product, whose round-off moves the fit's path; two at 2e-8 before, one at 6e-9
    # before the kernels' exact Matern slopes, 6fb280e).
    xt = jnp.linspace(0.0, LENGTH, 300)
    err = jnp.linalg.norm(predict_grid(solution, (xt,)) - jnp.sin(100 * xt)) / jnp.linalg.norm(
        jnp.sin(100 * xt))
    assert float(err) <= 1e-6
    assert solution.kernels[0].num_components <= 3
    # Steps are accepted only where J falls (up to the Newton solve's round-off between
    # chunks), and the fit ends early at the first step that finds no lower J.
    losses = solution.losses
    assert isinstance(losses, np.ndarray)
    assert 1 <= losses.shape[0] <= STEPS
    assert solution.num_steps == losses.shape[0]
    # converged: stopped by its own criterion ("no decrease" may come at the last step too)
    assert solution.converged == (solution.message != "num_steps reached")
    assert solution.message in ("num_steps reached", "no decrease", "tol reached")
    assert solution.stop_reason.startswith(("num_steps", "no decrease", "no progress"))
    assert solution.offgrid_residual < 1e-3  # resolved: no under-resolution warning
    # trend_degree="auto" (the default) keeps the stationary fit: its posterior mean meets the
    # boundary values (about 1e-8 off here)
    assert solution.trend_degree is None and solution.boundary_gap < AUTO_TREND_GAP
    assert np.all(np.diff(losses) <= 1e-6 * np.abs(losses[1:]))
    # The fit moved a component onto the solution's frequency, 100 / (2 pi) cycles per unit.
    k = solution.kernels[0]
    top = int(jnp.argmax(k.weights))
    assert abs(float(k.means[top, 0]) - 50 / math.pi) < 0.05


@pytest.mark.slow
def test_reduced_problem_float32_twin(solution):
    # float32 is a warned, coarse mode: the evidence is rounding noise between steps once the
    # operators' condition numbers near 1e10, and the fit ends where the noise takes it (6e-2
    # before the kernels' exact Matern slopes, 1.0e-1 after; 2e-8 in float64).
    xt = jnp.linspace(0.0, LENGTH, 300, dtype=FLOAT)
    pred = predict_grid(solution, (xt,))
    assert pred.dtype == FLOAT
    err = jnp.linalg.norm(pred - jnp.sin(100 * xt)) / jnp.linalg.norm(jnp.sin(100 * xt))
    assert float(err) <= (2e-2 if X64 else 2e-1)


def test_float32_solve_warns():
    x, residual, boundary = _poisson_problem(12)
    x32 = x.astype(jnp.float32)
    with pytest.warns(jaxkern.Float32PrecisionWarning, match="pde.solve in float32"):
        solve(residual, (x32,), [tuple(jnp.float32(v) for v in boundary[0])], num_steps=0)


@pytest.mark.slow
def test_predict_matches_predict_grid_and_jits(solution):
    xt = jnp.linspace(0.1, 1.2, 9, dtype=FLOAT)
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


def _dense_operator(k, x, order, jitter):
    # NumPy float64 reference: G_a K^{-1} with K + jitter k(0) I, from the same kernel.
    from jaxkern.pde import derivative_gram

    K = np.asarray(derivative_gram(k, x, x), np.float64)
    G = np.asarray(derivative_gram(k, x, x, orders=(order, 0)), np.float64)
    return np.linalg.solve((K + jitter * K[0, 0] * np.eye(len(x))).T, G.T).T


@pytest.mark.parametrize("first_order", [False, True])
def test_two_dimensional_collocation_matches_dense_solve(first_order):
    # Reference: the interior collocation equations of the Kronecker-sum operator, assembled
    # densely with np.kron and solved by np.linalg.solve. The solver never forms them.
    x, y = jnp.linspace(0, 1, 9, dtype=FLOAT), jnp.linspace(0, 2, 11, dtype=FLOAT)
    kx, ky = RBF(lengthscale=0.3), RBF(lengthscale=0.5)
    order, c = (1, 3.0) if first_order else (2, 1.0)

    # Data from u = sin(2x) + x y: f = c u_xx + u_yy, or f = c u_x + u_y + u (a damped
    # advection, whose interior system is well conditioned with all faces given).
    def source(X, Y, xp):
        if first_order:
            return c * (2 * xp.cos(2 * X) + Y) + X + xp.sin(2 * X) + X * Y
        return -4 * c * xp.sin(2 * X)

    def residual(u, du, d2u, X):
        if first_order:
            return c * du[0] + du[1] + u - source(X[0], X[1], jnp)
        return c * d2u[0] + d2u[1] - source(X[0], X[1], jnp)

    X, Y = np.meshgrid(np.asarray(x, np.float64), np.asarray(y, np.float64), indexing="ij")
    truth = np.sin(2 * X) + X * Y
    boundary = [(truth[0], truth[-1]), (truth[:, 0], truth[:, -1])]
    sol = solve(residual, (x, y), boundary, [kx, ky], num_steps=0)
    jitter = 1e-6 if X64 else 1e-4
    Ax, Ay = (_dense_operator(k, a, order, jitter) for k, a in ((kx, x), (ky, y)))
    A = c * np.kron(Ax, np.eye(11)) + np.kron(np.eye(9), Ay) + first_order * np.eye(99)
    inner = np.zeros((9, 11), bool)
    inner[1:-1, 1:-1] = True
    inner = inner.reshape(-1)
    U = np.where(inner.reshape(9, 11), 0.0, truth).reshape(-1)
    f = source(X, Y, np).reshape(-1)
    U[inner] = np.linalg.solve(A[np.ix_(inner, inner)], f[inner] - A[inner] @ U)
    np.testing.assert_allclose(np.asarray(sol.grid_values).reshape(-1), U,
                               rtol=1e-8 if X64 else 2e-2, atol=1e-8 if X64 else 2e-2)


@pytest.mark.skipif(not X64, reason="Newton to round-off needs float64")
def test_nonlinear_collocation_zeroes_the_interior_residual():
    # Allen-Cahn u'' + u (u^2 - 1) = f with u = sin(6x): Newton-GMRES with an averaged-
    # coefficient preconditioner; the interior residual must vanish to round-off.
    x = jnp.linspace(0.0, 1.0, 30)
    u = jnp.sin(6 * x)
    f = -36 * u + u * (u**2 - 1)

    def residual(v, du, d2u, X):
        return d2u[0] + v * (v**2 - 1) - f

    k = RBF(lengthscale=0.2)
    sol = solve(residual, (x,), [(u[0], u[-1])], [k], num_steps=0)
    d = grid_derivatives([k], (x,), sol.grid_values, relative_jitter=1e-6)
    r = residual(d.u, d.du, d.d2u, None)[1:-1]
    assert float(jnp.max(jnp.abs(r))) < 1e-7 * float(jnp.max(jnp.abs(f)))
    assert float(jnp.max(jnp.abs(sol.values - u))) < 3e-2


@pytest.mark.slow
def test_evidence_gradient_through_the_solve():
    # The gradient of J(theta) goes through the collocation solve by the implicit function
    # theorem (custom_root + a transposed GMRES solve); check it against finite differences.
    from jaxkern.pde._collocation import evidence
    from jaxkern.pde._problem import make_problem

    x, y = jnp.linspace(0, 1, 8, dtype=FLOAT), jnp.linspace(0, 1, 7, dtype=FLOAT)
    kernels = mixture_kernels((x, y), num_components=2, max_frequency=1.0)

    def residual(u, du, d2u, X):
        return d2u[0] + 2.0 * du[1] + 0.5 * u - jnp.sin(3 * X[0]) * X[1]

    prob = make_problem(residual, (x, y), 1e-6 if X64 else 1e-4)
    U = jnp.zeros((8, 7), FLOAT).at[0].set(1.0).at[:, -1].set(0.5)

    @jax.jit  # compiled once: check_grads calls it several times
    def J(log_weights):
        k = eqx.tree_at(lambda k: k.weights, kernels[0], jnp.exp(log_weights))
        return evidence((k, kernels[1]), U, prob, 20, 1e-13 if X64 else 1e-5)[0]

    check_grads(J, (jnp.log(kernels[0].weights),), order=1, modes=["rev"],
                eps=grad_check_eps(), atol=1e-3 if X64 else 5e-1, rtol=1e-3 if X64 else 5e-2)


def test_bad_settings():
    x, residual, boundary = _poisson_problem(12)
    for name, value in (("num_steps", -1), ("newton_iterations", 0), ("chunk_size", 0),
                        ("prune_tol", -0.1), ("prune_tol", 1.0)):
        with pytest.raises(ValueError, match=name):
            solve(residual, (x,), boundary, **{name: value})


def test_kernels_beyond_the_grids_resolution_are_refused():
    # Bernstein: a grid function band-limited to pi / h has |u''| <= (pi / h)^2 |u|. Derivative
    # operators with a larger gain mark degenerate kernels, where J is set to +inf.
    from jaxkern.pde._operators import factor_operators, resolved

    x = jnp.linspace(0, 1, 30, dtype=FLOAT)
    ops = [factor_operators(RBF(lengthscale=0.3), x, 1e-4)]
    U = jnp.sin(2 * jnp.pi * x)
    assert bool(resolved(ops, U, (x,)))
    amplified = [ops[0]._replace(d2=1e4 * ops[0].d2)]
    assert not bool(resolved(amplified, U, (x,)))


def test_component_shares_match_dense():
    # Reference: each component's part K_q (K + jitter k(0) I)^{-1} u of the posterior mean,
    # in NumPy float64, for a sample of the first component plus a little of the second.
    from jaxkern.pde._operators import stationary_gram
    from jaxkern.pde._prune import component_shares

    x = jnp.linspace(0, 1, 25, dtype=FLOAT)
    k = StudentTMixture(jnp.asarray([1.0, 0.5], FLOAT), jnp.asarray([[3.0], [0.5]], FLOAT),
                        jnp.asarray([[5.0], [0.3]], FLOAT))
    U = jnp.stack([jnp.cos(6 * jnp.pi * x), 0.01 * x]).T  # axis 0 is the grid, axis 1 another
    shares = component_shares(k, x, U, 0, 1e-4)
    parts = [np.asarray(stationary_gram(k_q, x, (0, 0)), np.float64) for k_q in (
        StudentTMixture(k.weights[:1], k.means[:1], k.lengthscales[:1]),
        StudentTMixture(k.weights[1:], k.means[1:], k.lengthscales[1:]))]
    K = sum(parts)
    alpha = np.linalg.solve(K + 1e-4 * K[0, 0] * np.eye(25), np.asarray(U, np.float64))
    ref = [np.linalg.norm(P @ alpha) / np.linalg.norm(np.asarray(U, np.float64)) for P in parts]
    np.testing.assert_allclose(np.asarray(shares), ref, rtol=1e-6 if X64 else 2e-2)
    assert ref[0] > 0.9 and ref[1] < 0.1


@pytest.mark.slow
def test_prune_is_the_step_solve_takes(fit):
    # solve(prune_tol=t) = prune(solve(prune_tol=0), tol=t): `solve` hands its unpruned fit to
    # the public pruning step, which gives the same solution called on its own.
    unpruned, by_solve = fit
    assert unpruned.kernels[0].num_components == 10
    by_step = prune(unpruned, tol=1e-3)
    assert by_step.kernels[0].num_components == by_solve.kernels[0].num_components
    np.testing.assert_array_equal(np.asarray(by_step.values), np.asarray(by_solve.values))
    np.testing.assert_array_equal(by_step.losses, unpruned.losses)
    assert (by_step.num_steps, by_step.message) == (unpruned.num_steps, unpruned.message)
    # The residual can be given where the solution does not carry one.
    bare = PDESolution(unpruned.axes, unpruned.grid_values, unpruned.kernels, unpruned.losses,
                       unpruned.relative_jitter)
    assert bare.residual is None and bare.num_steps == unpruned.num_steps
    with pytest.raises(ValueError, match="residual"):
        prune(bare, tol=1e-3)
    again = prune(bare, tol=1e-3, residual=unpruned.residual)
    np.testing.assert_array_equal(np.asarray(again.values), np.asarray(by_step.values))
    with pytest.raises(ValueError, match="tol"):
        prune(unpruned, tol=1.5)
    assert prune(unpruned, tol=0.0) is unpruned


def test_mixtures_are_recognised_by_their_protocol():
    # Pruning asks the kernel (num_components, select), never its type or field names.
    from jaxkern.pde._mixture import is_mixture

    w, m, s = jnp.ones(2, FLOAT), jnp.ones((2, 1), FLOAT), jnp.ones((2, 1), FLOAT)
    assert is_mixture(StudentTMixture(w, m, s)) and is_mixture(SpectralMixture(w, m, s))
    assert not is_mixture(RBF())

    class Weighted(eqx.Module):  # has `weights`, but declares no components
        weights: jax.Array

    assert not is_mixture(Weighted(w))


def test_deprecated_jitter_keyword():
    # `jitter=` is the old name of `relative_jitter=` (same meaning) and warns.
    x = jnp.linspace(0, 1, 12, dtype=FLOAT)
    k, U = RBF(lengthscale=0.3), jnp.sin(3 * x)
    with pytest.warns(DeprecationWarning, match="relative_jitter"):
        old = grid_derivatives([k], (x,), U, jitter=1e-3)
    new = grid_derivatives([k], (x,), U, relative_jitter=1e-3)
    np.testing.assert_array_equal(np.asarray(old.d2u[0]), np.asarray(new.d2u[0]))
    with pytest.raises(ValueError, match="relative_jitter"), pytest.warns(DeprecationWarning):
        grid_derivatives([k], (x,), U, jitter=1e-3, relative_jitter=1e-3)

    def residual(u, du, d2u, X):
        return d2u[0] + 9 * jnp.sin(3 * X[0])

    with pytest.warns(DeprecationWarning, match="relative_jitter"):
        sol = solve(residual, (x,), [(0.0, jnp.sin(jnp.asarray(3.0, FLOAT)))], [k],
                    num_steps=0, jitter=1e-3)
    assert sol.relative_jitter == 1e-3
    with pytest.warns(DeprecationWarning):
        assert sol.jitter == 1e-3
    xt = jnp.linspace(0.1, 0.9, 5, dtype=FLOAT)
    with pytest.warns(DeprecationWarning):
        old = predict_grid(sol, (xt,), jitter=1e-2)
    np.testing.assert_array_equal(np.asarray(old),
                                  np.asarray(predict_grid(sol, (xt,), relative_jitter=1e-2)))
    with pytest.warns(DeprecationWarning):
        old = predict(sol, xt[:, None], jitter=1e-2)
    np.testing.assert_array_equal(np.asarray(old),
                                  np.asarray(predict(sol, xt[:, None], relative_jitter=1e-2)))


def test_values_are_the_posterior_mean_at_the_grid():
    # `values` is the posterior mean on the grid (= predict_grid there), not the raw unknowns
    x = jnp.linspace(0.0, 1.0, 20, dtype=FLOAT)
    residual = lambda u, du, d2u, X: d2u[0] + jnp.pi**2 * jnp.sin(jnp.pi * X[0])  # noqa: E731
    sol = solve(residual, (x,), [(0.0, 0.0)], [RBF(lengthscale=0.1)], num_steps=0)
    np.testing.assert_allclose(np.asarray(sol.values), np.asarray(predict_grid(sol, (x,))),
                               rtol=1e-12 if X64 else 1e-5, atol=1e-12 if X64 else 1e-5)
    assert sol.values.shape == sol.grid_values.shape == (20,)
    # boundary_gap: how far that mean misses the boundary values (0 at both ends here)
    v = np.asarray(sol.values, np.float64)
    gap = max(abs(v[0]), abs(v[-1])) / np.abs(v).max()
    assert sol.boundary_gap == pytest.approx(gap, rel=1e-6 if X64 else 1e-3)
    assert 0 < sol.boundary_gap < 1e-2


@pytest.mark.slow
@pytest.mark.skipif(not X64, reason="the solver needs float64 (it warns in float32)")
def test_values_beat_the_raw_unknowns_after_pruning():
    # Issue 26 item 8: the raw unknowns U were 0.44 from sin(30 x) after pruning (measured
    # here), the posterior mean on the same grid 3e-8; `values` must be the accurate one.
    x = jnp.linspace(0.0, 2 * math.pi / 5, 60)
    truth = jnp.sin(30.0 * x)
    sol = solve(lambda u, du, d2u, X: d2u[0] + 900.0 * jnp.sin(30.0 * X[0]), (x,),
                [(truth[0], truth[-1])], mixture_kernels((x,), num_components=10,
                                                          max_frequency=20.0),
                num_steps=30, chunk_size=30)

    def error(u):
        return float(jnp.linalg.norm(u - truth) / jnp.linalg.norm(truth))

    assert error(sol.values) < 1e-6
    assert error(sol.values) <= error(sol.grid_values)
