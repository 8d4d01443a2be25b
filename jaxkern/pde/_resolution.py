r"""Whether a solution is resolved by its grid: the PDE residual between the grid points.

The collocation makes the residual vanish at the grid points whatever the grid. Where the
solution holds a frequency above an axis's Nyquist frequency $\pi / h$, the grid samples of the
source are those of an aliased, lower frequency $2\pi / h - \omega$, and the solver meets the
PDE at the grid points with that frequency and the wrong amplitude (by $\omega^2 / \omega'^2$
for a second-order PDE), with a finite objective. Between the grid points the aliased solution
and the true source differ: at the midpoints of a pure alias its residual is about twice the
source. The posterior mean's derivatives off the grid are free (derivative kernels against the
representer weights), so the residual at the midpoint grid measures this directly.
"""

from __future__ import annotations

import math
import warnings

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array

from ..linalg import apply_along_axes
from ._operators import GridDerivatives, interpolator, prior_inverse
from ._problem import runs_on_shape

#: `solve` warns where the off-grid residual is above this fraction of the PDE's terms.
OFFGRID_RESIDUAL_WARN = 0.1


class UnderResolvedWarning(UserWarning):
    """A PDE solution's residual between the grid points is large: the grid is likely too coarse
    for it (a frequency above the Nyquist frequency is solved as its alias)."""


@eqx.filter_jit
def midpoint_derivatives(
    kernels, axes, U, relative_jitter, trend_degree=None, domain=None
) -> tuple[GridDerivatives, tuple]:
    r"""The posterior mean of `U` (on the grid of `axes`) and its derivatives on the grid of
    midpoints of `domain` (default `axes`), and that grid's mesh.

    $\partial_d^a \hat u(x^*) = \big(\bigotimes_e k^{(a_e)}_e(X^*_e, X_e)\big) K^{-1}
    \mathrm{vec}(U)$, with $k^{(a)}_e = \partial_x^a k_e$ and $a_e = a$ on axis $d$, 0
    elsewhere: one product along each axis (with a trend, each factor also carries the trend's
    derivative, see `_operators.interpolator`).
    """
    mids = tuple((x[1:] + x[:-1]) / 2 for x in (axes if domain is None else domain))
    priors = [prior_inverse(k, x, relative_jitter, trend_degree) for k, x in zip(kernels, axes)]
    cross = [
        [interpolator(k, x, prior, m, a) for a in range(3)]
        for k, x, prior, m in zip(kernels, axes, priors, mids)
    ]
    dims = range(len(axes))

    def derivative(d, a):
        return apply_along_axes([cross[e][a if e == d else 0] for e in dims], U)

    fields = GridDerivatives(
        derivative(0, 0),
        tuple(derivative(d, 1) for d in dims),
        tuple(derivative(d, 2) for d in dims),
    )
    return fields, tuple(jnp.meshgrid(*mids, indexing="ij"))


def relative_residual(residual, fields: GridDerivatives, mesh) -> Array:
    r"""$\|r\| / s$ of a pointwise residual, $s$ the size of the PDE's terms at the same points.

    $s = \|r(0, 0, 0, x)\| + \sum_f \|\tfrac{\partial r}{\partial f} f\|$ over the fields
    $f \in \{u, \partial_d u, \partial_d^2 u\}$: the source and each term's linearised
    contribution (for Poisson, the source and each $\partial_d^2 u$; for advection, $\beta u_x$
    and $u_y$), so the ratio does not depend on the solution's scale and stays meaningful where
    the terms cancel.
    """
    u, du, d2u = fields

    def r(u, du, d2u):
        return residual(u, du, d2u, mesh)

    def rms(a):
        return jnp.sqrt(jnp.mean(jnp.square(a)))

    zeros = jax.tree.map(jnp.zeros_like, (u, du, d2u))
    scale = rms(r(*zeros))
    primal = (u, du, d2u)
    leaves, treedef = jax.tree.flatten(primal)
    for i, leaf in enumerate(leaves):
        tangent = [leaf if j == i else jnp.zeros_like(x) for j, x in enumerate(leaves)]
        scale = scale + rms(jax.jvp(r, primal, tuple(jax.tree.unflatten(treedef, tangent)))[1])
    value = rms(r(u, du, d2u))
    tiny = jnp.finfo(value.dtype).tiny
    return jnp.where(value > 0, value / jnp.maximum(scale, tiny), jnp.zeros_like(value))


@eqx.filter_jit
def _offgrid(residual, kernels, axes, U, relative_jitter, trend_degree, domain):
    fields, mesh = midpoint_derivatives(kernels, axes, U, relative_jitter, trend_degree, domain)
    return relative_residual(residual, fields, mesh)


def offgrid_residual(
    kernels, axes, U, relative_jitter, residual, trend_degree=None, domain=None
) -> float:
    """The relative PDE residual of the posterior mean of `U` (on the grid of `axes`) at the
    midpoints of `domain` (default `axes`), as a float.

    NaN where the residual cannot be evaluated off the grid (it closes over grid-shaped arrays
    instead of computing its terms from the coordinates `X`).
    """
    domain = axes if domain is None else domain
    if not runs_on_shape(residual, tuple(x.shape[0] - 1 for x in domain), U.dtype):
        return math.nan
    return float(_offgrid(residual, kernels, axes, U, relative_jitter, trend_degree, domain))


def boundary_gap(values: Array, G: Array) -> float:
    r"""How far the posterior mean at the grid points, `values`, misses the boundary values held
    on the faces of `G`: $\max_\partial |\hat u - g| / \max |\hat u|$ over the boundary points.

    The collocation holds the boundary values on the grid values $U$ (on the posterior mean
    with a trend, in 1-D), and the mean is $U$ filtered by the prior: it keeps them where the
    kernels represent the solution up to the boundary. A smooth non-periodic part that the
    stationary kernels represent poorly (a quadratic, say) shows here first: 7e-5 to 7e-4 on
    such 1-D problems, against 2e-7 or less where the fit recovers a single frequency
    (docs/pde.md, *The automatic trend*). It is the error at the boundary points, so a lower
    bound on the error, not an estimate of it.
    """
    inside = jnp.zeros(G.shape, bool).at[(slice(1, -1),) * G.ndim].set(True)
    gap = jnp.max(jnp.where(inside, 0.0, jnp.abs(values - G)))
    size = jnp.max(jnp.abs(values))
    return float(jnp.where(size > 0, gap / jnp.where(size > 0, size, 1.0), gap))


def warn_under_resolved(indicator: float, axes) -> None:
    """Warn (`UnderResolvedWarning`) where the off-grid residual is above the threshold."""
    from .._validation import _user_stacklevel

    if not indicator > OFFGRID_RESIDUAL_WARN:
        return
    nyquist = ", ".join(f"{math.pi / float(x[1] - x[0]):.4g}" for x in axes)
    warnings.warn(
        f"pde.solve: the PDE residual between the grid points is {indicator:.2g} of the size of "
        f"its terms (`offgrid_residual`; above {OFFGRID_RESIDUAL_WARN} is unexpected for a "
        "resolved solution), while it vanishes at the grid points: the grid is likely too "
        "coarse for the solution. A frequency above an axis's Nyquist frequency (here "
        f"{nyquist} rad per unit) is solved as its alias, with the wrong amplitude. Use more "
        "grid points.",
        UnderResolvedWarning,
        stacklevel=_user_stacklevel(),
    )
