r"""Derivative Gram matrices of a one-dimensional kernel, by automatic differentiation."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._validation import check_int, check_ndim

KernelFn = Callable[[Array, Array], Array]


def derivative_gram(
    k: KernelFn,
    x: Float[Array, " n"],
    y: Float[Array, " m"],
    *,
    orders: tuple[int, int] = (0, 0),
) -> Float[Array, "n m"]:
    r"""Gram matrix of a derivative of a 1-D kernel, $\partial_x^a \partial_{y}^b k(x_i, y_j)$.

    $$G_{ij} = \frac{\partial^{a+b} k(x, y)}{\partial x^a\, \partial y^b}
      \Big|_{x = x_i,\, y = y_j},$$
    the covariance $\operatorname{cov}(f^{(a)}(x_i), f^{(b)}(y_j))$ of a GP $f \sim
    \mathcal{GP}(0, k)$. Orders $(0,0), (1,0), (2,0), (1,1), (2,2)$ give $k$,
    $\partial k/\partial x$, $\partial^2 k/\partial x^2$, $\partial^2 k/\partial x \partial x'$
    and $\partial^4 k/\partial x^2 \partial x'^2$. Finite at $x = y$ for the smooth and
    Student-t mixture kernels (whose envelope carries its own derivative).

    **Arguments:**

    - `k`: a kernel on one pair of points of shape (1,).
    - `x`: points, shape (n,).
    - `y`: points, shape (m,).
    - `orders`: $(a, b)$, non-negative Python ints (keyword-only).

    **Returns:** the (n, m) matrix.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.kernels import RBF
        >>> from jaxkern.pde import derivative_gram
        >>> derivative_gram(RBF(), jnp.array([0.0]), jnp.array([0.0]), orders=(1, 1)).tolist()
        [[1.0]]

    Rasmussen & Williams, *Gaussian Processes for Machine Learning* (2006), §9.4.
    """
    check_ndim("x", x, 1, "(n,)")
    check_ndim("y", y, 1, "(m,)")
    if not isinstance(orders, (tuple, list)) or len(orders) != 2:
        raise ValueError(f"`orders` must be a pair of non-negative Python ints, got {orders!r}.")
    a, b = orders
    check_int("orders[0]", a, 0)
    check_int("orders[1]", b, 0)

    def scalar(s, t):
        return k(s[None], t[None])

    f = scalar
    for _ in range(a):
        f = jax.grad(f, argnums=0)
    for _ in range(b):
        f = jax.grad(f, argnums=1)
    return jax.vmap(lambda s: jax.vmap(lambda t: f(s, t))(jnp.asarray(y)))(jnp.asarray(x))
