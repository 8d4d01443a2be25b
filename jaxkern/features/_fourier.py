r"""Random Fourier features of stationary kernels, and positive random features of softmax.

Frequencies are drawn once (`spectral_frequencies`) and then shared by every feature map that
should agree on them, so $\phi(x)^\top \phi(y)$ is an unbiased estimate of the kernel.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from .._validation import check_ndim, check_per_dim, check_positive
from ..kernels import spectral_frequencies as spectral_frequencies


def fourier_features(
    X: Float[Array, "n d"],
    frequencies: Float[Array, "m d"],
    *,
    lengthscale: Float[ArrayLike, "*d"] = 1.0,
    variance: ArrayLike = 1.0,
) -> Float[Array, "n 2m"]:
    r"""Random Fourier features, whose inner products estimate a stationary kernel.

    $$\phi(x) = \sqrt{\frac{\sigma^2}{m}}\,\bigl[\cos(\Omega (x / \ell)),\,
      \sin(\Omega (x / \ell))\bigr], \qquad
      \phi(x)^\top \phi(y) = \frac{\sigma^2}{m} \sum_{i=1}^m \cos\bigl(\omega_i^\top
      (x - y) / \ell\bigr) \approx k(x, y).$$
    Frequencies from [`spectral_frequencies`][jaxkern.kernels.spectral_frequencies] with
    `spectrum="rbf"` give the [`rbf`][jaxkern.kernels.rbf] kernel with the same ARD
    `lengthscale` and `variance`; `"matern32"` gives `jaxkern.kernels.matern32`, and so on.

    **Arguments:**

    - `X`: points, shape (n, d).
    - `frequencies`: $\Omega$, shape (m, d), from
      [`spectral_frequencies`][jaxkern.kernels.spectral_frequencies].
    - `lengthscale`: $\ell > 0$, scalar or shape (d,).
    - `variance`: $\sigma^2 > 0$.

    **Returns:** the features, shape (n, 2m), in the dtype of `X`.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxkern.features import fourier_features, spectral_frequencies
        >>> W = spectral_frequencies(2, key=jax.random.key(0), num_features=4)
        >>> phi = fourier_features(jnp.zeros((3, 2)), W)
        >>> round(float(phi[0] @ phi[1]), 6)  # k(x, x) = variance, exactly
        1.0

    Rahimi & Recht, *Random Features for Large-Scale Kernel Machines*, NeurIPS 2007.
    """
    check_ndim("X", X, 2, "(n, d)")
    check_ndim("frequencies", frequencies, 2, "(m, d)")
    if X.shape[-1] != frequencies.shape[-1]:
        raise ValueError(f"`X` and `frequencies` must have the same feature dimension, got "
                         f"shapes {X.shape} and {frequencies.shape}.")
    check_positive("lengthscale", lengthscale)
    check_per_dim("lengthscale", lengthscale, X.shape, "`X`")
    check_positive("variance", variance)
    proj = (X / jnp.reshape(lengthscale, (1, -1))) @ frequencies.astype(X.dtype).T
    scale = jnp.sqrt(variance / frequencies.shape[0])
    return scale * jnp.concatenate([jnp.cos(proj), jnp.sin(proj)], axis=-1)


def softmax_logits(
    X: Float[Array, "n d"], frequencies: Float[Array, "m d"], *, hyperbolic: bool = False
) -> Float[Array, "n M"]:
    r"""The logarithms of FAVOR+ features, before the $1/\sqrt{M}$ scale: $\Omega x - |x|^2/2$.

    Kept apart so that attention can subtract a maximum before exponentiating.
    """
    check_ndim("X", X, 2, "(n, d)")
    check_ndim("frequencies", frequencies, 2, "(m, d)")
    if X.shape[-1] != frequencies.shape[-1]:
        raise ValueError(f"`X` and `frequencies` must have the same feature dimension, got "
                         f"shapes {X.shape} and {frequencies.shape}.")
    proj = X @ frequencies.astype(X.dtype).T
    half_sq = 0.5 * jnp.sum(X * X, axis=-1, keepdims=True)
    if hyperbolic:
        proj = jnp.concatenate([proj, -proj], axis=-1)
    return proj - half_sq


def softmax_features(
    X: Float[Array, "n d"], frequencies: Float[Array, "m d"], *, hyperbolic: bool = False
) -> Float[Array, "n M"]:
    r"""FAVOR+ positive random features of the softmax kernel $\exp(x^\top y)$.

    With $\omega_i \sim \mathcal N(0, I)$,
    $$\phi^+(x) = \frac{e^{-|x|^2/2}}{\sqrt m}\bigl[e^{\omega_i^\top x}\bigr]_{i=1}^m, \qquad
      \phi^{\mathrm{hyp}}(x) = \frac{e^{-|x|^2/2}}{\sqrt{2m}}\bigl[e^{\omega_i^\top x},
      e^{-\omega_i^\top x}\bigr]_{i=1}^m,$$
    and $\mathbb E[\phi(x)^\top \phi(y)] = \exp(x^\top y)$ for both. The features are
    positive, so estimated attention normalisers never vanish or change sign; the hyperbolic
    variant has lower variance for the same draws.

    **Arguments:**

    - `X`: points, shape (n, d).
    - `frequencies`: shape (m, d), from
      `spectral_frequencies(d, spectrum="rbf", ...)` (iid or orthogonal).
    - `hyperbolic`: the $\cosh$-type variant with $M = 2m$ features.

    **Returns:** the features, shape (n, M) with $M = m$ or $2m$.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxkern.features import softmax_features, spectral_frequencies
        >>> W = spectral_frequencies(2, key=jax.random.key(0), num_features=8)
        >>> bool(jnp.all(softmax_features(jnp.ones((3, 2)), W) > 0))
        True

    Choromanski et al., *Rethinking Attention with Performers*, ICLR 2021, Lemma 1.
    """
    logits = softmax_logits(X, frequencies, hyperbolic=hyperbolic)
    return jnp.exp(logits) / math.sqrt(logits.shape[-1])
