r"""The posterior mean of a solution off the grid: on a new tensor grid or at scattered points."""

from __future__ import annotations

from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._validation import check_ndim
from ..linalg import apply_along_axes
from ._operators import interpolator, prior_inverse
from ._problem import relative_jitter_argument
from ._solution import PDESolution


def interpolators(kernels, axes, new_axes, relative_jitter, trend_degree, orders=None) -> list:
    r"""Per axis, the matrix from grid values to the posterior mean's derivative of order
    `orders[d]` (default 0) at `new_axes[d]` (see `_operators.interpolator`)."""
    orders = (0,) * len(axes) if orders is None else orders
    return [
        interpolator(k, x, prior_inverse(k, x, relative_jitter, trend_degree), new, a)
        for k, x, new, a in zip(kernels, axes, new_axes, orders)
    ]


@eqx.filter_jit
def posterior_mean(kernels, axes, U, new_axes, relative_jitter, trend_degree=None) -> Array:
    """The posterior mean of grid values `U` on the tensor grid `new_axes`."""
    return apply_along_axes(
        interpolators(kernels, axes, new_axes, relative_jitter, trend_degree), U
    )


@eqx.filter_jit
def _posterior_mean_at(kernels, axes, U, points, relative_jitter, trend_degree) -> Array:
    """The posterior mean of grid values `U` at each row of `points`."""
    priors = [prior_inverse(k, x, relative_jitter, trend_degree) for k, x in zip(kernels, axes)]

    def one(p):
        out = U
        for d, (k, x, prior) in enumerate(zip(kernels, axes, priors)):
            out = jnp.tensordot(interpolator(k, x, prior, p[d][None])[0], out, axes=(0, 0))
        return out

    return jax.lax.map(one, points)


def predict_grid(
    solution: PDESolution,
    axes: Sequence[Float[Array, " m"]],
    *,
    relative_jitter: float | None = None,
    jitter: float | None = None,
) -> Float[Array, "*grid"]:
    r"""The GP-HM solution's posterior mean on a new tensor grid.

    $$\hat U = \Big(\bigotimes_d k_d(X^*_d, X_d)\Big) K^{-1} \mathrm{vec}(U),$$
    one factor at a time. With a trend (`solve(..., trend_degree=m)`), factor $d$ is
    $k_d(X^*_d, X_d) Q_d + p_d(X^*_d)^\top \hat\beta_d$: the GP part plus the Legendre
    trend's generalised-least-squares fit (see [`solve`][jaxkern.pde.solve]).

    **Arguments:**

    - `solution`: from [`solve`][jaxkern.pde.solve].
    - `axes`: coordinates of the new grid, one array per dimension.
    - `relative_jitter`: defaults to the one the solution was fitted with.
    - `jitter`: deprecated name of `relative_jitter` (same meaning).

    **Returns:** the values, shape $(m_1, \dots, m_D)$.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.kernels import RBF
        >>> from jaxkern.pde import solve, predict_grid
        >>> x = jnp.linspace(0.0, 1.0, 20)
        >>> residual = lambda u, du, d2u, X: d2u[0] + jnp.pi**2 * jnp.sin(jnp.pi * X[0])
        >>> sol = solve(residual, (x,), [(0.0, 0.0)], [RBF(lengthscale=0.1)], num_steps=0)
        >>> round(float(predict_grid(sol, (jnp.array([0.5]),)).sum()), 1)  # sin(pi / 2)
        1.0
    """
    relative_jitter = relative_jitter_argument(relative_jitter, jitter, "predict_grid")
    if len(axes) != len(solution.axes):
        raise ValueError(
            f"`axes` must hold {len(solution.axes)} arrays (one per dimension), got {len(axes)}."
        )
    for d, a in enumerate(axes):
        check_ndim(f"axes[{d}]", a, 1, "(m_d,)")
    if relative_jitter is None:
        relative_jitter = solution.relative_jitter
    return posterior_mean(
        solution.kernels, solution.support_axes, solution.grid_values,
        tuple(jnp.asarray(a) for a in axes),
        relative_jitter, solution.trend_degree,
    )


def predict(
    solution: PDESolution,
    points: Float[Array, "n D"],
    *,
    relative_jitter: float | None = None,
    jitter: float | None = None,
) -> Float[Array, " n"]:
    r"""The GP-HM solution's posterior mean at scattered points.

    $$\hat u(x^*) = \sum_{i_1 \dots i_D} \prod_d k_d(x^*_d, X_{d, i_d})\,
      [K^{-1}\mathrm{vec}(U)]_{i_1 \dots i_D}.$$

    **Arguments:**

    - `solution`: from [`solve`][jaxkern.pde.solve].
    - `points`: shape (n, D).
    - `relative_jitter`: defaults to the one the solution was fitted with.
    - `jitter`: deprecated name of `relative_jitter` (same meaning).

    **Returns:** shape (n,).

    Example:
        $u'' = 0$ with $u(0) = 0$, $u(1) = 1$ is solved by $u(x) = x$:

        >>> import jax.numpy as jnp
        >>> from jaxkern.kernels import RBF
        >>> from jaxkern.pde import solve, predict
        >>> sol = solve(lambda u, du, d2u, X: d2u[0], (jnp.linspace(0.0, 1.0, 20),),
        ...             [(0.0, 1.0)], [RBF(lengthscale=0.2)], num_steps=0)
        >>> [round(v, 1) for v in predict(sol, jnp.array([[0.3], [0.7]])).tolist()]
        [0.3, 0.7]
    """
    relative_jitter = relative_jitter_argument(relative_jitter, jitter, "predict")
    check_ndim("points", points, 2, "(n, D)")
    if points.shape[1] != len(solution.axes):
        raise ValueError(
            f"`points` must have {len(solution.axes)} columns (one per dimension), got shape "
            f"{points.shape}."
        )
    if relative_jitter is None:
        relative_jitter = solution.relative_jitter
    return _posterior_mean_at(
        solution.kernels, solution.support_axes, solution.grid_values, points, relative_jitter,
        solution.trend_degree,
    )
