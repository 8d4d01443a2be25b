r"""Gaunt coefficients and the Gaunt tensor product on the sphere's torus grid.

The Gaunt tensor product of two spherical-harmonic expansions is the expansion of their
pointwise product,
$$(x \otimes_G y)_{l_3 m_3} = \sum G^{l_3 m_3}_{l_1 m_1, l_2 m_2}\, x_{l_1 m_1} y_{l_2 m_2},
\qquad G^{l_3 m_3}_{l_1 m_1, l_2 m_2} = \int_{S^2} Y_{l_1 m_1} Y_{l_2 m_2} Y_{l_3 m_3}\,d\Omega.$$
Written directly it costs $O(L^6)$. In the 2D Fourier basis of the torus the pointwise product
is a convolution (Luo, Chen & Zhang, ICLR 2024), and by the convolution theorem a pointwise
product on an $O(L) \times O(L)$ torus grid: $O(L^3)$ for the basis changes, which are sparse
(order $m$ reaches only the $\phi$ frequency $|m|$, and the $\theta$ tables are per $|m|$), and
$O(L^2)$ for the product. The $\phi$ transforms are real DFT matrices rather than FFT calls:
at these lengths ($4L + 1$ points) one matrix product over the whole batch is several times
faster on CPU than a batch of short FFTs.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_derivatives import SymbolicZero
from jaxtyping import Array, ArrayLike, Float

from .._validation import check_int
from ._fourier import as_coefficients, back_table
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


# The product on the torus grid. Rows theta_j = pi j / h (h = umax + 1, j = 0..h: the rows
# `analysis_table` reads) and points phi_p = 2 pi p / n, with the batch on the minor axis so
# that every stage is one canonical batched matrix product over the whole batch.
#
# Two reflections halve the grid twice. A coefficient x_{lm} is in class (b, a), b = [m < 0]
# and a = (l + |m|) % 2, and Y_{lm}(theta, -phi) = (-1)^b Y_{lm}, Y_{lm}(pi - theta, phi) =
# (-1)^a Y_{lm}. Each class part of a function is known on the whole grid from the rows
# j <= h / 2 and the points p <= n / 2 (its parities give the mirrored ones), and the classes
# multiply as Z2 x Z2: (f g)_{ba} = sum_{b'a'} f_{b'a'} g_{b b', a a'} (b b' = b xor b'). So
# the synthesis, the pointwise product and the analysis all run on a quarter of the grid, the
# phi transforms as real cosine and sine matrices (the sparse SH -> Fourier change of basis:
# order m reaches phi frequency |m| only, and the theta tables are per |m| and parity).


def _theta_rows(umax: int) -> tuple[int, int]:
    """(h, rows): theta_j = pi j / h for j < rows; row h - j mirrors row j."""
    return umax + 1, (umax + 1) // 2 + 1


def _phi_points(umax: int, lmax_out: int) -> int:
    """The odd number n of phi points: n > umax + lmax_out, so that no frequency of a product
    of phi degree umax aliases onto the orders <= lmax_out."""
    n = umax + lmax_out + 1
    return n + 1 - n % 2


@functools.cache
def class_index(lmax: int) -> np.ndarray:
    """[b, k, a, i]: the flat index of x_{l, m} with |m| = k, m < 0 iff b, l = k + a + 2 i;
    (lmax+1)**2 (an appended zero) where there is none."""
    none = (lmax + 1) ** 2
    index = np.full((2, lmax + 1, 2, lmax // 2 + 1), none)
    for b in range(2):
        for k in range(b, lmax + 1):
            for a in range(2):
                for i, ell in enumerate(range(k + a, lmax + 1, 2)):
                    index[b, k, a, i] = ell * ell + ell + (-k if b else k)
    index.setflags(write=False)
    return index


@functools.cache
def output_index(lmax: int) -> np.ndarray:
    """For each flat (l, m): its place in a flattened [b, k, a, i] array (`class_index`)."""
    index = class_index(lmax).reshape(-1)
    place = np.zeros((lmax + 1) ** 2, np.int64)
    valid = index < (lmax + 1) ** 2
    place[index[valid]] = np.flatnonzero(valid)
    return place


@functools.cache
def theta_synthesis(lmax: int, umax: int) -> np.ndarray:
    """[b, k, a, j, i]: $t_{lk}(\\theta_j)$ for l = k + a + 2 i, the theta part of
    $Y_{l,\\pm k}$, on the first rows of the grid (zero where l > lmax)."""
    h, rows = _theta_rows(umax)
    theta = np.pi * np.arange(rows) / h
    # At (sin t, 0, cos t) the azimuth is 0, so Y_{l,k} (k >= 0) is t_{lk}(t).
    values = np.stack(real_harmonics(np.sin(theta), np.zeros(rows), np.cos(theta), lmax,
                                     xp=np), -1)
    values = np.concatenate([values, np.zeros((rows, 1))], axis=-1)
    index = class_index(lmax)
    t = np.moveaxis(values[:, index[0]], 0, -2)  # [k, a, j, i]
    present = (index < (lmax + 1) ** 2)[..., None, :]
    return np.ascontiguousarray(np.where(present, t[None], 0.0))


@functools.cache
def phi_synthesis(lmax: int, n: int) -> np.ndarray:
    """[b, p, k]: cos(k phi_p) (b = 0) and sin(k phi_p) (b = 1) for p <= n / 2."""
    angle = 2 * np.pi * np.outer(np.arange((n + 1) // 2), np.arange(lmax + 1)) / n
    return np.stack([np.cos(angle), np.sin(angle)])


@functools.cache
def phi_analysis(lmax: int, n: int) -> np.ndarray:
    """[b, k, p]: twice the cosine (b = 0) and sine (b = 1) coefficient of order k of the
    even / odd part of a function of phi given at p <= n / 2 (points p and n - p folded).

    The factor 2 is the real form of $c_{lk} = 2\\,\\mathrm{Re}\\,S_{kl}$, $c_{l,-k} =
    -2\\,\\mathrm{Im}\\,S_{kl}$ (`_fourier`); `theta_analysis` is the torus table S."""
    points = (n + 1) // 2
    angle = 2 * np.pi * np.outer(np.arange(lmax + 1), np.arange(points)) / n
    weight = np.full(points, 4.0 / n)
    weight[0] = 2.0 / n
    return np.stack([np.cos(angle) * weight, np.sin(angle) * weight])


@functools.cache
def analysis_table(lmax: int, umax: int, n: int) -> np.ndarray:
    """[k, l, j]: the back Fourier table composed with the DFT in theta (n points, exact for
    theta frequencies up to umax < n / 2), folded onto the rows j = 0..n/2.

    On the torus g(2 pi - theta, phi + pi) = g(theta, phi), so the phi coefficient k of row
    n - j is (-1)^k times that of row j, and rows past n/2 fold into their mirror rows.
    """
    u = np.arange(-umax, umax + 1)
    theta = 2 * np.pi * np.arange(n) / n
    omega = np.einsum("klu,ju->klj", back_table(lmax, umax),
                      np.exp(-1j * np.outer(theta, u))).real / n
    half = n // 2
    folded = omega[..., : half + 1].copy()
    sign = (-1.0) ** np.arange(lmax + 1)
    folded[..., 1:half] += sign[:, None, None] * omega[..., n - 1: half: -1]
    return folded


@functools.cache
def theta_analysis(lmax: int, umax: int) -> np.ndarray:
    """[b, k, a, i, j]: `analysis_table` folded onto the first rows by the z parity a.

    The projection onto t_{lk} annihilates the part of the other parity, and the part of
    parity a at row h - j is (-1)^a times that at row j, so row h - j folds onto row j."""
    h, rows = _theta_rows(umax)
    table = analysis_table(lmax, umax, 2 * h)  # [k, l, j], j = 0..h
    degrees = np.arange(lmax + 1)
    sign = (-1.0) ** (degrees[:, None] + degrees[None, :])
    j = np.arange(rows)
    mirror = h - j
    folded = table[..., j] + np.where(mirror != j, sign[..., None] * table[..., mirror], 0.0)
    out = np.zeros((2, lmax + 1, 2, lmax // 2 + 1, rows))
    for b in range(2):
        for k in range(b, lmax + 1):
            for a in range(2):
                for i, ell in enumerate(range(k + a, lmax + 1, 2)):
                    out[b, k, a, i] = folded[k, ell]
    return out


def grid_values(
    x: Float[Array, "n batch"], lmax: int, umax: int, n: int
) -> Float[Array, "2 points 2 rows batch"]:
    """The four class parts [b, p, a, j, batch] of the function with coefficients `x` (one
    column per batch element) on the quarter grid."""
    padded = jnp.concatenate([x, jnp.zeros((1,) + x.shape[1:], x.dtype)])
    parts = padded[class_index(lmax)]  # [b, k, a, i, batch]
    theta = jnp.asarray(theta_synthesis(lmax, umax), x.dtype)
    phi = jnp.asarray(phi_synthesis(lmax, n), x.dtype)
    rows = jnp.einsum("bkaji,bkaiz->bkajz", theta, parts)
    return jnp.einsum("bpk,bkajz->bpajz", phi, rows)


def class_product(f: Array, g: Array) -> Array:
    """The class parts [b, p, a, ...] of the pointwise product of two functions."""
    return jnp.stack([
        jnp.stack([sum(f[b1, :, a1] * g[b ^ b1, :, a ^ a1] for b1 in range(2) for a1 in range(2))
                   for a in range(2)], axis=1)
        for b in range(2)
    ])


def grid_coefficients(
    values: Float[Array, "2 points 2 rows batch"], lmax: int, umax: int, n: int
) -> Float[Array, "n3 batch"]:
    """Coefficients up to `lmax` (one column per batch element) of a function of theta and
    phi degree at most `umax`, given by its class parts on the quarter grid."""
    phi = jnp.asarray(phi_analysis(lmax, n), values.dtype)
    theta = jnp.asarray(theta_analysis(lmax, umax), values.dtype)
    rows = jnp.einsum("bkp,bpajz->bkajz", phi, values)
    c = jnp.einsum("bkaij,bkajz->bkaiz", theta, rows)
    return c.reshape((-1,) + c.shape[4:])[output_index(lmax)]


# Batch elements per step: the whole pipeline of a step stays in cache (about 128 KiB of grid
# values per operand), which on CPU is worth more than one large matrix product per stage.
# Derivatives run in one step: reverse mode through a `lax.map` of many small steps (stacked
# residuals, transposed small products) is several times slower than through one step.
_CHUNK_BYTES = 1 << 17


def _chunk_size(grid: int, dtype) -> int:
    return max(16, _CHUNK_BYTES // (grid * jnp.dtype(dtype).itemsize))


def _map_batch(core, arrays: tuple, chunk: int | None) -> Array:
    """`core` (arrays with one shared leading batch axis -> one array) over chunks of at most
    `chunk` batch elements, one `lax.map` step per chunk (None: one step)."""
    batch = arrays[0].shape[0]
    if chunk is None or batch <= chunk:
        return core(*arrays)
    steps = -(-batch // chunk)
    size = -(-batch // steps)
    pad = steps * size - batch
    stacked = tuple(jnp.pad(a, [(0, pad)] + [(0, 0)] * (a.ndim - 1))
                    .reshape((steps, size) + a.shape[1:]) for a in arrays)
    out = jax.lax.map(lambda chunk_arrays: core(*chunk_arrays), stacked)
    return out.reshape((steps * size,) + out.shape[2:])[:batch]


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
    `method="fft"` (the Fourier route) carries both inputs to a grid on the $(\theta, \phi)$
    torus ($O(L^3)$: per-order tables in $\theta$, real DFT matrices in $\phi$), multiplies
    there (the 2D convolution of the two Fourier spectra, by the convolution theorem) and
    projects back exactly ($O(L^3)$); `method="direct"` contracts with the dense Gaunt table
    ($O(L^6)$, a reference for small $L$).

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


def _product_core(x, y, lmax1: int, lmax2: int, lmax_out: int, chunked: bool):
    umax = lmax1 + lmax2
    lmax_eff = min(lmax_out, umax)  # the product has no degree above umax
    n = _phi_points(umax, lmax_eff)

    def core(a, b):
        values = class_product(grid_values(a.T, lmax1, umax, n), grid_values(b.T, lmax2, umax, n))
        return grid_coefficients(values, lmax_eff, umax, n).T

    batch = x.shape[:-1]
    grid = 4 * ((n + 1) // 2) * _theta_rows(umax)[1]
    out = _map_batch(core, (x.reshape(-1, x.shape[-1]), y.reshape(-1, y.shape[-1])),
                     _chunk_size(grid, x.dtype) if chunked else None)
    out = jnp.pad(out, [(0, 0), (0, (lmax_out + 1) ** 2 - out.shape[-1])])
    return out.reshape(batch + out.shape[-1:])


@functools.partial(jax.custom_jvp, nondiff_argnums=(2, 3, 4))
def _product(x, y, lmax1: int, lmax2: int, lmax_out: int):
    return _product_core(x, y, lmax1, lmax2, lmax_out, chunked=True)


@functools.partial(_product.defjvp, symbolic_zeros=True)
def _product_jvp(lmax1, lmax2, lmax_out, primals, tangents):
    # Bilinear: d(x y) = dx y + x dy, each term one product, in one step (see _CHUNK_BYTES).
    (x, y), (dx, dy) = primals, tangents
    out = _product(x, y, lmax1, lmax2, lmax_out)
    terms = [_product_core(a, b, lmax1, lmax2, lmax_out, chunked=False)
             for a, b in ((dx, y), (x, dy)) if not isinstance(a, SymbolicZero)
             and not isinstance(b, SymbolicZero)]
    return out, sum(terms[1:], terms[0]) if terms else jnp.zeros_like(out)


# Jitted (static degrees) so that an eager call compiles once instead of op by op.
_fft_product = jax.jit(_product, static_argnums=(2, 3, 4))


def gaunt_powers(
    x: Float[ArrayLike, "*batch n"], *, max_power: int, lmax_out: int | None = None
) -> Float[Array, "*batch max_power n_out"]:
    r"""All Gaunt powers $x, x^{\otimes_G 2}, \dots, x^{\otimes_G \nu}$ from one transform.

    $x^{\otimes_G \nu}$ is the expansion of $f^\nu$, $f = \sum x_{lm} Y_{lm}$: the many-body
    interaction of the paper, a $\nu$-fold repeated convolution in the Fourier basis that is a
    pointwise power on one torus grid large enough for degree $\nu L$. One forward and one
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


def _powers_core(x, lmax: int, max_power: int, lmax_out: int, chunked: bool):
    umax = max_power * lmax
    lmax_eff = min(lmax_out, umax)
    n = _phi_points(umax, lmax_eff)

    def core(a):
        values = grid_values(a.T, lmax, umax, n)
        powers = [values]
        for _ in range(max_power - 1):
            powers.append(class_product(powers[-1], values))
        stacked = jnp.stack(powers, axis=-2)  # [b, p, a, j, power, batch]
        c = grid_coefficients(stacked.reshape(stacked.shape[:4] + (-1,)), lmax_eff, umax, n)
        return jnp.transpose(c.reshape(c.shape[0], max_power, -1), (2, 1, 0))

    batch = x.shape[:-1]
    grid = 4 * ((n + 1) // 2) * _theta_rows(umax)[1] * max_power
    out = _map_batch(core, (x.reshape(-1, x.shape[-1]),),
                     _chunk_size(grid, x.dtype) if chunked else None)
    out = jnp.pad(out, [(0, 0), (0, 0), (0, (lmax_out + 1) ** 2 - out.shape[-1])])
    return out.reshape(batch + out.shape[-2:])


@functools.partial(jax.custom_jvp, nondiff_argnums=(1, 2, 3))
def _powers_impl(x, lmax: int, max_power: int, lmax_out: int):
    return _powers_core(x, lmax, max_power, lmax_out, chunked=True)


@_powers_impl.defjvp
def _powers_jvp(lmax, max_power, lmax_out, primals, tangents):
    # The tangent of the same computation in one step (see _CHUNK_BYTES).
    _, tangent = jax.jvp(functools.partial(_powers_core, lmax=lmax, max_power=max_power,
                                           lmax_out=lmax_out, chunked=False),
                         primals, tangents)
    return _powers_impl(*primals, lmax, max_power, lmax_out), tangent


_powers = jax.jit(_powers_impl, static_argnums=(1, 2, 3))
