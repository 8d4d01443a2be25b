"""What `solve` returns: the grid values, the kernels, and the fit's record."""

from __future__ import annotations

import math

import equinox as eqx
import jax
import numpy as np
from jaxtyping import Array

from .._validation import warn_deprecated
from ._problem import (
    Residual,
    default_relative_jitter,
    extended_axes,
    relative_jitter_argument,
)


class PDESolution(eqx.Module):
    """A fitted GP-HM solution: grid values, per-dimension kernels and the fit's record.

    An eqx.Module, so it can be passed into jitted functions (the record and the residual are
    static fields). Evaluate it anywhere with [`predict`][jaxkern.pde.predict] or
    [`predict_grid`][jaxkern.pde.predict_grid]; drop faint mixture components with
    [`prune`][jaxkern.pde.prune].
    """

    axes: tuple
    """The grid's coordinates, one array per dimension."""
    grid_values: Array
    """The collocation unknowns $U$ on the grid `support_axes`, shape $(n_1 + 2 g, \\dots,
    n_D + 2 g)$ with $g$ = `ghost_nodes`: the state the fit solved for, on which
    [`predict`][jaxkern.pde.predict], `predict_grid` and `prune` condition. For the solution
    itself use `values`."""
    kernels: tuple
    """The fitted kernels, one per dimension."""
    losses: np.ndarray
    """The objective $J(\\theta)$ of [`solve`][jaxkern.pde.solve] before each step taken
    (NumPy)."""
    relative_jitter: float = eqx.field(static=True)
    """The diagonal added to each $K_d$, relative to $k_d(0)$."""
    num_steps: int = eqx.field(static=True)
    """Optimiser steps taken."""
    converged: bool = eqx.field(static=True)
    """Whether the fit stopped early (see `message`)."""
    message: str = eqx.field(static=True)
    """Why the fit stopped, in short: ``"num_steps reached"``, ``"tol reached"`` (a step
    lowered $J$ by less than `tol`), ``"no decrease"`` (neither the L-BFGS step nor a fresh
    steepest-descent step found a lower $J$) or ``"no step accepted"``."""
    residual: Residual | None = eqx.field(static=True)
    """The PDE's residual, which [`prune`][jaxkern.pde.prune] solves again; `None` if not
    given."""
    stop_reason: str = eqx.field(static=True)
    """Why the fit stopped, in a sentence with the figures (steps, the last change of $J$)."""
    offgrid_residual: float = eqx.field(static=True)
    r"""The under-resolution indicator: the RMS PDE residual of the posterior mean at the
    midpoints between the grid points, relative to the size of the PDE's terms there (see
    [`solve`][jaxkern.pde.solve]). Near 1 for a frequency above the grid's Nyquist frequency
    (solved as its alias); $10^{-7}$ to $10^{-4}$ for resolved fits. NaN where not measured
    (the residual closes over grid-shaped arrays, or the solution did not come from `solve`)."""

    boundary_gap: float = eqx.field(static=True)
    r"""How far the posterior mean (`values`) misses the boundary values, relative:
    $\max_\partial |\hat u - g| / \max |\hat u|$ over the boundary points. Measured by
    [`solve`][jaxkern.pde.solve], which fits again with a trend where it is large
    (`trend_degree="auto"`); NaN where not measured (after [`prune`][jaxkern.pde.prune] alone,
    or a solution that did not come from `solve`)."""

    trend_degree: int | None = eqx.field(static=True)
    """Degree of each axis's Legendre trend (flat prior on its coefficients), `None` for none:
    part of the prior that [`predict`][jaxkern.pde.predict] and `predict_grid` condition on."""

    ghost_nodes: int = eqx.field(static=True)
    """How many grid steps `grid_values` extend beyond each end of every axis: 1 where
    [`solve`][jaxkern.pde.solve] collocated the PDE at the boundary points too (with a trend,
    in 1-D; see `solve`), else 0."""

    def __init__(
        self,
        axes: tuple,
        grid_values: Array,
        kernels: tuple,
        losses=(),
        relative_jitter: float | None = None,
        num_steps: int | None = None,
        converged: bool = False,
        message: str = "",
        residual: Residual | None = None,
        *,
        stop_reason: str = "",
        offgrid_residual: float = math.nan,
        boundary_gap: float = math.nan,
        trend_degree: int | None = None,
        ghost_nodes: int = 0,
        jitter: float | None = None,
    ):
        relative_jitter = relative_jitter_argument(relative_jitter, jitter, "PDESolution")
        self.axes = tuple(axes)
        self.grid_values = grid_values
        self.kernels = tuple(kernels)
        self.losses = losses if isinstance(losses, jax.core.Tracer) else np.asarray(losses)
        self.relative_jitter = (
            default_relative_jitter(grid_values.dtype) if relative_jitter is None
            else float(relative_jitter)
        )
        self.num_steps = int(self.losses.shape[0]) if num_steps is None else int(num_steps)
        self.converged = bool(converged)
        self.message = str(message)
        self.residual = residual
        self.stop_reason = str(stop_reason)
        self.offgrid_residual = float(offgrid_residual)
        self.boundary_gap = float(boundary_gap)
        self.trend_degree = None if trend_degree is None else int(trend_degree)
        with_ghosts = len(self.axes) == 1 and trend_degree is not None
        if ghost_nodes not in ((0, 1) if with_ghosts else (0,)):
            raise ValueError(
                f"`ghost_nodes` must be 0, or 1 for a 1-D solution with a trend (the PDE "
                f"collocated at the boundary points), got {ghost_nodes!r}."
            )
        self.ghost_nodes = int(ghost_nodes)
        shape = tuple(x.shape[0] + 2 * self.ghost_nodes for x in self.axes)
        if grid_values.shape != shape:
            raise ValueError(
                f"`grid_values` must have the shape {shape} of `axes` extended by `ghost_nodes` "
                f"= {self.ghost_nodes} at each end, got {grid_values.shape}."
            )

    def replace(self, **changes) -> PDESolution:
        """A copy with the named fields (`__init__`'s arguments) changed."""
        fields = dict(
            axes=self.axes, grid_values=self.grid_values, kernels=self.kernels,
            losses=self.losses, relative_jitter=self.relative_jitter, num_steps=self.num_steps,
            converged=self.converged, message=self.message, residual=self.residual,
            stop_reason=self.stop_reason, offgrid_residual=self.offgrid_residual,
            boundary_gap=self.boundary_gap, trend_degree=self.trend_degree,
            ghost_nodes=self.ghost_nodes,
        )
        fields.update(changes)
        return PDESolution(**fields)

    @property
    def support_axes(self) -> tuple:
        """The grid of `grid_values`: `axes`, each continued by `ghost_nodes` steps beyond each
        end."""
        return extended_axes(self.axes, self.ghost_nodes)

    @property
    def values(self) -> Array:
        r"""The solution at the grid points: the posterior mean
        $\big(\bigotimes_d K_d\big)\big(\bigotimes_d K_d + \epsilon\big)^{-1} \mathrm{vec}(U)$,
        which `predict_grid(solution, solution.axes)` also gives.

        Not $U$ itself (`grid_values`): the jitter $\epsilon$ leaves $U$ free along the
        directions the kernels barely represent, where the collocation system does not pin it
        down, and the posterior mean filters them out. On 1-D Poisson problems (sin of
        frequency 7 to 100, 40 to 80 points, float64) $U$ was 3e-4 to 0.4 from the truth after
        pruning, the posterior mean 7e-9 to 6e-6.
        """
        from ._predict import posterior_mean  # the predictor imports this module

        return posterior_mean(self.kernels, self.support_axes, self.grid_values, self.axes,
                              self.relative_jitter, self.trend_degree)

    @property
    def jitter(self) -> float:
        """Deprecated name of `relative_jitter` (same meaning: relative to $k_d(0)$)."""
        warn_deprecated("`PDESolution.jitter`", "`relative_jitter` (same meaning)")
        return self.relative_jitter
