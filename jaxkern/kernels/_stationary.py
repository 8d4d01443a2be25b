r"""Stationary kernels $k(x, y) = k(x - y)$ on one pair of points.

Every function takes two points of shape (d,) and keyword-only hyperparameters. Lengthscales
(and periods) are a scalar or one per dimension (ARD). Distances go through
[`safe_sqrt`][jaxkern.special.safe_sqrt], so value and gradient are finite at $r = 0$.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from .._validation import check_positive
from ..special import safe_sqrt

Point = Float[ArrayLike, " d"]
Scalar = Float[Array, ""]
PerDim = Float[ArrayLike, "*d"]


def scaled_sqdist(x: Point, y: Point, lengthscale: PerDim) -> Scalar:
    r"""$r^2 = \sum_i (x_i - y_i)^2 / \ell_i^2$, the squared distance every ARD kernel uses."""
    diff = (jnp.asarray(x) - jnp.asarray(y)) / lengthscale
    return jnp.sum(diff * diff)


# Radial profiles: each kernel below as a function of the scaled squared distance r^2. The
# pairwise functions and the modules' vectorised Gram path both evaluate these.


def rbf_profile(r2):
    return jnp.exp(-0.5 * r2)


def matern12_profile(r2):
    return jnp.exp(-safe_sqrt(r2))


def matern32_profile(r2):
    s = math.sqrt(3.0) * safe_sqrt(r2)
    return (1 + s) * jnp.exp(-s)


def matern52_profile(r2):
    s = math.sqrt(5.0) * safe_sqrt(r2)
    return (1 + s + (5.0 / 3.0) * r2) * jnp.exp(-s)


def rational_quadratic_profile(r2, alpha):
    return jnp.power(1 + r2 / (2 * alpha), -alpha)


def _check(lengthscale, variance) -> None:
    check_positive("lengthscale", lengthscale)
    check_positive("variance", variance)


def rbf(x: Point, y: Point, *, lengthscale: PerDim = 1.0, variance: ArrayLike = 1.0) -> Scalar:
    r"""Squared-exponential (RBF) kernel.

    $$k(x, y) = \sigma^2 \exp\left(-\tfrac{1}{2} r^2\right), \qquad
      r^2 = \sum_i \frac{(x_i - y_i)^2}{\ell_i^2}.$$

    **Arguments:**

    - `x`, `y`: points of shape (d,).
    - `lengthscale`: $\ell$, a positive scalar or shape (d,) (ARD).
    - `variance`: $\sigma^2 > 0$.

    **Returns:** the scalar $k(x, y)$.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxkern.kernels import rbf
        >>> round(float(rbf(jnp.array([0.0]), jnp.array([1.0]), lengthscale=2.0)), 6)
        0.882497

    Rasmussen & Williams, *Gaussian Processes for Machine Learning* (2006), eq. 4.9.
    """
    _check(lengthscale, variance)
    return variance * rbf_profile(scaled_sqdist(x, y, lengthscale))


def matern12(
    x: Point, y: Point, *, lengthscale: PerDim = 1.0, variance: ArrayLike = 1.0
) -> Scalar:
    r"""Matérn-1/2 (exponential, Ornstein–Uhlenbeck) kernel, $k = \sigma^2 e^{-r}$.

    The kernel has a cusp at $r = 0$; its gradient there is returned as 0 (a subgradient).

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
        >>> import jax.numpy as jnp
        >>> from jaxkern.kernels import matern52
        >>> round(float(matern52(jnp.array([0.0]), jnp.array([1.0]))), 6)
        0.523994

    Rasmussen & Williams (2006), eq. 4.17.
    """
    _check(lengthscale, variance)
    return variance * matern52_profile(scaled_sqdist(x, y, lengthscale))


def rational_quadratic(
    x: Point,
    y: Point,
    *,
    lengthscale: PerDim = 1.0,
    variance: ArrayLike = 1.0,
    alpha: ArrayLike = 1.0,
) -> Scalar:
    r"""Rational-quadratic kernel, a scale mixture of RBF kernels.

    $$k(x, y) = \sigma^2 \left(1 + \frac{r^2}{2\alpha}\right)^{-\alpha},$$
    which tends to the RBF kernel as $\alpha \to \infty$.

    **Arguments:** as [`rbf`][jaxkern.kernels.rbf], plus `alpha` $> 0$, the shape parameter.

    **Returns:** the scalar $k(x, y)$.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxkern.kernels import rational_quadratic
        >>> round(float(rational_quadratic(jnp.array([0.0]), jnp.array([1.0]), alpha=2.0)), 6)
        0.64

    Rasmussen & Williams (2006), eq. 4.19.
    """
    _check(lengthscale, variance)
    check_positive("alpha", alpha)
    return variance * rational_quadratic_profile(scaled_sqdist(x, y, lengthscale), alpha)


def periodic(
    x: Point,
    y: Point,
    *,
    lengthscale: PerDim = 1.0,
    variance: ArrayLike = 1.0,
    period: PerDim = 1.0,
) -> Scalar:
    r"""Periodic (exp-sine-squared) kernel, a product over dimensions.

    $$k(x, y) = \sigma^2 \exp\left(-2 \sum_i
        \frac{\sin^2(\pi (x_i - y_i) / p_i)}{\ell_i^2}\right).$$

    In one dimension this is MacKay's kernel (scikit-learn's ``ExpSineSquared``).

    **Arguments:** as [`rbf`][jaxkern.kernels.rbf], plus `period` $p > 0$, scalar or (d,).

    **Returns:** the scalar $k(x, y)$.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxkern.kernels import periodic
        >>> round(float(periodic(jnp.array([0.0]), jnp.array([3.0]), period=3.0)), 6)
        1.0

    MacKay, *Introduction to Gaussian processes* (1998); Rasmussen & Williams (2006), eq. 4.31.
    """
    _check(lengthscale, variance)
    check_positive("period", period)
    s = jnp.sin(jnp.pi * (jnp.asarray(x) - jnp.asarray(y)) / period) / lengthscale
    return variance * jnp.exp(-2 * jnp.sum(s * s))


def cosine(x: Point, y: Point, *, period: PerDim = 1.0, variance: ArrayLike = 1.0) -> Scalar:
    r"""Cosine kernel, a single spectral line.

    $$k(x, y) = \sigma^2 \cos\left(2\pi \sum_i \frac{x_i - y_i}{p_i}\right),$$
    positive semi-definite because its spectrum is two point masses at $\pm 1/p$.

    **Arguments:**

    - `x`, `y`: points of shape (d,).
    - `period`: $p > 0$, scalar or shape (d,).
    - `variance`: $\sigma^2 > 0$.

    **Returns:** the scalar $k(x, y)$.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxkern.kernels import cosine
        >>> round(float(cosine(jnp.array([0.0]), jnp.array([0.5]))), 6)
        -1.0
    """
    check_positive("period", period)
    check_positive("variance", variance)
    phase = jnp.sum((jnp.asarray(x) - jnp.asarray(y)) / period)
    return variance * jnp.cos(2 * jnp.pi * phase)


def spectral_mixture(
    x: Point,
    y: Point,
    *,
    weights: Float[ArrayLike, " q"],
    means: Float[ArrayLike, "q d"],
    variances: Float[ArrayLike, "q d"],
) -> Scalar:
    r"""Spectral-mixture kernel: a Gaussian mixture spectral density, transformed.

    With $\tau = x - y$,
    $$k(\tau) = \sum_{q=1}^{Q} w_q \cos(2\pi \tau^\top \mu_q)
        \prod_{p=1}^{d} \exp\left(-2\pi^2 \tau_p^2 v_{q p}\right),$$
    the Fourier transform of $\sum_q w_q [\mathcal N(\mu_q, V_q) + \mathcal N(-\mu_q, V_q)] / 2$.

    **Arguments:**

    - `x`, `y`: points of shape (d,).
    - `weights`: $w_q > 0$, shape (Q,).
    - `means`: spectral means (frequencies) $\mu_q$, shape (Q, d).
    - `variances`: spectral variances $v_{qp} > 0$ (inverse squared lengthscales over
      $4\pi^2$), shape (Q, d).

    **Returns:** the scalar $k(x, y)$.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxkern.kernels import spectral_mixture
        >>> x = jnp.array([0.3])
        >>> float(spectral_mixture(x, x, weights=jnp.array([0.5, 1.5]),
        ...       means=jnp.array([[1.0], [3.0]]), variances=jnp.array([[0.1], [0.2]])))
        2.0

    Wilson & Adams, *Gaussian Process Kernels for Pattern Discovery and Extrapolation*,
    ICML 2013, eq. 12.
    """
    check_positive("weights", weights)
    check_positive("variances", variances)
    tau = jnp.asarray(x) - jnp.asarray(y)
    envelope = jnp.exp(-2 * jnp.pi**2 * jnp.sum(tau[None, :] ** 2 * variances, axis=-1))
    return jnp.sum(weights * envelope * jnp.cos(2 * jnp.pi * (means @ tau)))
