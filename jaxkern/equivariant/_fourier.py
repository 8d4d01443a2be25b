r"""Spherical-harmonic coefficients <-> 2D Fourier coefficients on the $(\theta, \phi)$ torus.

Every $Y_{lm}$ extends from the sphere to the torus $[0, 2\pi)^2$ as a trigonometric
polynomial: its $\theta$ part $t_{l|m|}(\theta) = \sqrt{2 - \delta_{m0}}\,\bar P_l^{|m|}(\cos\theta)
\sin^{|m|}\theta$ has frequencies $|u| \le l$, and its $\phi$ part lives only at $v = \pm m$. So

$$f = \sum_{lm} c_{lm} Y_{lm} = \sum_{|u|, |v| \le L} F_{uv}\, e^{i(u\theta + v\phi)},$$

and since $f$ is real, $F_{u,-v} = \overline{F_{-u,v}}$: the half $v \ge 0$ (`H` below) holds
everything, as `numpy.fft.rfft2` stores it. Forward ($O(L^3)$):
$H_{uk} = \sum_l \hat t_{lk}(u)\, z_{lk}$ with $z_{lk} = (c_{lk} - i c_{l,-k})/2$ for $k > 0$ and
$z_{l0} = c_{l0}$. Back, by $c_{lm} = \int f\, Y_{lm}\, d\Omega$ with
$\int_0^\pi e^{in\theta}\sin\theta\, d\theta = 2/(1 - n^2)$ ($n$ even), $\pm i\pi/2$ ($n = \pm1$),
0 otherwise: $S_{kl} = \pi \sum_u I_{lk}(u) H_{uk}$, $c_{lk} = 2\,\mathrm{Re}\, S_{kl}$,
$c_{l,-k} = -2\,\mathrm{Im}\, S_{kl}$. Both tables are exact, float64, cached per size.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Complex, Float

from ._harmonics import check_lmax, degree_of, real_harmonics


def complex_dtype(dtype):
    """complex128 for float64 input, complex64 otherwise."""
    return jnp.complex128 if jnp.dtype(dtype) == jnp.float64 else jnp.complex64


@functools.cache
def _theta_spectrum(lmax: int) -> np.ndarray:
    """$\\hat t_{lk}(u)$ as an array [k, l, u], u centred (index u + lmax), zero for l < k."""
    n = 2 * lmax + 2  # more samples than frequencies: the FFT is exact
    theta = 2 * np.pi * np.arange(n) / n
    # At (sin t, 0, cos t) the azimuth is 0, so Y_{l,k} (k >= 0) is t_{lk}(t) on all of the torus.
    values = real_harmonics(np.sin(theta), np.zeros(n), np.cos(theta), lmax, xp=np)
    table = np.zeros((lmax + 1, lmax + 1, 2 * lmax + 1), np.complex128)
    for ell in range(lmax + 1):
        for k in range(ell + 1):
            spec = np.fft.fft(values[ell * ell + ell + k]) / n
            table[k, ell] = np.concatenate([spec[n - lmax:], spec[: lmax + 1]])
    return table


@functools.cache
def forward_table(lmax: int) -> np.ndarray:
    """[k, l, u] with $H_{uk} = \\sum_l T_{klu} z_{lk}$ (the 1/2 of $\\cos, \\sin$ folded in)."""
    table = _theta_spectrum(lmax).copy()
    table[1:] *= 0.5
    return table


@functools.cache
def back_table(lmax: int, umax: int) -> np.ndarray:
    """[k, l, u] (u centred, $|u| \\le$ umax) with $S_{kl} = \\sum_u W_{klu} H_{uk}$."""
    spec = _theta_spectrum(lmax)  # [k, l, w], w in -lmax..lmax
    u = np.arange(-umax, umax + 1)
    w = np.arange(-lmax, lmax + 1)
    n = u[:, None] + w[None, :]
    # K(n) = int_0^pi exp(i n theta) sin(theta) dtheta.
    even = n % 2 == 0
    kernel = np.where(even, 2.0 / np.where(even, 1 - n * n, 1), 0).astype(np.complex128)
    kernel[n == 1] = 0.5j * np.pi
    kernel[n == -1] = -0.5j * np.pi
    return np.pi * np.einsum("klw,uw->klu", spec, kernel)


@functools.cache
def gather_index(lmax: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices of $c_{l,k}$ and $c_{l,-k}$ as [k, l] arrays; missing entries point at an
    appended zero (index (lmax+1)**2)."""
    zero = (lmax + 1) ** 2
    pos = np.full((lmax + 1, lmax + 1), zero)
    neg = np.full((lmax + 1, lmax + 1), zero)
    for ell in range(lmax + 1):
        for k in range(ell + 1):
            pos[k, ell] = ell * ell + ell + k
            if k:
                neg[k, ell] = ell * ell + ell - k
    return pos, neg


@functools.cache
def scatter_index(lmax: int) -> np.ndarray:
    """For each flat (l, m): its place in concat(Re part [k, l], Im part [k, l]) flattened."""
    size = (lmax + 1) ** 2
    index = np.zeros(size, np.int64)
    for ell in range(lmax + 1):
        for m in range(-ell, ell + 1):
            k = abs(m)
            index[ell * ell + ell + m] = (size if m < 0 else 0) + k * (lmax + 1) + ell
    return index


def half_spectrum(x: Float[Array, "*batch n"], lmax: int) -> Complex[Array, "*batch u k"]:
    """$H_{uk}$, shape (..., 2 lmax + 1, lmax + 1), u centred."""
    pos, neg = gather_index(lmax)
    padded = jnp.concatenate([x, jnp.zeros(x.shape[:-1] + (1,), x.dtype)], axis=-1)
    z = jax.lax.complex(padded[..., pos], -padded[..., neg])
    table = jnp.asarray(forward_table(lmax), dtype=complex_dtype(x.dtype))
    return jnp.einsum("...kl,klu->...uk", z, table)


def from_half_spectrum(h: Complex[Array, "*batch u k"], lmax: int) -> Float[Array, "*batch n"]:
    """Coefficients up to `lmax` from $H_{uk}$ with u centred and at least lmax + 1 columns."""
    umax = (h.shape[-2] - 1) // 2
    table = jnp.asarray(back_table(lmax, umax), dtype=h.dtype)
    s = jnp.einsum("...uk,klu->...kl", h[..., : lmax + 1], table)
    flat = jnp.concatenate(
        [2 * jnp.real(s).reshape(s.shape[:-2] + (-1,)),
         -2 * jnp.imag(s).reshape(s.shape[:-2] + (-1,))], axis=-1
    )
    return flat[..., scatter_index(lmax)]


def as_coefficients(name: str, x) -> Array:
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.result_type(float))
    degree_of(name, x)
    return x


def sh_to_fourier(x: Float[ArrayLike, "*batch n"]) -> Complex[Array, "*batch u v"]:
    r"""2D Fourier coefficients on the $(\theta, \phi)$ torus of a function given by its
    spherical-harmonic coefficients.

    $$\sum_{l \le L} \sum_{m} x_{lm} Y_{lm}(\theta, \phi)
      = \sum_{u=-L}^{L} \sum_{v=-L}^{L} F_{uv}\, e^{i(u\theta + v\phi)},$$
    where $Y_{lm}$ contributes only to $v = \pm m$ and $|u| \le l$. Cost $O(L^3)$ through a
    constant float64 table built once per $L$.

    **Arguments:**

    - `x`: coefficients, shape (..., (L+1)**2).

    **Returns:** $F$, shape (..., 2L+1, 2L+1), index $[u + L, v + L]$; complex64 for float32
    input, complex128 for float64.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.equivariant import sh_to_fourier
        >>> F = sh_to_fourier(jnp.array([0.0, 0.0, 1.0, 0.0]))  # Y_10 = sqrt(3/4pi) cos(theta)
        >>> tuple(round(float(v), 6) + 0.0 for v in F[:, 1].real)  # F_{u0}, u = -1, 0, 1
        (0.244301, 0.0, 0.244301)

    Luo, Chen & Zhang, "Enabling Efficient Equivariant Operations in the Fourier Basis via
    Gaunt Tensor Products", ICLR 2024, Section 3.2.
    """
    x = as_coefficients("x", x)
    lmax = degree_of("x", x)
    h = half_spectrum(x, lmax)
    # F[u, -k] = conj(F[-u, k]): mirror the u axis and the k >= 1 columns.
    mirrored = jnp.conj(jnp.flip(h[..., 1:], axis=(-2, -1)))
    return jnp.concatenate([mirrored, h], axis=-1)


def fourier_to_sh(
    f: Complex[ArrayLike, "*batch u v"], *, lmax: int
) -> Float[Array, "*batch n"]:
    r"""Spherical-harmonic coefficients of a real function given by 2D Fourier coefficients.

    $$x_{lm} = \int_{S^2} f\, Y_{lm}\, d\Omega, \qquad
      f(\theta, \phi) = \sum_{uv} F_{uv}\, e^{i(u\theta + v\phi)},$$
    evaluated exactly term by term ($\int_0^\pi e^{in\theta}\sin\theta\, d\theta$ in closed
    form), $O(U L^2)$. The inverse of [`sh_to_fourier`][jaxkern.equivariant.sh_to_fourier] up
    to degree $L$; for a band-limited $f$ of higher degree it is the orthogonal projection.

    **Arguments:**

    - `f`: shape (..., 2U+1, 2V+1), index $[u + U, v + V]$, Hermitian
      ($F_{-u,-v} = \overline{F_{uv}}$, a real function); only the columns $v \ge 0$ are read.
    - `lmax`: the largest output degree, at most $V$ (static).

    **Returns:** shape (..., (lmax+1)**2), the real dtype matching `f`.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.equivariant import fourier_to_sh, sh_to_fourier
        >>> x = jnp.array([1.0, 2.0, 3.0, 4.0])
        >>> [round(v, 5) for v in fourier_to_sh(sh_to_fourier(x), lmax=1).tolist()]
        [1.0, 2.0, 3.0, 4.0]

    Luo, Chen & Zhang (ICLR 2024), Section 3.2.
    """
    lmax = check_lmax("lmax", lmax)
    f = jnp.asarray(f)
    if f.ndim < 2 or f.shape[-2] % 2 == 0 or f.shape[-1] % 2 == 0:
        raise ValueError(
            f"`f` must have shape (..., 2U+1, 2V+1) (odd sizes, centred), got shape {f.shape}."
        )
    vmax = (f.shape[-1] - 1) // 2
    if lmax > vmax:
        raise ValueError(f"`lmax` must be at most V = {vmax} for `f` of shape {f.shape}, "
                         f"got {lmax}.")
    if not jnp.issubdtype(f.dtype, jnp.complexfloating):
        f = f.astype(complex_dtype(f.dtype))
    return from_half_spectrum(f[..., vmax:], lmax)
