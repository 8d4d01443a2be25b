r"""Gaunt coefficients and the Gaunt tensor product by 2D FFT on the sphere's torus.

The Gaunt tensor product of two spherical-harmonic expansions is the expansion of their
pointwise product,
$$(x \otimes_G y)_{l_3 m_3} = \sum G^{l_3 m_3}_{l_1 m_1, l_2 m_2}\, x_{l_1 m_1} y_{l_2 m_2},
\qquad G^{l_3 m_3}_{l_1 m_1, l_2 m_2} = \int_{S^2} Y_{l_1 m_1} Y_{l_2 m_2} Y_{l_3 m_3}\,d\Omega.$$
Written directly it costs $O(L^6)$. In the 2D Fourier basis of the torus the pointwise product
is a convolution, done here by zero-padded FFTs: $O(L^3)$ for the two basis changes and
$O(L^2 \log L)$ for the FFTs (Luo, Chen & Zhang, ICLR 2024).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from .._validation import check_int
from ._fourier import (
    as_coefficients,
    back_table,
    forward_table,
    gather_index,
    scatter_index,
)
from ._harmonics import check_lmax, degree_of, real_harmonics, sphere_quadrature


@functools.cache
def _gaunt_table(lmax1: int, lmax2: int, lmax3: int) -> np.ndarray:
    nodes, weights = sphere_quadrature(lmax1 + lmax2 + lmax3)
    y1, y2, y3 = (np.stack(real_harmonics(*nodes.T, lmax, xp=np), -1)
                  for lmax in (lmax1, lmax2, lmax3))
    table = np.einsum("q,qi,qj,qk->ijk", weights, y1, y2, y3)
    # Selection rules, so that the zeros the maths promises are exact zeros.
    d1, d2, d3 = (np.repeat(np.arange(lmax + 1), 2 * np.arange(lmax + 1) + 1)
                  for lmax in (lmax1, lmax2, lmax3))
    l1, l2, l3 = d1[:, None, None], d2[None, :, None], d3[None, None, :]
    allowed = ((l1 + l2 + l3) % 2 == 0) & (l3 <= l1 + l2) & (l3 >= np.abs(l1 - l2))
    table = np.where(allowed, table, 0.0)
    table.setflags(write=False)
    return table


def gaunt_coefficients(lmax1: int, lmax2: int, lmax3: int) -> np.ndarray:
    r"""All real Gaunt coefficients up to the given degrees, as a float64 NumPy array.

    $$G_{ijk} = \int_{S^2} Y_i(\hat r)\, Y_j(\hat r)\, Y_k(\hat r)\, d\Omega,$$
    with $i, j, k$ flat indices $l^2 + l + m$ in this module's real convention ($z$ polar, no
    Condon–Shortley phase). Computed by a quadrature that is exact for the integrand's degree
    (Gauss–Legendre in $\cos\theta$, trapezoid in $\phi$), with the selection rules ($l_1 + l_2 +
    l_3$ even, triangle inequality) applied as exact zeros; cached and read-only.

    **Arguments:**

    - `lmax1`, `lmax2`, `lmax3`: the largest degree on each of the three axes.

    **Returns:** shape ((lmax1+1)**2, (lmax2+1)**2, (lmax3+1)**2), float64.

    Example:
        >>> from jaxkern.equivariant import gaunt_coefficients
        >>> G = gaunt_coefficients(2, 2, 2)
        >>> round(float(G[0, 0, 0]), 8), round(float(G[2, 2, 6]), 8)  # (00,00,00), (10,10,20)
        (0.28209479, 0.25231325)

    Luo, Chen & Zhang (ICLR 2024), eq. (2); Homeier & Steinborn, J. Mol. Struct. 368 (1996).
    """
    for name, value in (("lmax1", lmax1), ("lmax2", lmax2), ("lmax3", lmax3)):
        check_lmax(name, value)
    return _gaunt_table(int(lmax1), int(lmax2), int(lmax3))


@functools.cache
def fft_size(n: int) -> int:
    """The smallest 2^a 3^b 5^c >= n, a fast FFT length."""
    m = n
    while True:
        k = m
        for p in (2, 3, 5):
            while k % p == 0:
                k //= p
        if k == 1:
            return m
        m += 1


def _theta(n: int) -> np.ndarray:
    return 2 * np.pi * np.arange(n) / n


@functools.cache
def synthesis_table(lmax: int, n: int) -> np.ndarray:
    """[k, l, j]: the forward Fourier table composed with the inverse DFT in theta, at the
    rows theta_j = 2 pi j / n, j = 0..n/2 (the torus symmetry makes the other rows redundant).

    Real, since each theta part t_lk(theta) is a real function.
    """
    u = np.arange(-lmax, lmax + 1)
    table = np.einsum("klu,ju->klj", forward_table(lmax),
                      np.exp(1j * np.outer(_theta(n)[: n // 2 + 1], u)))
    return np.ascontiguousarray(table.real)


@functools.cache
def analysis_table(lmax: int, umax: int, n: int) -> np.ndarray:
    """[k, l, j]: the back Fourier table composed with the DFT in theta (n points, exact for
    theta frequencies up to umax < n / 2), folded onto the rows j = 0..n/2.

    On the torus g(2 pi - theta, phi + pi) = g(theta, phi), so the phi coefficient k of row
    n - j is (-1)^k times that of row j, and rows past n/2 fold into their mirror rows.
    """
    u = np.arange(-umax, umax + 1)
    omega = np.einsum("klu,ju->klj", back_table(lmax, umax),
                      np.exp(-1j * np.outer(_theta(n), u))).real / n
    half = n // 2
    folded = omega[..., : half + 1].copy()
    sign = (-1.0) ** np.arange(lmax + 1)
    folded[..., 1:half] += sign[:, None, None] * omega[..., n - 1: half: -1]
    return folded


def torus_values(
    x: Float[Array, "*batch n"], lmax: int, n_theta: int, n_phi: int
) -> Float[Array, "*batch rows n_phi"]:
    """The function with coefficients `x` on the torus grid rows theta_j = 2 pi j / n_theta,
    j = 0..n_theta/2, and n_phi equispaced phi (phi by a real inverse FFT)."""
    pos, neg = gather_index(lmax)
    padded = jnp.concatenate([x, jnp.zeros(x.shape[:-1] + (1,), x.dtype)], axis=-1)
    # exp(i k phi) coefficient (c_{l,k} - i c_{l,-k}) / 2: real and imaginary parts apart.
    parts = jnp.stack([padded[..., pos], -padded[..., neg]], axis=-3)
    table = jnp.asarray(synthesis_table(lmax, n_theta), dtype=x.dtype)
    a = jnp.einsum("...skl,klj->...sjk", parts, table)
    spec = jax.lax.complex(a[..., 0, :, :], a[..., 1, :, :])
    pad = [(0, 0)] * (spec.ndim - 1) + [(0, n_phi // 2 - lmax)]
    return jnp.fft.irfft(jnp.pad(spec, pad), n=n_phi, norm="forward")


def torus_to_sh(
    values: Float[Array, "*batch rows n_phi"], umax: int, lmax: int, n_theta: int
) -> Float[Array, "*batch n"]:
    """Coefficients up to `lmax` of a torus function of theta frequency at most `umax`,
    given on the rows of `torus_values` (phi by a real FFT)."""
    spec = jnp.fft.rfft(values, norm="forward")[..., : lmax + 1]
    parts = jnp.stack([jnp.real(spec), -jnp.imag(spec)], axis=-3)
    table = jnp.asarray(analysis_table(lmax, umax, n_theta), dtype=values.dtype)
    s = 2 * jnp.einsum("...sjk,klj->...skl", parts, table)
    return s.reshape(s.shape[:-3] + (-1,))[..., scatter_index(lmax)]


def grid_sizes(umax: int, lmax_out: int) -> tuple[int, int]:
    """(n_theta, n_phi) for an exact product of theta/phi frequency `umax` projected to
    `lmax_out`: n_theta even and > 2 umax; n_phi > umax + lmax_out (no aliasing below
    lmax_out) and > 2 lmax_out."""
    return 2 * umax + 2, fft_size(max(umax, lmax_out) + lmax_out + 1)


def _broadcast(x, y) -> tuple:
    try:
        batch = jnp.broadcast_shapes(x.shape[:-1], y.shape[:-1])
    except ValueError:
        raise ValueError(
            f"`x` and `y` must have broadcastable batch shapes (all but the last axis), got "
            f"shapes {x.shape} and {y.shape}."
        ) from None
    dtype = jnp.promote_types(x.dtype, y.dtype)
    return (jnp.broadcast_to(x, batch + x.shape[-1:]).astype(dtype),
            jnp.broadcast_to(y, batch + y.shape[-1:]).astype(dtype))


def gaunt_product(
    x: Float[ArrayLike, "*batch n1"],
    y: Float[ArrayLike, "*batch n2"],
    *,
    lmax_out: int | None = None,
    method: str = "fft",
) -> Float[Array, "*batch n3"]:
    r"""The Gaunt tensor product: the expansion of the pointwise product of two functions.

    $$\sum_{l \le L_3} (x \otimes_G y)_{lm} Y_{lm} = \Pi_{L_3}\Big[\Big(\sum x_{lm} Y_{lm}\Big)
      \Big(\sum y_{lm} Y_{lm}\Big)\Big], \qquad
      (x \otimes_G y)_k = \sum_{ij} G_{ijk}\, x_i\, y_j,$$
    with $\Pi_{L_3}$ the projection onto degrees $\le L_3$. Equivariant:
    $(D x) \otimes_G (D y) = D (x \otimes_G y)$ for the Wigner-D matrix $D$ of any rotation.
    `method="fft"` converts both inputs to 2D Fourier coefficients on the $(\theta, \phi)$
    torus ($O(L^3)$), multiplies on a zero-padded FFT grid (the convolution of the two
    spectra) and projects back ($O(L^3)$); `method="direct"` contracts with the dense Gaunt
    table ($O(L^6)$, a reference for small $L$).

    **Arguments:**

    - `x`: coefficients, shape (..., (L1+1)**2).
    - `y`: coefficients, shape (..., (L2+1)**2); the batch shapes (all but the last axis)
      broadcast, e.g. channels against a single edge harmonic.
    - `lmax_out`: $L_3$, the largest output degree; default $L_1 + L_2$, the exact product.
    - `method`: `"fft"` (default) or `"direct"`.

    **Returns:** shape (broadcast batch, (L3+1)**2), dtype of the inputs.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.equivariant import gaunt_product
        >>> x = jnp.array([0.0, 0.0, 1.0, 0.0])  # Y_10, proportional to z
        >>> # Y_10^2 = Y_00 / sqrt(4 pi) + 0.252 Y_20
        >>> tuple(round(float(v), 6) + 0.0 for v in gaunt_product(x, x))
        (0.282095, 0.0, 0.0, 0.0, 0.0, 0.0, 0.252313, 0.0, 0.0)

    Luo, Chen & Zhang, "Enabling Efficient Equivariant Operations in the Fourier Basis via
    Gaunt Tensor Products", ICLR 2024, Section 3.
    """
    x, y = as_coefficients("x", x), as_coefficients("y", y)
    lmax1, lmax2 = degree_of("x", x), degree_of("y", y)
    x, y = _broadcast(x, y)
    lmax_out = lmax1 + lmax2 if lmax_out is None else check_lmax("lmax_out", lmax_out)
    if method == "direct":
        table = jnp.asarray(gaunt_coefficients(lmax1, lmax2, lmax_out), dtype=x.dtype)
        return jnp.einsum("...i,...j,ijk->...k", x, y, table)
    if method != "fft":
        raise ValueError(f"`method` must be 'fft' or 'direct', got {method!r}.")
    return _fft_product(x, y, lmax1, lmax2, lmax_out)


# Jitted (static degrees) so that an eager call compiles once instead of op by op.
@functools.partial(jax.jit, static_argnums=(2, 3, 4))
def _fft_product(x, y, lmax1: int, lmax2: int, lmax_out: int):
    umax = lmax1 + lmax2
    n_theta, n_phi = grid_sizes(umax, lmax_out)
    values = torus_values(x, lmax1, n_theta, n_phi) * torus_values(y, lmax2, n_theta, n_phi)
    return torus_to_sh(values, umax, lmax_out, n_theta)


def gaunt_powers(
    x: Float[ArrayLike, "*batch n"], *, max_power: int, lmax_out: int | None = None
) -> Float[Array, "*batch max_power n_out"]:
    r"""All Gaunt powers $x, x^{\otimes_G 2}, \dots, x^{\otimes_G \nu}$ from one transform.

    $x^{\otimes_G \nu}$ is the expansion of $f^\nu$, $f = \sum x_{lm} Y_{lm}$: the many-body
    interaction of the paper, a $\nu$-fold repeated convolution in the Fourier basis that is a
    pointwise power on one FFT grid large enough for degree $\nu L$. One forward and one
    backward basis change serve all powers, so the cost is $O(\nu L^3)$ rather than the
    $O(L^{3\nu})$-and-more of nested Clebsch–Gordan products.

    **Arguments:**

    - `x`: coefficients, shape (..., (L+1)**2).
    - `max_power`: $\nu \ge 1$ (static).
    - `lmax_out`: largest output degree; default $\nu L$ (every power exact).

    **Returns:** shape (..., max_power, (lmax_out+1)**2); row $p - 1$ holds $x^{\otimes_G p}$
    projected to degree `lmax_out`.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.equivariant import gaunt_powers
        >>> c = 0.5 / 0.28209479177387814  # f = 1/2 everywhere on the sphere
        >>> p = gaunt_powers(jnp.array([c, 0.0, 0.0, 0.0]), max_power=3, lmax_out=0)
        >>> (p[:, 0] * 0.28209479177387814).round(6).tolist()  # f, f^2, f^3
        [0.5, 0.25, 0.125]

    Luo, Chen & Zhang (ICLR 2024), Section 3.3, "equivariant many-body interaction".
    """
    x = as_coefficients("x", x)
    lmax = degree_of("x", x)
    check_int("max_power", max_power, 1)
    lmax_out = max_power * lmax if lmax_out is None else check_lmax("lmax_out", lmax_out)
    return _powers(x, lmax, max_power, lmax_out)


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def _powers(x, lmax: int, max_power: int, lmax_out: int):
    umax = max_power * lmax
    n_theta, n_phi = grid_sizes(umax, lmax_out)
    values = torus_values(x, lmax, n_theta, n_phi)
    powers = [values]
    for _ in range(max_power - 1):
        powers.append(powers[-1] * values)
    return torus_to_sh(jnp.stack(powers, axis=-3), umax, lmax_out, n_theta)
