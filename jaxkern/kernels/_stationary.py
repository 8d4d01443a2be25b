r"""Stationary kernels $k(x, y) = k(x - y)$ on one pair of points.

Every function takes two points of shape (d,) and keyword-only hyperparameters. Lengthscales
(and periods) are a scalar or one per dimension (ARD). The Matérn family is in
`_matern.py`, the spectral and Student-t mixtures in `_mixture.py`.
"""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from .._validation import as_float, check_per_dim, check_positive

Point = Float[ArrayLike, " d"]
Scalar = Float[Array, ""]
PerDim = Float[ArrayLike, "*d"]


def scaled_sqdist(x: Point, y: Point, lengthscale: PerDim) -> Scalar:
    r"""$r^2 = \sum_i (x_i - y_i)^2 / \ell_i^2$, the squared distance every ARD kernel uses.

    `lengthscale` is a scalar or one per dimension, shape (d,); any other length is a
    `ValueError` (it would broadcast into a different kernel). `x` and `y` must be single
    points (at most 1-D) of the same dimension: a kernel on one pair of points given point
    sets would otherwise reduce them to one number (use [`gram`][jaxkern.kernels.gram]).
    """
    _check_point("x", x)
    _check_point("y", y)
    if jnp.shape(x)[-1:] != jnp.shape(y)[-1:] and jnp.ndim(x) and jnp.ndim(y):
        raise ValueError(
            f"`x` and `y` must have the same dimension, got shapes {jnp.shape(x)} and "
            f"{jnp.shape(y)}."
        )
    check_per_dim("lengthscale", lengthscale, jnp.shape(x))
    x, y = as_float(x, y)
    diff = (x - y) / lengthscale
    return jnp.sum(diff * diff)


def _check_point(name: str, x) -> None:
    if jnp.ndim(x) > 1:
        raise ValueError(
            f"`{name}` must be one point, shape (d,), got shape {jnp.shape(x)}; for point sets "
            "use `jaxkern.kernels.gram` or `kernel_matvec`."
        )


def scaled_sqdists(X: Array, Y: Array, lengthscale: PerDim) -> Array:
    r"""All $\|x_i - y_j\|^2 / \ell^2$ of two point sets through one matrix product (BLAS speed).

    Both sets are shifted by the mean of X first, so that the expansion
    $\|x\|^2 + \|y\|^2 - 2 x^\top y$ cancels little. What is left under its round-off floor,
    a few ulps of $\|x\|^2 + \|y\|^2$, is indistinguishable from 0 and set to 0: otherwise a
    coincident pair would come out at $r \approx \sqrt{\epsilon}$, which a Matérn-1/2 kernel
    turns into a $10^{-8}$ error on the diagonal. `lengthscale` is checked as in
    [`scaled_sqdist`][jaxkern.kernels.scaled_sqdist].

    A row of X or Y with a NaN or infinite entry gives NaN in its own row or column of the
    result and nowhere else: the shift is the mean of the finite rows of X only, and NaN is
    never clipped to 0 (see the sharp bits page).
    """
    check_per_dim("lengthscale", lengthscale, jnp.shape(X), "`X`")
    X, Y = as_float(X, Y)
    finite = jnp.all(jnp.isfinite(X), axis=1, keepdims=True)
    count = jnp.maximum(jnp.sum(finite), 1).astype(X.dtype)
    shift = jnp.sum(jnp.where(finite, X, 0), axis=0, keepdims=True) / count
    scale = jnp.atleast_1d(lengthscale)[None, :]
    Xs, Ys = (X - shift) / scale, (Y - shift) / scale
    norms = jnp.sum(Xs * Xs, axis=1)[:, None] + jnp.sum(Ys * Ys, axis=1)[None, :]
    r2 = norms - 2 * Xs @ Ys.T
    floor = 8 * jnp.finfo(r2.dtype).eps * norms
    r2 = jnp.where(r2 <= floor, 0, r2)
    # A non-finite row of X or of Y is NaN in its own row or column, and nowhere else.
    bad = ~finite | ~jnp.all(jnp.isfinite(Y), axis=1)[None, :]
    return jnp.where(bad, jnp.nan, r2)


# Radial profiles: each kernel as a function of the scaled squared distance r^2. The pairwise
# functions and the modules' vectorised Gram path both evaluate these (Matérn's are in _matern).


def rbf_profile(r2):
    return jnp.exp(-0.5 * r2)


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
    check_per_dim("lengthscale", lengthscale, jnp.shape(x))
    check_per_dim("period", period, jnp.shape(x))
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
    check_per_dim("period", period, jnp.shape(x))
    phase = jnp.sum((jnp.asarray(x) - jnp.asarray(y)) / period)
    return variance * jnp.cos(2 * jnp.pi * phase)
