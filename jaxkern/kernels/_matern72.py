r"""The Matérn-7/2 kernel and a product of one-dimensional Matérn kernels.

The product form $\prod_i k_\nu(x_i, y_i)$ is the kernel whose integrals over a box factorise,
which is what Bayesian quadrature on a box needs; in one dimension it equals the isotropic kernel.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from .._validation import check_positive
from ..special import safe_sqrt
from . import _stationary as st
from ._modules import Kernel, RadialKernel, as_parameter

Point = Float[ArrayLike, " d"]
PerDim = Float[ArrayLike, "*d"]


def matern72_profile(r2):
    """Matérn-7/2 as a function of the scaled squared distance (see `_stationary`)."""
    s = math.sqrt(7.0) * safe_sqrt(r2)
    return (1 + s + 0.4 * (7.0 * r2) + s * (7.0 * r2) / 15) * jnp.exp(-s)


def matern72(
    x: Point, y: Point, *, lengthscale: PerDim = 1.0, variance: ArrayLike = 1.0
) -> Float[Array, ""]:
    r"""Matérn-7/2 kernel, $k = \sigma^2 (1 + s + \tfrac{2}{5} s^2 + \tfrac{1}{15} s^3) e^{-s}$.

    Here $s = \sqrt{7}\, r$ with $r^2 = \sum_i (x_i - y_i)^2 / \ell_i^2$; the sample paths are
    three times mean-square differentiable.

    **Arguments:** as [`rbf`][jaxkern.kernels.rbf].

    **Returns:** the scalar $k(x, y)$.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.kernels import matern72
        >>> round(float(matern72(jnp.array([0.0]), jnp.array([1.0]))), 6)
        0.544942

    Rasmussen & Williams (2006), eq. 4.16 with $\nu = 7/2$ ($p = 3$).
    """
    check_positive("lengthscale", lengthscale)
    check_positive("variance", variance)
    return variance * matern72_profile(st.scaled_sqdist(x, y, lengthscale))


class Matern72(RadialKernel):
    """Module form of [`matern72`][jaxkern.kernels.matern72]: fields `lengthscale`, `variance`."""

    def profile(self, r2):
        return self.variance * matern72_profile(r2)


#: The one-dimensional Matérn kernels by smoothness $\nu$.
MATERN_BY_NU = {0.5: st.matern12, 1.5: st.matern32, 2.5: st.matern52, 3.5: matern72}


def check_nu(nu) -> float:
    """Raise `ValueError` naming the supported orders unless `nu` is one of them."""
    if nu not in MATERN_BY_NU:
        raise ValueError(
            f"`nu` must be one of the supported Matérn orders {sorted(MATERN_BY_NU)} "
            f"(1/2, 3/2, 5/2, 7/2), got {nu!r}."
        )
    return float(nu)


def product_matern(
    x: Point, y: Point, *, nu: float, lengthscale: PerDim = 1.0, variance: ArrayLike = 1.0
) -> Float[Array, ""]:
    r"""Product of one-dimensional Matérn-$\nu$ kernels, one per coordinate.

    $$k(x, y) = \sigma^2 \prod_{i=1}^{d} m_\nu\left(\frac{|x_i - y_i|}{\ell_i}\right),$$
    with $m_\nu$ the unit Matérn correlation ($m_{1/2}(r) = e^{-r}$, ...). In one dimension
    it is the isotropic Matérn kernel; on a box its integrals factorise over coordinates.

    **Arguments:**

    - `x`, `y`: points of shape (d,).
    - `nu`: smoothness, one of 0.5, 1.5, 2.5, 3.5 (a Python float, static).
    - `lengthscale`: $\ell$, a positive scalar or shape (d,).
    - `variance`: $\sigma^2 > 0$.

    **Returns:** the scalar $k(x, y)$.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.kernels import product_matern
        >>> round(float(product_matern(jnp.zeros(2), jnp.ones(2), nu=0.5)), 6)
        0.135335

    Rasmussen & Williams (2006), eq. 4.16; the product form as in Briol et al., *Probabilistic
    integration: a role in statistical computation?*, Statist. Sci. 34 (2019).
    """
    unit = MATERN_BY_NU[check_nu(nu)]
    check_positive("lengthscale", lengthscale)
    check_positive("variance", variance)
    x, y = jnp.asarray(x), jnp.asarray(y)
    ell = jnp.broadcast_to(jnp.asarray(lengthscale, x.dtype), x.shape)
    factors = jax.vmap(lambda a, b, e: unit(a[None], b[None], lengthscale=e))(x, y, ell)
    return variance * jnp.prod(factors)


class ProductMatern(Kernel):
    """Module form of [`product_matern`][jaxkern.kernels.product_matern]; `nu` is static."""

    nu: float = eqx.field(static=True)
    lengthscale: Array
    variance: Array

    def __init__(self, nu: float, lengthscale: ArrayLike = 1.0, variance: ArrayLike = 1.0):
        self.nu = check_nu(nu)
        self.lengthscale = as_parameter("lengthscale", lengthscale)
        self.variance = as_parameter("variance", variance)

    def __call__(self, x, y):
        return product_matern(
            x, y, nu=self.nu, lengthscale=self.lengthscale, variance=self.variance
        )
