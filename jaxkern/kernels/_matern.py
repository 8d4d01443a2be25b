r"""The Matérn kernel of any order $\nu > 0$, built on [`log_kv`][jaxkern.special.log_kv]."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from .._validation import check_positive
from ..special import log_kv, safe_sqrt
from ._modules import Kernel, as_parameter
from ._stationary import scaled_sqdist


def matern(
    x: Float[ArrayLike, " d"],
    y: Float[ArrayLike, " d"],
    *,
    nu: ArrayLike,
    lengthscale: Float[ArrayLike, "*d"] = 1.0,
    variance: ArrayLike = 1.0,
) -> Float[Array, ""]:
    r"""Matérn kernel of any smoothness $\nu > 0$.

    $$k(x, y) = \sigma^2 \frac{2^{1-\nu}}{\Gamma(\nu)} z^\nu K_\nu(z), \qquad
      z = \sqrt{2\nu}\, r, \quad r^2 = \sum_i \frac{(x_i - y_i)^2}{\ell_i^2},$$
    evaluated as
    $\sigma^2 \exp\big((1-\nu)\log 2 - \log\Gamma(\nu) + \nu\log z + \log K_\nu(z)\big)$ so that
    large orders neither overflow nor underflow; $k = \sigma^2$ at $r = 0$. It equals
    `matern12`, `matern32` and `matern52` at $\nu = 1/2, 3/2, 5/2$ and tends to
    [`rbf`][jaxkern.kernels.rbf] as $\nu \to \infty$. Value and gradient are finite at $r = 0$,
    and the kernel is differentiable in $\nu$ (through the order-derivative of `log_kv`).

    **Arguments:**

    - `x`, `y`: points of shape (d,).
    - `nu`: smoothness $\nu > 0$.
    - `lengthscale`: $\ell$, a positive scalar or shape (d,) (ARD).
    - `variance`: $\sigma^2 > 0$.

    **Returns:** the scalar $k(x, y)$.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.kernels import matern, matern32
        >>> x, y = jnp.array([0.0]), jnp.array([1.0])
        >>> round(float(matern(x, y, nu=1.5)), 4), round(float(matern32(x, y)), 4)
        (0.4834, 0.4834)

    Rasmussen & Williams, *Gaussian Processes for Machine Learning* (2006), eq. 4.14;
    Plesner, Sørensen & Hauberg (2024) for the log-Bessel evaluation.
    """
    check_positive("nu", nu)
    check_positive("lengthscale", lengthscale)
    check_positive("variance", variance)
    z = jnp.sqrt(2 * jnp.asarray(nu)) * safe_sqrt(scaled_sqdist(x, y, lengthscale))
    positive = z > 0
    z_safe = jnp.where(positive, z, 1)
    log_k = (
        (1 - nu) * math.log(2)
        - jax.lax.lgamma(jnp.asarray(nu, z.dtype))
        + nu * jnp.log(z_safe)
        + log_kv(nu, z_safe)
    )
    return variance * jnp.where(positive, jnp.exp(log_k), 1)


class Matern(Kernel):
    """Module form of [`matern`][jaxkern.kernels.matern]: fields `nu`, `lengthscale`, `variance`."""

    nu: Array
    lengthscale: Array
    variance: Array

    def __init__(self, nu: ArrayLike, lengthscale: ArrayLike = 1.0, variance: ArrayLike = 1.0):
        self.nu = as_parameter("nu", nu)
        self.lengthscale = as_parameter("lengthscale", lengthscale)
        self.variance = as_parameter("variance", variance)

    def __call__(self, x, y):
        return matern(x, y, nu=self.nu, lengthscale=self.lengthscale, variance=self.variance)
