r"""Dot-product kernels $k(x, y) = f(x^\top y, \|x\|, \|y\|)$ on one pair of points."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from .._validation import check_int, check_positive
from ..special import safe_sqrt

Point = Float[ArrayLike, " d"]
Scalar = Float[Array, ""]


def linear(x: Point, y: Point, *, variance: ArrayLike = 1.0, bias: ArrayLike = 0.0) -> Scalar:
    r"""Linear kernel, $k(x, y) = \sigma_b^2 + \sigma^2 x^\top y$ (Bayesian linear regression).

    **Arguments:**

    - `x`, `y`: points of shape (d,).
    - `variance`: $\sigma^2 > 0$, the prior variance of the weights.
    - `bias`: $\sigma_b^2 \ge 0$, the prior variance of the offset.

    **Returns:** the scalar $k(x, y)$.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxkern.kernels import linear
        >>> float(linear(jnp.array([1.0, 2.0]), jnp.array([3.0, 4.0]), bias=1.0))
        12.0
    """
    check_positive("variance", variance)
    check_positive("bias", bias, allow_zero=True)
    return bias + variance * jnp.dot(x, y)


def polynomial(
    x: Point,
    y: Point,
    *,
    degree: int,
    variance: ArrayLike = 1.0,
    bias: ArrayLike = 1.0,
) -> Scalar:
    r"""Polynomial kernel, $k(x, y) = (\sigma_b^2 + \sigma^2 x^\top y)^p$.

    **Arguments:**

    - `x`, `y`: points of shape (d,).
    - `degree`: $p$, a positive Python int (static).
    - `variance`: $\sigma^2 > 0$.
    - `bias`: $\sigma_b^2 \ge 0$.

    **Returns:** the scalar $k(x, y)$.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxkern.kernels import polynomial
        >>> float(polynomial(jnp.array([1.0, 2.0]), jnp.array([3.0, 4.0]), degree=2))
        144.0
    """
    check_int("degree", degree, 1)
    check_positive("variance", variance)
    check_positive("bias", bias, allow_zero=True)
    return (bias + variance * jnp.dot(x, y)) ** degree


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def _angular_part(order: int, c: Array) -> Array:
    r"""Cho & Saul's $J_n(\theta)$ as a function of $c = \cos\theta$."""
    theta = jnp.arccos(c)
    s = safe_sqrt(1 - c * c)
    if order == 0:
        return jnp.pi - theta
    if order == 1:
        return s + (jnp.pi - theta) * c
    return 3 * s * c + (jnp.pi - theta) * (1 + 2 * c * c)


@_angular_part.defjvp
def _angular_part_jvp(order, primals, tangents):
    # dJ/dc in closed form: the chain through arccos has an infinite factor at c = +-1 that
    # the algebra cancels for orders 1 and 2 (dJ1/dc = pi - theta, dJ2/dc = 4 s + 4 c (pi - theta)).
    (c,), (dc,) = primals, tangents
    theta = jnp.arccos(c)
    s = safe_sqrt(1 - c * c)
    if order == 0:
        # J0 = pi - theta has a cusp at theta = 0 (x parallel to y); return the 0 subgradient.
        slope = jnp.where(s > 0, 1 / jnp.where(s > 0, s, 1), 0)
    elif order == 1:
        slope = jnp.pi - theta
    else:
        slope = 4 * s + 4 * c * (jnp.pi - theta)
    return _angular_part(order, c), slope * dc


def arccos(
    x: Point,
    y: Point,
    *,
    order: int = 1,
    variance: ArrayLike = 1.0,
    weight_variance: ArrayLike = 1.0,
    bias_variance: ArrayLike = 0.0,
) -> Scalar:
    r"""Arc-cosine kernel of order 0, 1 or 2: one infinitely wide layer of step, ReLU or ReQU units.

    With the affine inner product $\langle x, y \rangle = \sigma_w^2 x^\top y + \sigma_b^2$,
    $\cos\theta = \langle x, y\rangle / \sqrt{\langle x, x\rangle \langle y, y\rangle}$ and
    $$k_n(x, y) = \frac{\sigma^2}{\pi} \langle x, x\rangle^{n/2} \langle y, y\rangle^{n/2}
        J_n(\theta),$$
    $J_0 = \pi - \theta$, $J_1 = \sin\theta + (\pi - \theta)\cos\theta$,
    $J_2 = 3\sin\theta\cos\theta + (\pi - \theta)(1 + 2\cos^2\theta)$.
    Equivalently $k_n(x, y) = 2\sigma^2\,\mathbb E_{w}[\Theta(w^\top x)\Theta(w^\top y)
    (w^\top x)^n (w^\top y)^n]$ for $w \sim \mathcal N(0, I)$ (bias as an extra input).

    Gradients are finite for $x = y$ (order 0 returns the 0 subgradient at its cusp). Where a
    point has zero norm, $\theta$ is taken as $\pi/2$.

    **Arguments:**

    - `x`, `y`: points of shape (d,).
    - `order`: 0, 1 or 2 (static).
    - `variance`: $\sigma^2 > 0$, output scale.
    - `weight_variance`: $\sigma_w^2 > 0$.
    - `bias_variance`: $\sigma_b^2 \ge 0$.

    **Returns:** the scalar $k(x, y)$.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxkern.kernels import arccos
        >>> float(arccos(jnp.array([3.0, 4.0]), jnp.array([3.0, 4.0]), order=1))
        25.0

    Cho & Saul, *Kernel Methods for Deep Learning*, NeurIPS 2009, eqs. 1-4.
    """
    if order not in (0, 1, 2):
        raise ValueError(f"`order` must be 0, 1 or 2 (step, ReLU, ReQU), got {order!r}.")
    check_positive("variance", variance)
    check_positive("weight_variance", weight_variance)
    check_positive("bias_variance", bias_variance, allow_zero=True)
    kxy = weight_variance * jnp.dot(x, y) + bias_variance
    kxx = weight_variance * jnp.dot(x, x) + bias_variance
    kyy = weight_variance * jnp.dot(y, y) + bias_variance
    norm_product = safe_sqrt(kxx * kyy)
    nonzero = norm_product > 0
    c = jnp.where(nonzero, kxy / jnp.where(nonzero, norm_product, 1), 0)
    c = jnp.clip(c, -1, 1)
    return variance / jnp.pi * norm_product**order * _angular_part(order, c)
