r"""GP-HM's fit: the kernels by L-BFGS on the collocation solution's evidence, then pruning.

The maths of one evaluation of the objective is in `_collocation.py`; this file runs the
optimiser on it with [`jaxkern.optim.minimize`][jaxkern.optim.minimize], the kernels'
hyperparameters mapped to unconstrained space by the constraints they declare.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float

from .._validation import check_int, warn_float32
from ..optim import constrain, minimize, unconstrain
from ._collocation import collocation, evidence
from ._mixture import mixture_kernels
from ._predict import posterior_mean
from ._problem import (
    Residual,
    boundary_grid,
    check_axes,
    check_kernels,
    check_residual,
    check_trend_degree,
    default_relative_jitter,
    ghost_nodes_for,
    make_problem,
    relative_jitter_argument,
)
from ._prune import prune
from ._resolution import boundary_gap, offgrid_residual, warn_under_resolved
from ._solution import PDESolution
from ._threads import with_one_blas_thread

#: `solve`'s default `tol`: the relative decrease of J in one step below which the fit stops.
TOL = 1e-9


@with_one_blas_thread
def solve(
    residual: Residual,
    axes: Sequence[Float[Array, " n"]],
    boundary: Sequence[tuple[Array, Array]],
    kernels: Sequence[Callable] | None = None,
    *,
    num_steps: int = 100,
    optimizer: optax.GradientTransformation | None = None,
    relative_jitter: float | None = None,
    newton_iterations: int = 20,
    newton_tol: float | None = None,
    chunk_size: int = 10,
    tol: float | None = None,
    prune_tol: float = 1e-3,
    trend_degree: int | str | None = "auto",
    progress: bool | None = None,
    jitter: float | None = None,
) -> PDESolution:
    r"""Solve a PDE on a tensor grid with GP-HM: a GP prior on the grid values, the PDE as data.

    The PDE is a residual $r(u, \partial u, \partial^2 u, x)$ that vanishes at the solution,
    with Dirichlet values $g$ on the boundary faces. $K_\theta = K_1 \otimes \dots \otimes K_D$
    is the grid's prior covariance (one kernel per dimension, never formed whole), and
    derivatives are GP conditional means ([`grid_derivatives`][jaxkern.pde.grid_derivatives]).
    GP-HM's negative log joint of the grid values $U$, the kernels $\theta$ and the precisions
    $\tau, v$ of the boundary and residual likelihoods is

    $$\tfrac12 \log|K_\theta| + \tfrac12 \mathrm{vec}(U)^\top K_\theta^{-1}\mathrm{vec}(U)
      + \tfrac\tau2 \|U_\partial - g\|^2 + \tfrac v2 \|r_\theta(U)\|^2
      - \tfrac{N_b}2 \log\tau - \tfrac N2 \log v .$$

    Where the PDE and boundary can be met exactly on the grid, the learned precisions grow
    without bound (as they do through the paper's $10^5$ Adam steps); this solver takes that
    limit exactly. The likelihoods become constraints, $U_\partial = g$ and $r_\theta(U) = 0$
    at the interior points, met by $U^\ast(\theta)$, and what remains to minimise is the GP
    evidence of the constrained solution,

    $$J(\theta) = \tfrac12 \log|K_\theta| + \tfrac12\, \mathrm{vec}(U^\ast(\theta))^\top
      K_\theta^{-1} \mathrm{vec}(U^\ast(\theta)).$$

    - $U^\ast(\theta)$ is found by Newton's method, each step by GMRES preconditioned with the
      inverse of the averaged-coefficient operator: a Kronecker sum that one eigendecomposition
      per axis inverts (exact for linear constant-coefficient PDEs such as Poisson and
      advection). Cost $O(N \sum_d n_d)$ per iteration.
    - $\nabla J$ differentiates through $U^\ast$ by the implicit function theorem
      (`lax.custom_root`): one transposed GMRES solve, not the Newton iterations.
    - $J$ is minimised over $\theta$ by `optimizer` (L-BFGS by default) through
      [`jaxkern.optim.minimize`][jaxkern.optim.minimize], each hyperparameter in the
      unconstrained space of the constraint its kernel declares: positive ones (weights,
      lengthscales) in log space, which for the mixture weights is the Jeffreys prior that
      prunes unused components, and frequencies on a linear scale. Steps are monotone: where
      the line search from the L-BFGS memory finds no lower $J$, the same step is tried from
      a fresh (steepest-descent) start; where that fails too, the fit ends at once
      (`message="no decrease"`), as it does after a step that lowers $J$ by at most
      `tol` relative to $\max(1, |J|)$ (`"tol reached"`). `stop_reason` says which, with
      the figures.
    - $J = +\infty$ where the derivatives of $U^\ast$ break Bernstein's inequality for the
      grid, $\|\partial_d^a U\| \le (\pi / h_d)^a \|U\|$: there the kernels are degenerate
      (derivative operators of unbounded gain, with which $U^\ast \to 0$ meets the PDE and
      $J \to -\infty$).
    - Then, with `prune_tol > 0`, [`prune`][jaxkern.pde.prune] drops the mixture components
      whose share of the posterior mean is below `prune_tol` and solves the collocation again
      with the rest, keeping the result only where $J$ stays finite, the posterior mean
      between the grid points moves by less than `prune_tol` (relative), and neither its
      miss of the boundary values nor its PDE residual between the grid points (below) grows
      much (else smaller shares are tried).
    - Before and after pruning, the PDE residual of the posterior mean is measured at the
      midpoints between the grid points (derivative kernels against $K^{-1}\mathrm{vec}(U)$),
      relative to the size of the PDE's terms there (the source $r(0, 0, 0, x)$ and each
      term's linearised contribution $\tfrac{\partial r}{\partial f} f$,
      $f \in \{u, \partial_d u, \partial_d^2 u\}$), and stored as `offgrid_residual`. The
      collocation meets the PDE at the grid points whatever the grid; a frequency above an
      axis's Nyquist frequency $\pi / h$ is met there by its alias, several times wrong in
      amplitude, and between the grid points it misses the PDE by about as much as the source
      (indicator near 1, against $10^{-9}$ to $10^{-4}$ on resolved fits). Above 0.1, `solve` warns
      ([`UnderResolvedWarning`][jaxkern.pde.UnderResolvedWarning]). The residual must compute
      its source from the coordinates `X` for this: one that closes over grid-shaped arrays
      cannot be evaluated between the grid points, and the indicator is NaN.
    - Throughout, the BLAS/LAPACK thread pools are limited to one thread (with `threadpoolctl`,
      where installed; restored on return): the per-axis `eig` of the preconditioner, on
      OpenBLAS threads beside XLA's, was most of a 200 x 200 solve's time on a loaded machine.

    **Arguments:**

    - `residual`: `residual(u, du, d2u, x) -> r`, all grid-shaped and pointwise: `u` the
      values, `du[d]` and `d2u[d]` the first and second derivatives along dimension `d`,
      `x[d]` the coordinates of dimension `d` on the grid (`meshgrid(..., indexing="ij")`).
    - `axes`: a tuple of 1 to 3 strictly increasing, uniformly spaced coordinate arrays.
    - `boundary`: per dimension a `(low, high)` pair: the values on the faces where that
      coordinate is first / last, each of the grid shape without that axis (in 1-D, two
      scalars). Where faces meet, the later dimension's values are kept.
    - `kernels`: one 1-D stationary kernel (eqx.Module) per dimension; defaults to
      [`mixture_kernels`][jaxkern.pde.mixture_kernels]`(axes)`.
    - `num_steps`: the most optimiser steps on the kernels (keyword-only, as are the rest);
      0 solves once with the given kernels.
    - `optimizer`: an optax transformation; defaults to `optax.lbfgs()`.
    - `relative_jitter`: $\epsilon$, the diagonal $\epsilon\, k_d(0) I$ added to each $K_d$
      (relative to the kernel's variance, unlike the absolute `jitter` of `gp` and `linalg`);
      defaults to $10^{-6}$ ($10^{-4}$ in float32).
    - `newton_iterations`, `newton_tol`: the most Newton steps per solve, and the relative
      size of step (and GMRES residual) that ends them; default $10^3$ times the dtype's
      epsilon. Newton also stops where its steps stop shrinking (round-off).
    - `chunk_size`: optimiser steps per compiled chunk. Each chunk starts Newton from the
      last chunk's grid values.
    - `tol`: the fit stops after a step that lowers $J$ by at most `tol` times
      $\max(1, |J|)$; default $10^{-9}$ (0 stops only where no step lowers $J$).
    - `prune_tol`: after the fit, mixture components whose share of the solution is below
      this are dropped (see [`prune`][jaxkern.pde.prune]); 0 keeps them all.
    - `trend_degree`: with a degree $m$, each axis's prior also holds the Legendre
      polynomials of degree $\le m$ on its interval, with a flat prior on their coefficients
      (universal kriging, the limit $\sigma \to \infty$ of $k_d + \sigma^2 p^\top p$; the
      evidence $J$ becomes the restricted likelihood of the rest). In 1-D the final grid
      values (after the fit, and in pruning) then meet the boundary values with their
      posterior mean, $(I - \epsilon k(0) Q) U$, rather than with $U$ itself: near-pure
      cosines (what pruning leaves) would otherwise leave the trend's coefficients to
      directions of $U$ that nothing pins. And the PDE is collocated at the two boundary
      points too, on the grid extended by one ghost node beyond each end (whose rows carry
      the boundary values; `PDESolution.ghost_nodes`, `support_axes`): with Dirichlet rows
      alone nothing holds the mean's second derivative in the end cells, and their residual
      was most of the error on sin(500x) − 2(x − 0.5)² (2.9e-6, now 5.2e-7). For this the
      residual is evaluated one grid step beyond each end (the values there are not used); one
      that cannot be (it closes over arrays of the grid's shape) keeps the Dirichlet rows
      alone. It takes 1-D problems with a smooth non-periodic
      trend from about $3 \cdot 10^{-4}$ to $10^{-9}$-$10^{-5}$, but single frequencies from
      $10^{-8}$ to about $10^{-5}$ (docs/pde.md, *Frequency against Nyquist*). `None`: the
      stationary kernels alone. `"auto"` (default): the stationary kernels first; in 1-D, where
      their posterior mean misses the boundary values by more than `AUTO_TREND_GAP`
      ($10^{-5}$) of the solution's size (`boundary_gap`; the sign of a part they cannot
      represent), the fit is done again with `trend_degree=3` and that one is returned
      (`stop_reason` says so), unless it fails by its own measures: its `boundary_gap` above
      the same threshold (it holds the boundary values on the mean), or its
      `offgrid_residual` more than ten times the stationary fit's (plus $10^{-6}$). Only in
      1-D and float64: 2-D and 3-D are not measured with a trend, and the trend's $K_d$ needs
      float64.
    - `progress`: a progress bar over the steps (`None`: only when watched and slow; see
      [`minimize`][jaxkern.optim.minimize]); `True` also reports the pruning.
    - `jitter`: deprecated name of `relative_jitter` (same meaning).

    **Returns:** a [`PDESolution`][jaxkern.pde.PDESolution] with the fit's record (`losses`,
    `num_steps`, `converged`, `message`, `stop_reason`), the under-resolution indicator
    `offgrid_residual` and the `boundary_gap`; evaluate it anywhere with
    [`predict`][jaxkern.pde.predict] or [`predict_grid`][jaxkern.pde.predict_grid].

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.pde import solve, predict_grid
        >>> x = jnp.linspace(0.0, 1.0, 40)
        >>> sol = solve(lambda u, du, d2u, X: d2u[0] + 100 * jnp.sin(10 * X[0]), (x,),
        ...             [(0.0, jnp.sin(10.0))], num_steps=20)
        >>> err = predict_grid(sol, (x,)) - jnp.sin(10 * x)
        >>> bool(jnp.max(jnp.abs(err)) < 1e-2)  # about 7e-3 in float32
        True

    Fang, Ye, Pan et al., *Solving High Frequency and Multi-Scale PDEs with Gaussian
    Processes*, ICLR 2024.
    """
    relative_jitter = relative_jitter_argument(relative_jitter, jitter, "solve")
    axes = check_axes(axes)
    shape = tuple(a.shape[0] for a in axes)
    dtype = axes[0].dtype
    if any(a.dtype != dtype for a in axes):
        raise ValueError(f"`axes` must share one dtype, got {[str(a.dtype) for a in axes]}.")
    if dtype == jnp.float32:
        # The collocation operators G K^{-1} reach condition numbers near 1e10 and the evidence
        # J is then rounding noise between steps: the paper's 1-D Poisson problem ends near 1e-1
        # in float32 against 2e-8 in float64 (tests/pde/test_solver.py).
        warn_float32("pde.solve", "its collocation operators have condition numbers near 1e10, "
                     "so expect about 1e-1 relative error on oscillatory problems")
    U = boundary_grid(boundary, shape, dtype)
    kernels = check_kernels(mixture_kernels(axes) if kernels is None else kernels, axes)
    check_int("num_steps", num_steps, 0)
    check_int("newton_iterations", newton_iterations, 1)
    check_int("chunk_size", chunk_size, 1)
    if tol is None:
        tol = TOL
    elif not (isinstance(tol, int | float) and 0 <= tol < 1):
        raise ValueError(f"`tol` must be a number in [0, 1), got {tol!r}.")
    if not 0 <= prune_tol < 1:
        raise ValueError(f"`prune_tol` must be in [0, 1), got {prune_tol!r}.")
    if relative_jitter is None:
        relative_jitter = default_relative_jitter(dtype)
    if newton_tol is None:
        newton_tol = 1e3 * float(jnp.finfo(dtype).eps)
    check_trend_degree(trend_degree, shape, allow_auto=True)
    check_residual(residual, U, tuple(jnp.meshgrid(*axes, indexing="ij")))
    settings = dict(
        residual=residual, axes=axes, U=U, kernels=kernels, num_steps=num_steps,
        optimizer=optimizer, relative_jitter=relative_jitter, newton_iterations=newton_iterations,
        newton_tol=newton_tol, chunk_size=chunk_size, tol=tol, prune_tol=prune_tol,
        progress=progress,
    )
    auto = trend_degree == "auto"
    solution = _solve(trend_degree=None if auto else trend_degree, **settings)
    if auto and _wants_trend(solution, shape, num_steps):
        # The stationary kernels miss the boundary values (a smooth non-periodic part they
        # represent poorly): fit again with a trend (docs/pde.md, *The automatic trend*).
        try:
            with_trend = _solve(trend_degree=AUTO_TREND_DEGREE, **settings)
        except FloatingPointError:  # the fit without a trend stands
            with_trend = None
        # ... unless the trend's fit failed by its own measures: its mean misses the boundary
        # values it was held to, or it misses the PDE between the grid points by far more (its
        # path through near-equal values of J follows round-off; one build's ended at a spurious
        # optimum, warned as under-resolved). An unmeasured (NaN) off-grid residual passes.
        if with_trend is not None and with_trend.boundary_gap <= AUTO_TREND_GAP and not (
            with_trend.offgrid_residual > 10 * solution.offgrid_residual + 1e-6
        ):
            solution = with_trend.replace(stop_reason=(
                f"{with_trend.stop_reason}; with trend_degree={AUTO_TREND_DEGREE}, as the fit "
                f"without a trend missed the boundary values by {solution.boundary_gap:.2g} "
                "(relative)"
            ))
    warn_under_resolved(solution.offgrid_residual, axes)
    return solution


#: `trend_degree="auto"` fits again with this degree where the stationary fit's posterior mean
#: misses the boundary values by more than `AUTO_TREND_GAP` of the solution's size (1-D).
AUTO_TREND_DEGREE = 3
AUTO_TREND_GAP = 1e-5


def _wants_trend(solution: PDESolution, shape, num_steps: int) -> bool:
    """`"auto"`: whether the fit without a trend calls for one (see `solve`)."""
    # float64 only: the trend's K has condition numbers near 1e8 (tests/pde/test_trend.py),
    # and a float32 fit misses the boundary values by more than the threshold anyway.
    return (
        len(shape) == 1 and num_steps > 0 and shape[0] >= AUTO_TREND_DEGREE + 3
        and solution.grid_values.dtype == jnp.float64 and solution.boundary_gap > AUTO_TREND_GAP
    )


def _solve(
    *, residual, axes, U, kernels, num_steps, optimizer, relative_jitter, newton_iterations,
    newton_tol, chunk_size, tol, prune_tol, progress, trend_degree,
) -> PDESolution:
    """`solve` for one prior (checked arguments): fit, prune, and measure the result."""
    prob = make_problem(residual, axes, relative_jitter, trend_degree)

    raw, frozen = unconstrain(kernels)  # log weights and lengthscales, frequencies as they are

    def objective(raw, U, prob):
        return evidence(constrain(raw, frozen), U, prob, newton_iterations, newton_tol)[0]

    def grid_values(raw, U):
        """The collocation solution for the kernels `raw`, Newton started from `U`."""
        return collocation(constrain(raw, frozen), U, prob, newton_iterations, newton_tol)[1]

    # The grid values are a traced argument of the compiled chunks, refreshed after each
    # chunk: the next chunk's Newton starting point and, after the last, the solution.
    values = [grid_values(raw, U)]

    def update_args(raw, args):
        values[:] = [grid_values(raw, args[0])]
        return values[-1], prob

    fit = _fit(
        objective, raw, optax.lbfgs() if optimizer is None else optimizer, num_steps, tol,
        chunk_size, progress, update_args, (values[0], prob),
    )
    fitted = constrain(fit.params, frozen)
    on_mean = make_problem(
        residual, axes, relative_jitter, trend_degree, boundary=U,
        ghost_nodes=ghost_nodes_for(residual, axes, U.dtype),
    )
    if on_mean.boundary is not None:
        # With a trend (1-D), the fitted kernels' grid values again, the boundary values now
        # imposed on the posterior mean and the PDE collocated at the boundary points too, on
        # the grid extended by a ghost node at each end (see `collocate`). Not during the fit:
        # there U may be a pure trend (QU = 0, the solution a polynomial), and J falls without
        # bound as the kernels' scale shrinks. Without the boundary points' PDE rows nothing
        # holds the mean's second derivative in the end cells, whose residual was most of the
        # error on sin(500x) - 2(x - 0.5)^2 (docs/pde.md, *The PDE at the boundary points*).
        start = posterior_mean(fitted, axes, values[-1], on_mean.axes, relative_jitter,
                               trend_degree)
        values.append(collocation(fitted, start, on_mean, newton_iterations, newton_tol)[1])
    solution = PDESolution(
        axes, values[-1], fitted, fit.losses, relative_jitter, fit.num_steps,
        fit.message != "num_steps reached", fit.message, residual, stop_reason=fit.stop_reason,
        trend_degree=trend_degree, ghost_nodes=on_mean.ghost_nodes,
        # measured before pruning, which may not make it much worse (and measures it again)
        offgrid_residual=offgrid_residual(
            fitted, on_mean.axes, values[-1], relative_jitter, residual, trend_degree, axes
        ),
    )
    if num_steps > 0 and prune_tol > 0:
        solution = prune(
            solution, tol=prune_tol, newton_iterations=newton_iterations, newton_tol=newton_tol,
            progress=progress,
        )
    if not bool(jnp.all(jnp.isfinite(solution.grid_values))):
        raise FloatingPointError(
            "pde.solve: the grid values are not finite; the kernels became singular or the "
            "Newton iterations diverged. Try a larger `relative_jitter`, fewer `num_steps`, or "
            "other initial kernels."
        )
    return solution.replace(boundary_gap=boundary_gap(solution.values, U))



class _RetryState(NamedTuple):
    inner: Any  # the wrapped optimiser's state (L-BFGS memory and line search)
    stuck: jax.Array  # set once neither the memory's step nor a fresh one lowered J


def _retry_fresh(
    inner: optax.GradientTransformationExtraArgs,
) -> optax.GradientTransformationExtraArgs:
    r"""`inner` (L-BFGS with a line search), whose failed steps are retried from empty memory.

    A step is kept where the line search lowered the value (finite, not above it). Where the
    step from the L-BFGS memory does not, the same step is tried once more from a fresh state
    (steepest descent), inside the same compiled step. Where that fails too, the update is
    zero and the state is stuck: its later updates are zero without evaluating anything, and
    it holds the value and gradient of the point, so the next step's value equals this one's
    and [`minimize`][jaxkern.optim.minimize]'s `tol` ends the chunk after one cheap step.
    Without this, each later step of the chunk repeated the same failed line search (up to
    20 evaluations of $J$, a Newton solve and its adjoint each) until a whole chunk had none
    accepted: the last chunk of a 200 x 200 solve took 455 s of its 864 s.
    """

    def init(params):
        return _RetryState(inner.init(params), jnp.asarray(False))

    def update(updates, state, params=None, *, value, grad, value_fn, **extra):
        def fresh():
            s = inner.init(params)
            s = optax.tree_utils.tree_set(s, value=value, grad=grad)
            return s

        def attempt(carry):
            i, _, _, _ = carry
            start = jax.tree.map(lambda a, b: jnp.where(i == 0, a, b), state.inner, fresh())
            u, s = inner.update(
                updates, start, params, value=value, grad=grad, value_fn=value_fn, **extra
            )
            new_value = optax.tree_utils.tree_get(s, "value")
            finite = [jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(u)]
            ok = jnp.isfinite(new_value) & (new_value <= value) & jnp.all(jnp.stack(finite))
            return i + 1, u, s, ok

        def go(state):
            zeros = jax.tree.map(jnp.zeros_like, updates)
            carry = (jnp.asarray(0), zeros, fresh(), jnp.asarray(False))
            _, u, s, ok = jax.lax.while_loop(
                lambda c: (c[0] < 2) & ~c[3], attempt, carry
            )
            u = jax.tree.map(lambda a: jnp.where(ok, a, jnp.zeros_like(a)), u)
            s = jax.tree.map(lambda a, b: jnp.where(ok, a, b), s, fresh())
            return u, _RetryState(s, ~ok)

        def skip(state):
            return jax.tree.map(jnp.zeros_like, updates), state

        return jax.lax.cond(state.stuck, skip, go, state)

    return optax.GradientTransformationExtraArgs(init, update)


class _Fit(NamedTuple):
    params: Any
    losses: np.ndarray
    num_steps: int
    message: str
    stop_reason: str


def _fit(objective, raw, optimizer, num_steps, tol, chunk_size, progress, update_args, args):
    """Minimise `objective` from `raw`; the record says why it stopped (see `solve`)."""
    if num_steps == 0:
        return _Fit(raw, np.zeros((0,)), 0, "num_steps reached",
                    "num_steps = 0: the kernels were not fitted")
    result = minimize(
        objective, raw, optimizer=_retry_fresh(optax.with_extra_args_support(optimizer)),
        num_steps=num_steps, args=args, update_args=update_args, accept="decrease", tol=tol,
        chunk_size=chunk_size, progress=progress, description="pde.solve",
    )
    losses, taken = result.losses, result.num_steps
    if result.message == "tol reached" and taken >= 2 and losses[-1] == losses[-2]:
        message = "no decrease"
        reason = (
            f"no decrease: after {taken - 2} steps, neither the L-BFGS step nor a fresh "
            f"steepest-descent step found a lower J (line search failed at J = {losses[-1]:.8g})"
        )
    elif result.message == "tol reached":
        message = "tol reached"
        change = abs(losses[-2] - losses[-1]) / max(1.0, abs(float(losses[-1])))
        reason = (
            f"no progress: after {taken - 1} steps, the last step lowered J by {change:.2g} "
            f"relative, within tol = {tol:g}"
        )
    elif result.message == "no step accepted":
        message = result.message
        reason = f"no step accepted: every step of the last chunk was refused ({taken} steps)"
    else:
        message = result.message
        reason = f"num_steps reached: {taken} steps, J still decreasing"
    return _Fit(result.params, losses, taken, message, reason)
