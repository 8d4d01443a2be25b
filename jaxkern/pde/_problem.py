r"""The problem a grid solve is given: checked axes, the boundary grid, the residual, the jitter.

Everything here runs before tracing and raises `ValueError` naming the argument; the maths
lives in `_operators.py` (one axis's matrices), `_precondition.py`, `_collocation.py` (the
grid values for given kernels) and `_solve.py` (the fit of the kernels).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from .._validation import check_ndim, check_positive, warn_deprecated

Residual = Callable[[Array, tuple, tuple, tuple], Array]
"""`residual(u, du, d2u, X) -> r`: the PDE, pointwise on the grid (see `solve`)."""


class Problem(NamedTuple):
    """A PDE on a tensor grid, as the collocation sees it."""

    residual: Residual
    axes: tuple  # one uniformly spaced coordinate array per dimension
    mesh: tuple  # the coordinates on the grid, meshgrid(*axes, indexing="ij")
    relative_jitter: float  # added to each K_d's diagonal, relative to k_d(0)
    trend_degree: int | None  # degree of each axis's Legendre trend (None: no trend)
    # With a trend in 1-D, the boundary values g (domain-grid-shaped, faces filled) that the
    # posterior mean must meet; None: the boundary values are held on the grid values U themselves.
    boundary: Array | None = None
    # With `boundary`: 1 where `axes` and `mesh` extend one node beyond each end of the domain,
    # so that the PDE is collocated at the boundary points too (see `collocate`); else 0.
    ghost_nodes: int = 0


def default_relative_jitter(dtype) -> float:
    r"""$10^{-6}$ as in the authors' code, $10^{-4}$ where float32 needs it."""
    return 1e-6 if jnp.finfo(dtype).bits > 32 else 1e-4


def relative_jitter_argument(
    relative_jitter: float | None, jitter: float | None, where: str
) -> float | None:
    """`relative_jitter`, or the deprecated `jitter=` keyword of the same meaning."""
    if jitter is not None:
        warn_deprecated(
            f"`{where}(jitter=...)`", "`relative_jitter=` (same meaning)",
            why="The PDE solver's jitter is relative to k(0), while `jitter` elsewhere in "
                "jaxkern is absolute.",
        )
        if relative_jitter is not None:
            raise ValueError("Pass `relative_jitter` only (`jitter` is its deprecated name).")
        relative_jitter = jitter
    if relative_jitter is not None:
        check_positive("relative_jitter", relative_jitter, allow_zero=True)
    return relative_jitter


def check_axes(axes) -> tuple:
    """1 to 3 strictly increasing, uniformly spaced 1-D coordinate arrays, as jax arrays."""
    if not isinstance(axes, (tuple, list)) or not 1 <= len(axes) <= 3:
        raise ValueError(f"`axes` must be a tuple of 1 to 3 one-dimensional arrays, got {axes!r}.")
    out = []
    for d, a in enumerate(axes):
        check_ndim(f"axes[{d}]", a, 1, "(n_d,)")
        if a.shape[0] < 3:
            raise ValueError(f"`axes[{d}]` needs at least 3 grid points, got shape {a.shape}.")
        steps = np.diff(np.asarray(a, np.float64))
        if not np.all(steps > 0):
            raise ValueError(f"`axes[{d}]` must be strictly increasing.")
        if np.max(np.abs(steps - steps.mean())) > 1e-4 * steps.mean():
            raise ValueError(
                f"`axes[{d}]` must be uniformly spaced (each kernel matrix is built as a Toeplitz "
                f"matrix from the grid's lags); steps range over "
                f"[{steps.min():.3g}, {steps.max():.3g}]."
            )
        out.append(jnp.asarray(a))
    return tuple(out)


def check_kernels(kernels, axes) -> tuple:
    """One kernel per axis."""
    kernels = tuple(kernels)
    if len(kernels) != len(axes):
        raise ValueError(
            f"`kernels` must hold one kernel per axis ({len(axes)}), got {len(kernels)}."
        )
    return kernels


def boundary_grid(boundary, shape, dtype) -> Array:
    """The grid with the boundary faces filled in (zeros inside), checking each face's shape."""
    if not isinstance(boundary, (tuple, list)) or len(boundary) != len(shape):
        raise ValueError(
            f"`boundary` must hold one (low, high) pair of face values per grid dimension "
            f"({len(shape)}), got {type(boundary).__name__} of length "
            f"{len(boundary) if isinstance(boundary, (tuple, list)) else '?'}."
        )
    U = jnp.zeros(shape, dtype)
    for d, pair in enumerate(boundary):
        face = shape[:d] + shape[d + 1 :]
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise ValueError(f"`boundary[{d}]` must be a (low, high) pair of face values.")
        for side, index, g in zip(("low", "high"), (0, -1), pair):
            g = jnp.asarray(g, dtype)
            if g.shape != face:
                raise ValueError(
                    f"`boundary[{d}]` {side} face must have shape {face} (the grid without axis "
                    f"{d}), got {g.shape}."
                )
            U = U.at[(slice(None),) * d + (index,)].set(g)
    return U


def check_residual(residual, U, mesh) -> None:
    """`residual` runs on grid-shaped inputs and returns the grid shape."""
    n = len(mesh)
    try:
        out = jax.eval_shape(residual, U, (U,) * n, (U,) * n, mesh)
    except Exception as err:  # noqa: BLE001 - re-raised with the argument's name
        raise ValueError(
            f"`residual` failed on grid-shaped inputs of shape {U.shape}: {err}"
        ) from err
    if getattr(out, "shape", None) != U.shape:
        raise ValueError(
            f"`residual` must return an array of the grid shape {U.shape}, got "
            f"{getattr(out, 'shape', type(out))}."
        )


def check_trend_degree(trend_degree, shape, allow_auto: bool = False) -> None:
    """`None`, a degree that leaves each axis more grid points than trend functions, or (where
    `allow_auto`) `"auto"`."""
    if trend_degree is None or (allow_auto and trend_degree == "auto"):
        return
    if isinstance(trend_degree, bool) or not isinstance(trend_degree, int) or trend_degree < 0:
        allowed = "None, \"auto\"" if allow_auto else "None"
        raise ValueError(
            f"`trend_degree` must be {allowed} or a non-negative int, got {trend_degree!r}."
        )
    if trend_degree + 3 > min(shape):
        raise ValueError(
            f"`trend_degree` {trend_degree} needs at least {trend_degree + 3} points on each "
            f"axis (the trend's {trend_degree + 1} polynomials and two boundary points), got "
            f"the grid {shape}."
        )


def extended_axes(axes, ghost_nodes: int) -> tuple:
    """Each uniform axis continued by `ghost_nodes` grid steps beyond each end."""
    if ghost_nodes == 0:
        return tuple(axes)
    out = []
    for x in axes:
        steps = (x[1] - x[0]) * jnp.arange(1, ghost_nodes + 1, dtype=x.dtype)
        out.append(jnp.concatenate([x[0] - steps[::-1], x, x[-1] + steps]))
    return tuple(out)


def runs_on_shape(residual, shape: tuple, dtype) -> bool:
    """Whether `residual` runs on inputs of `shape`, other than the grid's (it does not where it
    closes over arrays of the grid's shape instead of computing its terms from the coordinates).
    """
    probe = jax.ShapeDtypeStruct(shape, dtype)
    n = len(shape)
    try:
        out = jax.eval_shape(residual, probe, (probe,) * n, (probe,) * n, (probe,) * n)
    except (TypeError, ValueError):  # grid-shaped arrays do not broadcast
        return False
    return getattr(out, "shape", None) == shape


def ghost_nodes_for(residual, axes, dtype) -> int:
    """1 where `residual` runs on the grid of `axes` extended by a ghost node at each end (so
    that the PDE can be collocated at the boundary points), else 0."""
    return int(runs_on_shape(residual, tuple(x.shape[0] + 2 for x in axes), dtype))


def make_problem(
    residual, axes, relative_jitter, trend_degree=None, boundary=None, ghost_nodes=0
) -> Problem:
    """The `Problem` on the grid of `axes` (already checked), extended by `ghost_nodes`.

    `boundary` (domain-grid-shaped, the face values filled in) is kept only with a trend in 1-D,
    where the collocation imposes it on the posterior mean (see `collocate`); otherwise the
    boundary values are those of the grid values passed to the collocation, and there are no
    ghost nodes.
    """
    if trend_degree is None or len(axes) != 1:
        boundary, ghost_nodes = None, 0
    axes = extended_axes(axes, ghost_nodes)
    mesh = tuple(jnp.meshgrid(*axes, indexing="ij"))
    return Problem(residual, axes, mesh, relative_jitter, trend_degree, boundary, ghost_nodes)
