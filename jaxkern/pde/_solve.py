r"""GP-HM's fit: the kernels by L-BFGS on the collocation solution's evidence, then pruning.

The maths of one evaluation of the objective is in `_collocation.py`; this file runs the
optimiser on it with [`jaxkern.optim.minimize`][jaxkern.optim.minimize], the kernels'
hyperparameters mapped to unconstrained space by the constraints they declare.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax.numpy as jnp
import optax
from jaxtyping import Array, Float

from .._validation import check_int, warn_float32
from ..optim import constrain, minimize, unconstrain
from ._collocation import collocation, evidence
from ._mixture import mixture_kernels
from ._problem import (
    Residual,
    boundary_grid,
    check_axes,
    check_kernels,
    check_residual,
    default_relative_jitter,
    make_problem,
    relative_jitter_argument,
)
from ._prune import prune
from ._solution import PDESolution


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
    prune_tol: float = 1e-3,
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
      prunes unused components, and frequencies on a linear scale. A step that does not lower
      $J$ (a failed line search) is refused and the optimiser's memory cleared
      (`accept="decrease"`); the fit ends after a chunk of steps with none accepted.
    - $J = +\infty$ where the derivatives of $U^\ast$ break Bernstein's inequality for the
      grid, $\|\partial_d^a U\| \le (\pi / h_d)^a \|U\|$: there the kernels are degenerate
      (derivative operators of unbounded gain, with which $U^\ast \to 0$ meets the PDE and
      $J \to -\infty$).
    - Then, with `prune_tol > 0`, [`prune`][jaxkern.pde.prune] drops the mixture components
      whose share of the posterior mean is below `prune_tol` and solves the collocation again
      with the rest, keeping the result only where $J$ stays finite and the posterior mean
      between the grid points moves by less than `prune_tol` (relative).

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
    - `prune_tol`: after the fit, mixture components whose share of the solution is below
      this are dropped (see [`prune`][jaxkern.pde.prune]); 0 keeps them all.
    - `progress`: a progress bar over the steps (`None`: only when watched and slow; see
      [`minimize`][jaxkern.optim.minimize]); `True` also reports the pruning.
    - `jitter`: deprecated name of `relative_jitter` (same meaning).

    **Returns:** a [`PDESolution`][jaxkern.pde.PDESolution] with the fit's record (`losses`,
    `num_steps`, `converged`, `message`); evaluate it anywhere with
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
    if not 0 <= prune_tol < 1:
        raise ValueError(f"`prune_tol` must be in [0, 1), got {prune_tol!r}.")
    if relative_jitter is None:
        relative_jitter = default_relative_jitter(dtype)
    if newton_tol is None:
        newton_tol = 1e3 * float(jnp.finfo(dtype).eps)
    prob = make_problem(residual, axes, relative_jitter)
    check_residual(residual, U, prob.mesh)

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

    result = minimize(
        objective, raw, optimizer=optax.lbfgs() if optimizer is None else optimizer,
        num_steps=num_steps, args=(values[0], prob), update_args=update_args,
        accept="decrease", chunk_size=chunk_size, progress=progress, description="pde.solve",
    )
    solution = PDESolution(
        axes, values[-1], constrain(result.params, frozen), result.losses, relative_jitter,
        result.num_steps, result.converged, result.message, residual,
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
    return solution

