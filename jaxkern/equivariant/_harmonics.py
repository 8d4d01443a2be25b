r"""Real spherical harmonics, rotations of their coefficients, and e3nn-jax's convention.

Convention (used by every function in `jaxkern.equivariant`): $z$ is the polar axis,
$\theta$ the angle from $+z$ and $\phi$ the azimuth from $+x$ towards $+y$. For degree $l$ and
order $-l \le m \le l$,

$$Y_{lm} = \begin{cases}
  \sqrt{2}\, \bar P_l^{m}(\cos\theta)\, \sin^{m}\theta \cos(m\phi) & m > 0 \\
  \bar P_l^{0}(\cos\theta) & m = 0 \\
  \sqrt{2}\, \bar P_l^{|m|}(\cos\theta)\, \sin^{|m|}\theta \sin(|m|\phi) & m < 0
\end{cases}$$

with no Condon–Shortley phase, so $Y_{1,-1}, Y_{10}, Y_{11} = \sqrt{3/4\pi}\,(y, z, x)$, and
orthonormal on the unit sphere: $\int Y_{lm} Y_{l'm'}\, d\Omega = \delta_{ll'}\delta_{mm'}$.
Coefficients are stored flat, degree after degree, $m = -l, \dots, l$ inside each degree:
index $l^2 + l + m$, $(l_\max + 1)^2$ entries in all (e3nn's layout, but not its axes).
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from ..special import safe_norm


def num_coefficients(lmax: int) -> int:
    """$(l_\\max + 1)^2$, the length of a coefficient vector of degree at most `lmax`."""
    return (lmax + 1) ** 2


def degree_of(name: str, x) -> int:
    """The `lmax` of a coefficient array, from its last axis; ValueError unless a square."""
    shape = jnp.shape(x)
    n = shape[-1] if shape else 0
    lmax = math.isqrt(n) - 1
    if n == 0 or (lmax + 1) ** 2 != n:
        raise ValueError(
            f"`{name}` must have (lmax + 1)**2 spherical-harmonic coefficients on its last "
            f"axis, got shape {shape}."
        )
    return lmax


def check_lmax(name: str, lmax) -> int:
    """Raise ValueError unless `lmax` is a non-negative Python int."""
    if isinstance(lmax, bool) or not isinstance(lmax, int | np.integer) or lmax < 0:
        raise ValueError(f"`{name}` must be a non-negative int, got {lmax!r}.")
    return int(lmax)


@functools.cache
def _recurrence(lmax: int) -> tuple:
    """Constants of the normalised associated-Legendre recurrence, as Python floats."""
    # bar P_m^m = sqrt((2m+1)/(4 pi)) (2m-1)!! / sqrt((2m)!), and (2m-1)!! / sqrt((2m)!) =
    # sqrt((2m)!) / (2^m m!), taken through lgamma so that no factorial overflows.
    diag = [
        math.sqrt((2 * m + 1) / (4 * math.pi))
        * math.exp(0.5 * math.lgamma(2 * m + 1) - m * math.log(2) - math.lgamma(m + 1))
        for m in range(lmax + 1)
    ]
    a = {}
    b = {}
    for m in range(lmax + 1):
        for ell in range(m + 2, lmax + 1):
            a[ell, m] = math.sqrt((4 * ell * ell - 1) / (ell * ell - m * m))
            b[ell, m] = math.sqrt(((ell - 1) ** 2 - m * m) / (4 * (ell - 1) ** 2 - 1))
    return diag, a, b


def real_harmonics(x, y, z, lmax: int, xp=jnp) -> list:
    """The $(l_\\max+1)^2$ real harmonics at unit vectors $(x, y, z)$, as a list of arrays.

    Written once for both NumPy (float64 constant tables, `xp=np`) and jax: only arithmetic,
    so the polynomial extension also holds off the sphere, e.g. at $(\\sin\\theta, 0,
    \\cos\\theta)$ for $\\theta \\in [0, 2\\pi)$, the torus extension the Fourier tables use.
    """
    diag, a, b = _recurrence(lmax)
    sqrt2 = math.sqrt(2.0)
    # Legendre part: p[l][m] = bar P_l^m(z) / sin^m(theta), a polynomial in z.
    p = [[None] * (ell + 1) for ell in range(lmax + 1)]
    for m in range(lmax + 1):
        p[m][m] = diag[m] + 0 * z
        if m + 1 <= lmax:
            p[m + 1][m] = math.sqrt(2 * m + 3) * z * p[m][m]
        for ell in range(m + 2, lmax + 1):
            p[ell][m] = a[ell, m] * (z * p[ell - 1][m] - b[ell, m] * p[ell - 2][m])
    # Azimuth part: (x + i y)^m = sin^m(theta) (cos m phi + i sin m phi), by recurrence.
    cos_m, sin_m = [1 + 0 * x], [0 * x]
    for _ in range(lmax):
        c, s = cos_m[-1], sin_m[-1]
        cos_m.append(x * c - y * s)
        sin_m.append(x * s + y * c)
    out = []
    for ell in range(lmax + 1):
        out += [sqrt2 * p[ell][-m] * sin_m[-m] for m in range(-ell, 0)]
        out.append(p[ell][0])
        out += [sqrt2 * p[ell][m] * cos_m[m] for m in range(1, ell + 1)]
    return out


def spherical_harmonics(
    vectors: Float[ArrayLike, "*batch 3"], *, lmax: int
) -> Float[Array, "*batch n"]:
    r"""Real orthonormal spherical harmonics $Y_{lm}(\hat r)$ of the directions of `vectors`.

    $$Y_{lm}(\hat r) = \sqrt{2 - \delta_{m0}}\; \bar P_l^{|m|}(\cos\theta)
      \begin{cases}\cos(m\phi) & m \ge 0 \\ \sin(|m|\phi) & m < 0\end{cases},
      \qquad \int_{S^2} Y_{lm} Y_{l'm'}\, d\Omega = \delta_{ll'}\delta_{mm'},$$
    with $z$ the polar axis, no Condon–Shortley phase, and the flat index $l^2 + l + m$.
    Evaluated as polynomials in $x, y, z$ by the normalised Legendre recurrence in $l$ and
    the recurrence for $(x + iy)^m$, so values and gradients are smooth everywhere on the
    sphere (the poles included).

    **Arguments:**

    - `vectors`: shape (..., 3); only the direction is used. A zero vector gives the
      harmonics at $z = 0$, $\phi$ undefined (its $m \ne 0$ terms are 0), with finite gradients.
    - `lmax`: the largest degree $l_\max$ (static).

    **Returns:** shape (..., (lmax+1)**2), dtype of `vectors`.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.equivariant import spherical_harmonics
        >>> y = spherical_harmonics(jnp.array([0.0, 0.0, 2.0]), lmax=1)
        >>> [round(float(v), 6) for v in y]  # Y_00 = 1 / sqrt(4 pi), Y_10 = sqrt(3 / 4 pi)
        [0.282095, 0.0, 0.488603, 0.0]

    Convention as in Wikipedia's "Table of spherical harmonics" (real, $z$ polar); the same
    functions as e3nn-jax's up to a fixed orthogonal map per degree, see
    [`to_e3nn`][jaxkern.equivariant.to_e3nn].
    """
    lmax = check_lmax("lmax", lmax)
    vectors = jnp.asarray(vectors)
    if vectors.ndim == 0 or vectors.shape[-1] != 3:
        raise ValueError(f"`vectors` must have shape (..., 3), got shape {vectors.shape}.")
    if not jnp.issubdtype(vectors.dtype, jnp.floating):
        vectors = vectors.astype(jnp.result_type(float))
    return _harmonics(vectors, lmax)


@functools.partial(jax.jit, static_argnums=1)
def _harmonics(vectors, lmax):
    # Jitted so that an eager call compiles the unrolled recurrence once, not op by op.
    norm = safe_norm(vectors)[..., None]
    unit = vectors / jnp.where(norm > 0, norm, 1)
    return jnp.stack(real_harmonics(unit[..., 0], unit[..., 1], unit[..., 2], lmax), axis=-1)


@functools.cache
def sphere_quadrature(degree: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes (q, 3) and weights (q,) in float64 that integrate polynomials of `degree` exactly.

    Gauss–Legendre in $z = \\cos\\theta$ times the trapezoid rule in $\\phi$.
    """
    nz, nphi = degree // 2 + 1, degree + 1
    z, wz = np.polynomial.legendre.leggauss(nz)
    phi = 2 * np.pi * np.arange(nphi) / nphi
    s = np.sqrt(1 - z * z)
    nodes = np.stack(
        [np.outer(s, np.cos(phi)), np.outer(s, np.sin(phi)), np.outer(z, np.ones(nphi))], -1
    ).reshape(-1, 3)
    weights = np.outer(wz, np.full(nphi, 2 * np.pi / nphi)).reshape(-1)
    return nodes, weights


@functools.cache
def _block_mask(lmax: int) -> np.ndarray:
    degree = np.repeat(np.arange(lmax + 1), 2 * np.arange(lmax + 1) + 1)
    return degree[:, None] == degree[None, :]


def wigner_d(
    rotation: Float[ArrayLike, "3 3"], *, lmax: int
) -> Float[Array, "n n"]:
    r"""The real Wigner-D matrix of a rotation, block-diagonal over degrees.

    $D(R)$ is defined by $Y(R\hat r) = D(R)\, Y(\hat r)$, so rotating a function on the sphere,
    $f \mapsto f \circ R^{-1}$, maps its coefficients $c \mapsto D(R)\, c$, and
    $D(R_1 R_2) = D(R_1) D(R_2)$. Computed by exact quadrature,
    $D_{ij} = \int Y_i(R\hat r) Y_j(\hat r)\, d\Omega$, so it is differentiable in $R$ and works
    under `jax.vmap`.

    **Arguments:**

    - `rotation`: a $3 \times 3$ rotation matrix (orthogonal, determinant +1; not checked).
    - `lmax`: the largest degree (static).

    **Returns:** shape ((lmax+1)**2, (lmax+1)**2), dtype of `rotation`.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.equivariant import wigner_d
        >>> quarter_turn = jnp.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
        >>> (wigner_d(quarter_turn, lmax=1).round(6) + 0.0).tolist()[1:]  # (y, z, x) -> (x, z, -y)
        [[0.0, 0.0, 0.0, 1.0], [0.0, 0.0, 1.0, 0.0], [0.0, -1.0, 0.0, 0.0]]
    """
    lmax = check_lmax("lmax", lmax)
    rotation = jnp.asarray(rotation)
    if rotation.shape != (3, 3):
        raise ValueError(f"`rotation` must have shape (3, 3), got shape {rotation.shape}.")
    nodes, weights = sphere_quadrature(2 * lmax)
    dtype = rotation.dtype if jnp.issubdtype(rotation.dtype, jnp.floating) else float
    base = jnp.asarray(np.stack(real_harmonics(*nodes.T, lmax, xp=np), -1) * weights[:, None],
                       dtype=dtype)
    rotated = spherical_harmonics(jnp.asarray(nodes, dtype=dtype) @ rotation.T.astype(dtype),
                                  lmax=lmax)
    return jnp.where(_block_mask(lmax), rotated.T @ base, 0)


# e3nn-jax's harmonics use y as the polar axis: for every degree, its Y(x, y, z) equals ours at
# the cyclically permuted point (z, x, y), so the change of basis is the Wigner-D matrix of
# that permutation (found and checked against e3nn_jax.spherical_harmonics in the tests).
_CYCLE = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


@functools.cache
def _e3nn_basis(lmax: int) -> np.ndarray:
    nodes, weights = sphere_quadrature(2 * lmax)
    ours = np.stack(real_harmonics(*nodes.T, lmax, xp=np), -1)
    theirs = np.stack(real_harmonics(*(nodes @ _CYCLE.T).T, lmax, xp=np), -1)
    return np.where(_block_mask(lmax), (theirs * weights[:, None]).T @ ours, 0.0)


def to_e3nn(coefficients: Float[ArrayLike, "*batch n"]) -> Float[Array, "*batch n"]:
    r"""Coefficients in e3nn-jax's convention (irreps `0e + 1o + 2e + ...`, y polar).

    With $Y^{\mathrm{e3nn}}(\hat r) = M\, Y(\hat r)$ ($M$ orthogonal, block-diagonal), a function
    $c^\top Y = c_{\mathrm{e3nn}}^\top Y^{\mathrm{e3nn}}$ has $c_{\mathrm{e3nn}} = M c$.
    e3nn-jax's `normalization="integral"` matches ours; its default `"component"` harmonics
    are ours times $\sqrt{4\pi}$.

    **Arguments:**

    - `coefficients`: shape (..., (lmax+1)**2) in this module's convention.

    **Returns:** the same function's coefficients in e3nn-jax's basis, same shape and dtype.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.equivariant import to_e3nn
        >>> # (y, z, x) -> e3nn's (x, y, z)
        >>> [round(v, 6) for v in to_e3nn(jnp.array([0.0, 1.0, 2.0, 3.0])).tolist()]
        [0.0, 3.0, 1.0, 2.0]
    """
    coefficients = jnp.asarray(coefficients)
    lmax = degree_of("coefficients", coefficients)
    return coefficients @ jnp.asarray(_e3nn_basis(lmax).T, dtype=coefficients.dtype)


def from_e3nn(coefficients: Float[ArrayLike, "*batch n"]) -> Float[Array, "*batch n"]:
    r"""Coefficients in this module's convention from e3nn-jax's (the inverse of `to_e3nn`).

    **Arguments:**

    - `coefficients`: shape (..., (lmax+1)**2), e3nn-jax's basis (the `.array` of an
      `IrrepsArray` with irreps `0e + 1o + 2e + ...`, or `e3nn.s2_irreps(lmax)`).

    **Returns:** coefficients in this module's basis, same shape and dtype.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.equivariant import from_e3nn
        >>> [round(v, 6) for v in from_e3nn(jnp.array([0.0, 3.0, 1.0, 2.0])).tolist()]
        [0.0, 1.0, 2.0, 3.0]
    """
    coefficients = jnp.asarray(coefficients)
    lmax = degree_of("coefficients", coefficients)
    return coefficients @ jnp.asarray(_e3nn_basis(lmax), dtype=coefficients.dtype)
