r"""Random Fourier features of stationary kernels, and positive random features of softmax.

Frequencies are drawn once (`spectral_frequencies`) and then shared by every feature map that
should agree on them, so $\phi(x)^\top \phi(y)$ is an unbiased estimate of the kernel.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from .._validation import check_ndim, check_positive

#: A sampler of unit-lengthscale spectral frequencies: `sample(key, m, d, dtype) -> (m, d)`.
Spectrum = Callable[[PRNGKeyArray, int, int, jnp.dtype], Array]


def check_num_features(num_features) -> None:
    """Raise ``ValueError`` unless ``num_features`` is a positive Python int."""
    if not isinstance(num_features, int) or isinstance(num_features, bool) or num_features < 1:
        raise ValueError(f"`num_features` must be a positive int, got {num_features!r}.")


def _gaussian(key, m, d, dtype):
    return jax.random.normal(key, (m, d), dtype)


def _student_t(dof: int) -> Spectrum:
    # Matern-nu with r = |x - y| / l has spectral density prop. to (2 nu + |w|^2)^-(nu + d/2):
    # a multivariate Student t with 2 nu degrees of freedom, w = z sqrt(2 nu / g), g ~ chi2(2 nu).
    # For half-integer nu, 2 nu is an integer and g is a sum of 2 nu squared normals.
    def sample(key, m, d, dtype):
        kz, kg = jax.random.split(key)
        z = jax.random.normal(kz, (m, d), dtype)
        g = jnp.sum(jax.random.normal(kg, (m, dof), dtype) ** 2, axis=-1, keepdims=True)
        g = jnp.maximum(g, jnp.finfo(dtype).tiny)  # a chi2(1) draw can be 0 in float32
        return z * jnp.sqrt(dof / g)

    return sample


_SPECTRA: dict[str, Spectrum] = {
    "rbf": _gaussian,
    "matern12": _student_t(1),
    "matern32": _student_t(3),
    "matern52": _student_t(5),
}


def _orthogonal_directions(key, m: int, d: int, dtype) -> Array:
    """m unit rows, orthonormal within each block of d, each block Haar-distributed."""
    blocks = math.ceil(m / d)
    g = jax.random.normal(key, (blocks, d, d), dtype)
    q, r = jnp.linalg.qr(g)
    # The sign fix makes Q Haar-distributed (QR alone is biased by its sign convention).
    q = q * jnp.sign(jnp.diagonal(r, axis1=-2, axis2=-1))[:, None, :]
    return jnp.swapaxes(q, -1, -2).reshape(blocks * d, d)[:m]


def spectral_frequencies(
    d: int,
    *,
    key: PRNGKeyArray,
    num_features: int,
    spectrum: str | Spectrum = "rbf",
    orthogonal: bool = False,
    dtype=None,
) -> Float[Array, "m d"]:
    r"""Draw frequencies $\omega_1, \dots, \omega_m$ from a stationary kernel's spectral density.

    By Bochner's theorem a stationary kernel with $k(0) = 1$ is
    $k(x - y) = \mathbb E_{\omega \sim p}[\cos(\omega^\top (x - y))]$. The spectra are those of
    [`rbf`][jaxkern.kernels.rbf] ($p = \mathcal N(0, I)$) and the Matérn kernels
    (`jaxkern.kernels.matern12`, ...: a multivariate Student $t$ with $2\nu$
    degrees of freedom), all at unit lengthscale; divide inputs by the lengthscale (as
    [`fourier_features`][jaxkern.features.fourier_features] does).

    With `orthogonal=True` (Yu et al. 2016), each block of $d$ frequencies has orthogonal
    directions and keeps the radii of iid draws, so every $\omega_i$ has the same marginal law
    and the estimate stays unbiased, with lower variance. This needs an isotropic spectrum
    (true for all named ones).

    **Arguments:**

    - `d`: input dimension.
    - `key`: a PRNG key.
    - `num_features`: $m \ge 1$.
    - `spectrum`: `"rbf"`, `"matern12"`, `"matern32"`, `"matern52"`, or a callable
      `sample(key, m, d, dtype) -> (m, d)` drawing from any other spectral density.
    - `orthogonal`: orthogonal random features instead of iid.
    - `dtype`: float dtype of the result (default: JAX's default float).

    **Returns:** the frequencies, shape (m, d).

    Example:
        >>> import jax
        >>> from jaxkern.features import spectral_frequencies
        >>> W = spectral_frequencies(3, key=jax.random.key(0), num_features=6, orthogonal=True)
        >>> W.shape
        (6, 3)

    Rahimi & Recht, *Random Features for Large-Scale Kernel Machines*, NeurIPS 2007;
    Yu et al., *Orthogonal Random Features*, NeurIPS 2016.
    """
    check_num_features(num_features)
    if not isinstance(d, int) or d < 1:
        raise ValueError(f"`d` must be a positive int, got {d!r}.")
    if isinstance(spectrum, str):
        if spectrum not in _SPECTRA:
            raise ValueError(f"`spectrum` must be one of {sorted(_SPECTRA)} or a callable, "
                             f"got {spectrum!r}.")
        spectrum = _SPECTRA[spectrum]
    dtype = jnp.result_type(float) if dtype is None else dtype
    k_iid, k_dir = jax.random.split(key)
    w = spectrum(k_iid, num_features, d, dtype)
    if not orthogonal:
        return w
    radii = jnp.sqrt(jnp.sum(w * w, axis=-1, keepdims=True))
    return radii * _orthogonal_directions(k_dir, num_features, d, dtype)


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
    Frequencies from `spectral_frequencies(spectrum="rbf")` give the
    [`rbf`][jaxkern.kernels.rbf] kernel with the same ARD `lengthscale` and `variance`;
    `"matern32"` gives `jaxkern.kernels.matern32`, and so on.

    **Arguments:**

    - `X`: points, shape (n, d).
    - `frequencies`: $\Omega$, shape (m, d), from
      [`spectral_frequencies`][jaxkern.features.spectral_frequencies].
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
