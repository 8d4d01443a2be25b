r"""Spectral densities of the stationary kernels, as samplers of their frequencies.

By Bochner's theorem a stationary kernel is the Fourier transform of a spectral density; a
kernel's random features, its private sums (`density`) and its kernelized attention
(`features`) all draw their frequencies here, so each spectrum is written once.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .._validation import check_int

#: A sampler of unit-lengthscale spectral frequencies: `sample(key, m, d, dtype) -> (m, d)`.
Spectrum = Callable[[PRNGKeyArray, int, int, jnp.dtype], Array]


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
    `jaxkern.features.fourier_features` does).

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
        >>> from jaxkern.kernels import spectral_frequencies
        >>> W = spectral_frequencies(3, key=jax.random.key(0), num_features=6, orthogonal=True)
        >>> W.shape
        (6, 3)

    Rahimi & Recht, *Random Features for Large-Scale Kernel Machines*, NeurIPS 2007;
    Yu et al., *Orthogonal Random Features*, NeurIPS 2016.
    """
    check_int("num_features", num_features, 1)
    check_int("d", d, 1)
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
