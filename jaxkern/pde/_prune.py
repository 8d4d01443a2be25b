r"""Pruning: drop the mixture components that carry almost nothing of a solution."""

from __future__ import annotations

import math
import sys

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from .._validation import check_int
from ._collocation import collocation
from ._mixture import is_mixture
from ._operators import along, prior_inverse, stationary_gram
from ._predict import posterior_mean
from ._problem import Residual, ghost_nodes_for, make_problem
from ._resolution import boundary_gap, offgrid_residual
from ._solution import PDESolution
from ._threads import with_one_blas_thread


@eqx.filter_jit
def component_shares(
    kernel, x: Array, U: Array, axis: int, relative_jitter: float, trend_degree: int | None = None
) -> Array:
    r"""Each mixture component's share of the posterior mean on the grid, along one axis.

    With $K_d = \sum_q K_{d,q}$ the posterior mean splits into the parts
    $K_{d,q} \times_d (K_d^{-1} \times_d U)$, one per component of axis $d$ (the other axes'
    factors cancel against their inverses, up to the jitter). Returns each part's norm relative
    to $\|U\|$.
    """
    alpha = along(prior_inverse(kernel, x, relative_jitter, trend_degree).inv, U, axis)

    def share(q):
        part = along(stationary_gram(kernel.select(q[None]), x, (0, 0)), alpha, axis)
        return jnp.linalg.norm(part)

    return jax.lax.map(share, jnp.arange(kernel.num_components)) / jnp.linalg.norm(U)


@with_one_blas_thread
def prune(
    solution: PDESolution,
    *,
    tol: float = 1e-3,
    residual: Residual | None = None,
    newton_iterations: int = 20,
    newton_tol: float | None = None,
    progress: bool = False,
) -> PDESolution:
    r"""Drop the mixture components that carry less than `tol` of the solution, where that is safe.

    Along each axis $d$ whose kernel is a mixture (it declares `num_components` and
    `select`), the posterior mean splits into one part per component,
    $K_{d,q} \times_d (K_d^{-1} \times_d U)$. Components whose part is below `tol` of $\|U\|$
    are dropped (the largest is always kept) and the collocation is solved again with the
    rest. The pruned solution is returned only where the objective $J$ of
    [`solve`][jaxkern.pde.solve] stays finite, the posterior mean between the grid points
    moves by less than `tol` (relative), and the mean at the grid points misses the boundary
    values (`boundary_gap`) by at most ten times what the unpruned mean does, or by
    $10^{-3}$ `tol`, and (where `solution.offgrid_residual` is measured) its PDE residual
    between the grid points is at most ten times the unpruned one's plus $10^{-8}$. Where
    that fails, the components below `tol` / 10 are tried, then `tol` / 100; where all fail,
    `solution` comes back unchanged.

    Minimising $J$ leaves faint components (shares near $10^{-4}$) that absorb the part of the
    solution the collocation leaves ill-determined, and they show as smooth error; dropping
    them is the sparsity the paper's Jeffreys prior on the weights aims at.
    [`solve`][jaxkern.pde.solve] calls this after its fit when `prune_tol > 0`.

    **Arguments:**

    - `solution`: from [`solve`][jaxkern.pde.solve] (e.g. with `prune_tol=0`).
    - `tol`: the share below which a component is dropped (first try), and the most the
      solution may move (keyword-only, as are the rest).
    - `residual`: the PDE's residual; defaults to the one `solution` was solved for.
    - `newton_iterations`, `newton_tol`: as in [`solve`][jaxkern.pde.solve].
    - `progress`: print what pruning did to stderr.

    **Returns:** a [`PDESolution`][jaxkern.pde.PDESolution] with the pruned kernels and the
    new grid values, and the same fit record (`losses`, `num_steps`, `stop_reason`, ...);
    its `offgrid_residual` is measured again where `solution`'s was measured (NaN otherwise).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.kernels import StudentTMixture
        >>> from jaxkern.pde import prune, solve
        >>> x = jnp.linspace(0.0, 1.0, 40)
        >>> residual = lambda u, du, d2u, X: d2u[0] + 100 * jnp.sin(10 * X[0])
        >>> k = StudentTMixture(jnp.array([1.0, 1e-6]), jnp.array([[1.6], [8.0]]),
        ...                     jnp.array([[1.0], [1.0]]))  # a faint second component
        >>> full = solve(residual, (x,), [(0.0, jnp.sin(10.0))], [k], num_steps=0)
        >>> pruned = prune(full, tol=1e-2)
        >>> pruned.kernels[0].num_components, round(float(pruned.kernels[0].means[0, 0]), 3)
        (1, 1.6)

    Fang et al., ICLR 2024, §4 (the Jeffreys prior on the mixture weights).
    """
    if not isinstance(solution, PDESolution):
        raise ValueError(f"`solution` must be a PDESolution, got {type(solution).__name__}.")
    if not 0 <= tol < 1:
        raise ValueError(f"`tol` must be in [0, 1), got {tol!r}.")
    check_int("newton_iterations", newton_iterations, 1)
    if tol == 0:
        return solution
    residual = solution.residual if residual is None else residual
    if residual is None:
        raise ValueError(
            "`residual` is needed: this `solution` does not carry the residual it solves."
        )
    if solution.ghost_nodes > ghost_nodes_for(residual, solution.axes, solution.grid_values.dtype):
        raise ValueError(
            "`residual` must run on the grid extended by a ghost node at each end (this "
            "solution collocates the PDE at the boundary points, `ghost_nodes` = 1): compute "
            "its terms from the coordinates `X`, not from arrays of the grid's shape."
        )
    if newton_tol is None:
        newton_tol = 1e3 * float(jnp.finfo(solution.grid_values.dtype).eps)
    # Shares below `tol` first; where that pruning is refused, the smaller shares only (a
    # refused pruning dropped a component the solution needs, e.g. one that holds its
    # boundary values; docs/pde.md, *How `solve` minimises it*, item 5).
    refused = None
    for threshold in (tol, tol / 10, tol / 100):
        kept = _kept_components(solution, threshold)
        if all(k is None or len(k) == n for k, n in zip(kept, _sizes(solution))):
            return solution  # nothing below the threshold
        if kept == refused:
            continue
        pruned = _pruned(solution, kept, tol, residual, newton_iterations, newton_tol, progress)
        if pruned is not None:
            return pruned
        refused = kept
    return solution


def _sizes(solution) -> list:
    """Each axis's number of mixture components (`None` for a kernel that is no mixture)."""
    return [k.num_components if is_mixture(k) else None for k in solution.kernels]


def _kept_components(solution, threshold) -> tuple:
    """Per axis, the indices of the mixture components whose share is at least `threshold`
    (the largest always), or `None` for a kernel that is no mixture."""
    kept = []
    for d, (k, x) in enumerate(zip(solution.kernels, solution.support_axes)):
        if not is_mixture(k):
            kept.append(None)
            continue
        shares = np.asarray(component_shares(
            k, x, solution.grid_values, d, solution.relative_jitter, solution.trend_degree
        ))
        keep = shares >= threshold
        keep[np.argmax(shares)] = True
        kept.append(tuple(np.flatnonzero(keep).tolist()))
    return tuple(kept)


def _pruned(solution, kept, tol, residual, newton_iterations, newton_tol, progress):
    """`solution` with only the components `kept`, if that passes `prune`'s tests at `tol`;
    `None` where refused."""
    U = solution.grid_values
    jitter = solution.relative_jitter
    pruned = tuple(
        k if keep is None else k.select(jnp.asarray(keep))
        for k, keep in zip(solution.kernels, kept)
    )
    sizes = [n for n in _sizes(solution) if n is not None]
    new_sizes = [len(keep) for keep in kept if keep is not None]
    trend, axes, support = solution.trend_degree, solution.axes, solution.support_axes
    # With a trend in 1-D the boundary values are imposed on the posterior mean, which the
    # solution meets there: its mean at the grid points carries them.
    mean = posterior_mean(solution.kernels, support, U, axes, jitter, trend)
    prob = make_problem(residual, axes, jitter, trend, boundary=mean,
                        ghost_nodes=solution.ghost_nodes)
    J, new_U = collocation(pruned, U, prob, newton_iterations, newton_tol)
    midpoints = tuple((x[1:] + x[:-1]) / 2 for x in axes)
    before = posterior_mean(solution.kernels, support, U, midpoints, jitter, trend)
    after = posterior_mean(pruned, support, new_U, midpoints, jitter, trend)
    change = float(jnp.linalg.norm(after - before) / jnp.linalg.norm(before))
    # The boundary values are data: the pruned mean may miss them by ten times what the
    # unpruned mean does, or by 1e-3 tol, no more. (With a trend its collocation holds them
    # on the mean, and misses them only where its solve failed.)
    target = U if prob.boundary is None else prob.boundary
    new_mean = posterior_mean(pruned, support, new_U, axes, jitter, trend)
    gap, new_gap = boundary_gap(mean, target), boundary_gap(new_mean, target)
    accepted = (
        bool(jnp.isfinite(J)) and change <= tol and new_gap <= max(10 * gap, 1e-3 * tol)
    )
    indicator = math.nan
    if accepted and math.isfinite(solution.offgrid_residual):  # measured (by `solve`)
        indicator = offgrid_residual(pruned, support, new_U, jitter, residual, trend, axes)
        # Nor may the PDE residual between the grid points grow tenfold (plus 1e-8): a trend
        # fit of sin 100x + 0.1x^2 (9.4e-7) pruned to one component moved by 6.2e-5 and ended
        # 6.1e-5 from the truth, its indicator 2.8e-9 -> 3.3e-7.
        accepted = indicator <= 10 * solution.offgrid_residual + 1e-8
    if progress:
        print(
            f"pde.prune: mixture components {sizes} -> {new_sizes} move the solution by "
            f"{change:.2e}, its boundary gap from {gap:.1e} to {new_gap:.1e}, its off-grid "
            f"residual from {solution.offgrid_residual:.1e} to {indicator:.1e}: "
            f"{'kept' if accepted else 'undone'}",
            file=sys.stderr,
        )
    if not accepted:
        return None
    return solution.replace(grid_values=new_U, kernels=pruned, residual=residual,
                            boundary_gap=math.nan, offgrid_residual=indicator)
