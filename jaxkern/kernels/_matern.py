r"""The Matérn family in one place: the half-integer orders ½ to 7⁄2, any order $\nu > 0$ (through
[`log_kv`][jaxkern.special.log_kv]), and the product of one-dimensional Matérn kernels.

Each half-integer kernel is a polynomial times an exponential of the scaled distance; here it is
written once, as a profile of the scaled squared distance $r^2$, with its exact derivative in
$r^2$ (finite at $r = 0$ for $\nu \ge 3/2$). So the Gram matrices, the derivative kernels a PDE
solver needs (second derivatives at $\tau = 0$ come out as the true $-2 f'(0)$) and the
Student-t mixture's envelopes all evaluate the same formula.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from .._validation import check_per_dim, check_positive
from ..special import log_kv, safe_sqrt
from ._stationary import scaled_sqdist

Point = Float[ArrayLike, " d"]
PerDim = Float[ArrayLike, "*d"]
Scalar = Float[Array, ""]


def _profile(order: float, *derivatives: Callable[[Array], Array]) -> Callable[[Array], Array]:
    r"""A profile $f(r^2)$ from its value and derivatives in $r^2$, each a function of
    $s = \sqrt{2\nu}\, r$: `derivatives[k](s)` $= f^{(k)}(r^2)$.

    Each level's custom JVP is the next level, so autodiff meets the closed forms (whose
    $1/r$ factors cancel) instead of $\sqrt{r^2}$, whose derivative is infinite at $r = 0$; the
    last level is differentiated plainly (its own derivative is infinite at 0 anyway).
    """
    root = math.sqrt(2 * order)

    def level(k):
        g = derivatives[k]

        def plain(r2):
            return g(root * safe_sqrt(r2))

        if k == len(derivatives) - 1:
            return plain
        slope = level(k + 1)
        f = jax.custom_jvp(plain)
        f.defjvp(lambda primals, tangents: (f(primals[0]), slope(primals[0]) * tangents[0]))
        return f

    return level(0)


#: Matérn-1/2, $e^{-r}$: its slope in $r^2$ is infinite at 0, so it keeps plain autodiff
#: (gradient 0 there, a subgradient).
def matern12_profile(r2):
    return jnp.exp(-safe_sqrt(r2))


#: Matérn-3/2, $(1 + s) e^{-s}$ with $s = \sqrt3 r$; $f' = -\tfrac32 e^{-s}$.
matern32_profile = _profile(1.5, lambda s: (1 + s) * jnp.exp(-s), lambda s: -1.5 * jnp.exp(-s))

#: Matérn-5/2, $(1 + s + s^2/3) e^{-s}$ with $s = \sqrt5 r$; $f' = -\tfrac56 (1 + s) e^{-s}$,
#: $f'' = \tfrac{25}{12} e^{-s}$ (so fourth derivatives in $\tau$ are exact at zero lag).
matern52_profile = _profile(
    2.5,
    lambda s: (1 + s + s * s / 3) * jnp.exp(-s),
    lambda s: -(5.0 / 6.0) * (1 + s) * jnp.exp(-s),
    lambda s: (25.0 / 12.0) * jnp.exp(-s),
)

#: Matérn-7/2, $(1 + s + \tfrac25 s^2 + \tfrac1{15} s^3) e^{-s}$ with $s = \sqrt7 r$;
#: $f' = -\tfrac{7}{30}(3 + 3s + s^2) e^{-s}$, $f'' = \tfrac{49}{60}(1 + s) e^{-s}$ and
#: $f''' = -\tfrac{343}{120} e^{-s}$.
matern72_profile = _profile(
    3.5,
    lambda s: (1 + s + 0.4 * s * s + s * s * s / 15) * jnp.exp(-s),
    lambda s: -(7.0 / 30.0) * (3 + 3 * s + s * s) * jnp.exp(-s),
    lambda s: (49.0 / 60.0) * (1 + s) * jnp.exp(-s),
    lambda s: -(343.0 / 120.0) * jnp.exp(-s),
)


def _check(lengthscale, variance) -> None:
    check_positive("lengthscale", lengthscale)
    check_positive("variance", variance)


def matern12(
    x: Point, y: Point, *, lengthscale: PerDim = 1.0, variance: ArrayLike = 1.0
) -> Scalar:
    r"""Matérn-1/2 (exponential, Ornstein–Uhlenbeck) kernel, $k = \sigma^2 e^{-r}$.

    The kernel has a cusp at $r = 0$; its gradient there is returned as 0 (a subgradient).
    `density` calls it `"exponential"` (an alias).

    **Arguments:** as [`rbf`][jaxkern.kernels.rbf].

    **Returns:** the scalar $k(x, y)$.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxkern.kernels import matern12
        >>> round(float(matern12(jnp.array([0.0]), jnp.array([1.0]))), 6)
        0.367879

    Rasmussen & Williams (2006), eq. 4.14 with $\nu = 1/2$.
    """
    _check(lengthscale, variance)
    return variance * matern12_profile(scaled_sqdist(x, y, lengthscale))


def matern32(
    x: Point, y: Point, *, lengthscale: PerDim = 1.0, variance: ArrayLike = 1.0
) -> Scalar:
    r"""Matérn-3/2 kernel, $k = \sigma^2 (1 + \sqrt{3} r) e^{-\sqrt{3} r}$.

    **Arguments:** as [`rbf`][jaxkern.kernels.rbf].

    **Returns:** the scalar $k(x, y)$.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxkern.kernels import matern32
        >>> round(float(matern32(jnp.array([0.0]), jnp.array([1.0]))), 6)
        0.483358

        One lengthscale per dimension (ARD): $r^2 = (1/1)^2 + (2/2)^2 = 2$ here.

        >>> ell = jnp.array([1.0, 2.0])
        >>> r = jnp.sqrt(2.0)
        >>> bool(jnp.isclose(matern32(jnp.zeros(2), jnp.array([1.0, 2.0]), lengthscale=ell),
        ...                  (1 + jnp.sqrt(3.0) * r) * jnp.exp(-jnp.sqrt(3.0) * r)))
        True

    Rasmussen & Williams (2006), eq. 4.17.
    """
    _check(lengthscale, variance)
    return variance * matern32_profile(scaled_sqdist(x, y, lengthscale))


def matern52(
    x: Point, y: Point, *, lengthscale: PerDim = 1.0, variance: ArrayLike = 1.0
) -> Scalar:
    r"""Matérn-5/2 kernel, $k = \sigma^2 (1 + \sqrt{5} r + \tfrac{5}{3} r^2) e^{-\sqrt{5} r}$.

    **Arguments:** as [`rbf`][jaxkern.kernels.rbf].

    **Returns:** the scalar $k(x, y)$.

    Examples:
        The value at unit distance, and a gradient that is finite (zero) at $x = y$, where
        $r = 0$ and a naive $\sqrt{r^2}$ would give ``nan``:

        >>> import jax, jax.numpy as jnp
        >>> from jaxkern.kernels import matern52
        >>> x = jnp.array([0.0])
        >>> round(float(matern52(x, jnp.array([1.0]))), 6)
        0.523994
        >>> float(jnp.abs(jax.grad(matern52)(x, x)).sum())
        0.0

    Rasmussen & Williams (2006), eq. 4.17.
    """
    _check(lengthscale, variance)
    return variance * matern52_profile(scaled_sqdist(x, y, lengthscale))


def matern72(
    x: Point, y: Point, *, lengthscale: PerDim = 1.0, variance: ArrayLike = 1.0
) -> Scalar:
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
    _check(lengthscale, variance)
    return variance * matern72_profile(scaled_sqdist(x, y, lengthscale))


#: The half-integer Matérn profiles by smoothness $\nu$.
MATERN_PROFILES = {
    0.5: matern12_profile,
    1.5: matern32_profile,
    2.5: matern52_profile,
    3.5: matern72_profile,
}


def check_nu(nu) -> float:
    """Raise `ValueError` naming the supported orders unless `nu` is a half-integer order here."""
    if nu not in MATERN_PROFILES:
        raise ValueError(
            f"`nu` must be one of the supported Matérn orders {sorted(MATERN_PROFILES)} "
            f"(1/2, 3/2, 5/2, 7/2), got {nu!r}."
        )
    return float(nu)


def matern(
    x: Point,
    y: Point,
    *,
    nu: ArrayLike,
    lengthscale: PerDim = 1.0,
    variance: ArrayLike = 1.0,
) -> Scalar:
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
    _check(lengthscale, variance)
    z = jnp.sqrt(2 * jnp.asarray(nu)) * safe_sqrt(scaled_sqdist(x, y, lengthscale))
    positive = ~(z <= 0)  # NaN input: NaN out, not the r = 0 value 1
    z_safe = jnp.where(positive, z, 1)
    log_k = (
        (1 - nu) * math.log(2)
        - jax.lax.lgamma(jnp.asarray(nu, z.dtype))
        + nu * jnp.log(z_safe)
        + log_kv(nu, z_safe)
    )
    return variance * jnp.where(positive, jnp.exp(log_k), jnp.where(jnp.isnan(z), z, 1))


def product_matern(
    x: Point, y: Point, *, nu: float, lengthscale: PerDim = 1.0, variance: ArrayLike = 1.0
) -> Scalar:
    r"""Product of one-dimensional Matérn-$\nu$ kernels, one per coordinate.

    $$k(x, y) = \sigma^2 \prod_{i=1}^{d} m_\nu\left(\frac{|x_i - y_i|}{\ell_i}\right),$$
    with $m_\nu$ the unit Matérn correlation ($m_{1/2}(r) = e^{-r}$, ...). In one dimension
    it is the isotropic Matérn kernel; on a box its integrals factorise over coordinates,
    which is what Bayesian quadrature on a box needs.

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
    profile = MATERN_PROFILES[check_nu(nu)]
    _check(lengthscale, variance)
    check_per_dim("lengthscale", lengthscale, jnp.shape(x))
    diff = (jnp.asarray(x) - jnp.asarray(y)) / lengthscale
    return variance * jnp.prod(profile(diff * diff))
