"""How `pde.solve` stops, and how it flags grids too coarse for the solution (issue 26, 5-6)."""

import math
import warnings

import jax.numpy as jnp
import numpy as np
import pytest

from jaxkern.kernels import RBF
from jaxkern.pde import UnderResolvedWarning, mixture_kernels, predict_grid, solve

from ..helpers import FLOAT, X64


def _poisson(w, n, length=1.0):
    """u = sin(w x) on [0, length] with n points: u'' = -w^2 sin(w x), its source from X."""
    x = jnp.linspace(0.0, length, n, dtype=FLOAT)

    def residual(u, du, d2u, X):
        return d2u[0] + w**2 * jnp.sin(w * X[0])

    return x, residual, [(jnp.sin(w * x[0]), jnp.sin(w * x[-1]))]


def _error(sol, w, length=1.0):
    xt = jnp.linspace(0.0, length, 301, dtype=FLOAT)
    truth = jnp.sin(w * xt)
    return float(jnp.linalg.norm(predict_grid(sol, (xt,)) - truth) / jnp.linalg.norm(truth))


@pytest.fixture(scope="module")
def stalled():  # about 20 s
    # A small fit that runs out of progress well before its step cap, all in one chunk: before
    # issue 26 the chunk went on repeating the same failed line search (each up to 20
    # evaluations of J) to its end and the fit stopped only after a whole chunk had none
    # accepted.
    x, residual, boundary = _poisson(12.0, 24)
    kernels = mixture_kernels((x,), num_components=3, max_frequency=3.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnderResolvedWarning)
        return solve(residual, (x,), boundary, kernels, num_steps=200, chunk_size=200, tol=0.0)


@pytest.mark.slow
def test_fit_stops_at_the_first_step_without_progress(stalled):
    losses = stalled.losses
    assert stalled.message == "no decrease", stalled.stop_reason
    assert stalled.stop_reason.startswith("no decrease")
    assert stalled.converged
    assert stalled.num_steps == losses.shape[0] < 200
    # One step whose line searches (from the L-BFGS memory, then from a fresh start) both
    # failed, and the one step that sees J unchanged and ends the fit: never a chunk of them.
    assert np.sum(losses == losses[-1]) <= 2
    assert np.all(np.diff(losses[:-1]) < 0)  # every other step lowered J
    assert _error(stalled, 12.0) < (1e-3 if X64 else 1e-1)


@pytest.mark.slow
def test_fit_stops_once_j_falls_by_less_than_tol():
    x, residual, boundary = _poisson(12.0, 24)
    kernels = mixture_kernels((x,), num_components=3, max_frequency=3.0)
    loose = solve(residual, (x,), boundary, kernels, num_steps=200, chunk_size=200, tol=0.5)
    assert loose.message == "tol reached"
    assert loose.stop_reason.startswith("no progress")
    losses = loose.losses
    assert abs(losses[-1] - losses[-2]) <= 0.5 * max(1.0, abs(losses[-1]))
    assert loose.num_steps < 200


def test_stop_reason_without_steps_and_bad_tol():
    x, residual, boundary = _poisson(3.0, 12)
    sol = solve(residual, (x,), boundary, [RBF(lengthscale=0.3)], num_steps=0)
    assert sol.message == "num_steps reached" and "not fitted" in sol.stop_reason
    for bad in (-1e-3, 1.0, "1e-9"):
        with pytest.raises(ValueError, match="`tol`"):
            solve(residual, (x,), boundary, [RBF(lengthscale=0.3)], num_steps=0, tol=bad)


@pytest.fixture(scope="module")
def aliased():
    # 20 points on [0, 1]: Nyquist pi / h = 59.7 rad per unit. sin(80 x) is above it; on the
    # grid its samples are those of -sin(39.4 x), and the solver meets the PDE there with an
    # alias of amplitude (80 / 39.4)^2, about 4.
    x, residual, boundary = _poisson(80.0, 20)
    kernels = mixture_kernels((x,), num_components=4)
    with pytest.warns(UnderResolvedWarning, match="between the grid points") as record:
        sol = solve(residual, (x,), boundary, kernels, num_steps=10)
    return sol, record


@pytest.mark.slow
def test_under_resolved_grid_warns_with_the_indicator(aliased):
    sol, record = aliased
    assert _error(sol, 80.0) > 1.0  # several times wrong in amplitude ...
    assert np.isfinite(sol.losses).all()  # ... with a finite objective
    assert sol.offgrid_residual > 0.5  # about 1: the midpoint residual is twice the source
    assert f"{sol.offgrid_residual:.2g}" in str(record[0].message)


def test_under_resolved_grid_warns_without_fitting():
    # The fast twin of the fitted case: a fixed RBF kernel, no steps. The aliased source
    # still gives a collocation solution that meets the PDE only at the grid points.
    x, residual, boundary = _poisson(80.0, 20)
    with pytest.warns(UnderResolvedWarning):
        sol = solve(residual, (x,), boundary, [RBF(lengthscale=0.05)], num_steps=0)
    assert sol.offgrid_residual > 0.5


@pytest.mark.parametrize("fit", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_resolved_grids_do_not_warn(fit):
    # The same grid, sin(15 x) at a quarter of Nyquist: the same indicator is small.
    x, residual, boundary = _poisson(15.0, 20)
    kernels = mixture_kernels((x,), num_components=4) if fit else [RBF(lengthscale=0.2)]
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnderResolvedWarning)
        sol = solve(residual, (x,), boundary, kernels, num_steps=10 if fit else 0)
    assert sol.offgrid_residual < (1e-2 if X64 else 5e-2)
    assert _error(sol, 15.0) < (1e-2 if X64 else 0.3)  # float32 RBF unfitted: 0.17


def test_indicator_is_nan_where_the_residual_cannot_leave_the_grid():
    # A source held as a grid-shaped array cannot be evaluated between the grid points.
    x, _, boundary = _poisson(15.0, 20)
    source = 225.0 * jnp.sin(15.0 * x)

    def residual(u, du, d2u, X):
        return d2u[0] + source

    sol = solve(residual, (x,), boundary, [RBF(lengthscale=0.2)], num_steps=0)
    assert math.isnan(sol.offgrid_residual)


def test_lapack_runs_on_one_thread_during_a_solve(monkeypatch):
    # Issue 26, item 5: OpenBLAS's own threads, beside XLA's on a shared 2-core machine, made
    # each per-axis eig of the preconditioner 10-100x slower (a 200 x 200 solve: 859 s).
    threadpoolctl = pytest.importorskip("threadpoolctl")
    import jaxkern.pde._solve as solve_module
    from jaxkern.pde._threads import one_blas_thread

    def blas_threads():
        return [p["num_threads"] for p in threadpoolctl.threadpool_info()
                if p["user_api"] == "blas"]

    import scipy.linalg.cython_lapack  # noqa: F401 - jaxlib's LAPACK, loaded at its first use

    before = blas_threads()
    with one_blas_thread():
        assert blas_threads() and set(blas_threads()) == {1}  # jaxlib's SciPy LAPACK included
    assert blas_threads() == before

    seen = []
    fit = solve_module._fit

    def spy(*args, **kwargs):
        seen.append(blas_threads())
        return fit(*args, **kwargs)

    monkeypatch.setattr(solve_module, "_fit", spy)
    x, residual, boundary = _poisson(3.0, 12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        solve(residual, (x,), boundary, [RBF(lengthscale=0.3)], num_steps=1, prune_tol=0.0)
    assert seen and set(seen[0]) == {1}
    assert blas_threads() == before
