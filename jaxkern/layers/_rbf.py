r"""NeuRBF: adaptive anisotropic radial bases with multi-frequency sinusoids."""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, Float, Int

from .._validation import check_int


def _check_bases(x, centres, shapes, weights, frequencies) -> None:
    if jnp.ndim(x) != 2:
        raise ValueError(f"`x` must have shape (n, d), got shape {jnp.shape(x)}.")
    n, d = x.shape
    B = jnp.shape(centres)[0] if jnp.ndim(centres) == 2 else -1
    for name, a, shape in (("centres", centres, (B, d)), ("shapes", shapes, (B, d, d))):
        if jnp.shape(a) != shape:
            raise ValueError(f"`{name}` must have shape {shape} for `x` of shape {x.shape}, "
                             f"got {jnp.shape(a)}.")
    if weights is not None:
        if jnp.ndim(weights) != 2 or weights.shape[0] != B:
            raise ValueError(f"`weights` must have shape ({B}, M), got {jnp.shape(weights)}.")
        if jnp.shape(frequencies) != (weights.shape[1],):
            raise ValueError(f"`frequencies` must have shape ({weights.shape[1]},), one per "
                             f"channel of `weights`, got {jnp.shape(frequencies)}.")


def _sq_radius(x, centres, shapes):
    """$r^2 = \\lVert A (x - c)\\rVert^2$ for matched leading axes."""
    z = jnp.einsum("...ij,...j->...i", shapes, x - centres)
    return jnp.sum(z * z, axis=-1)


def rbf_field(
    x: Float[Array, "n d"],
    centres: Float[Array, "B d"],
    shapes: Float[Array, "B d d"],
    weights: Float[Array, "B M"],
    frequencies: Float[Array, " M"],
    *,
    neighbours: Int[Array, "n k"] | None = None,
) -> Float[Array, "n M"]:
    r"""NeuRBF's adaptive radial-basis features with multi-frequency sinusoid composition.

    Each basis $i$ has a centre $c_i$ and a shape matrix $A_i$ (anisotropic:
    $r_i(x) = \lVert A_i(x - c_i)\rVert$, an ellipse of any orientation) and a Gaussian
    profile $\varphi_i(x) = e^{-r_i(x)^2}$. Channel $m$ of the feature reads the basis through a
    sinusoid of frequency $\omega_m$:
    $$h_m(x) = \sum_{i \in \mathcal N(x)} w_{im} \sin\bigl(\omega_m\, \varphi_i(x)\bigr),$$
    over all bases (`neighbours=None`) or over the $k$ given per point
    ([`nearest_bases`][jaxkern.layers.nearest_bases]), which costs $O(nk)$ instead of
    $O(nB)$ and equals the full sum up to the omitted bases' $|w|\,\omega\,e^{-r^2}$.

    The composition has no phase term, so $\sin(\omega\cdot 0) = 0$: a basis far from $x$
    contributes nothing, which is what makes the nearest-$k$ sum the full one.

    **Arguments:**

    - `x`: query points `(n, d)`.
    - `centres` `(B, d)`, `shapes` `(B, d, d)`, `weights` `(B, M)`.
    - `frequencies`: $\omega$, `(M,)`.
    - `neighbours`: optional int indices `(n, k)` into the bases.

    **Returns:** $h(x)$, shape `(n, M)`.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.layers import rbf_field
        >>> h = rbf_field(jnp.zeros((1, 2)), jnp.zeros((1, 2)), jnp.eye(2)[None],
        ...               jnp.ones((1, 2)), jnp.array([1.0, 2.0]))
        >>> [round(float(v), 4) for v in h[0]]  # sin(1 * e^0), sin(2 * e^0)
        [0.8415, 0.9093]

    Paper: Chen, Li, Zhang, Tang, Luo, *NeuRBF: A Neural Fields Representation with Adaptive
    Radial Basis Functions*, ICCV 2023, section 3.
    """
    _check_bases(x, centres, shapes, weights, frequencies)
    freq = frequencies.astype(x.dtype)[None, None, :]
    if neighbours is None:
        r2 = _sq_radius(x[:, None, :], centres[None], shapes[None])  # (n, B)
        phi = jnp.exp(-r2)
        return jnp.einsum("nbm,bm->nm", jnp.sin(phi[..., None] * freq), weights)
    if jnp.ndim(neighbours) != 2 or neighbours.shape[0] != x.shape[0]:
        raise ValueError(f"`neighbours` must have shape ({x.shape[0]}, k), got "
                         f"{jnp.shape(neighbours)}.")
    r2 = _sq_radius(x[:, None, :], centres[neighbours], shapes[neighbours])  # (n, k)
    phi = jnp.exp(-r2)
    return jnp.einsum("nkm,nkm->nm", jnp.sin(phi[..., None] * freq), weights[neighbours])


def nearest_bases(
    x: Float[Array, "n d"],
    centres: Float[Array, "B d"],
    shapes: Float[Array, "B d d"],
    *,
    k: int,
    block_size: int = 1024,
) -> Int[Array, "n k"]:
    r"""The $k$ bases with the smallest $r_i(x)$ (largest $\varphi_i$) for each point.

    Computed in blocks of `block_size` points (memory $O(\text{block} \cdot B)$), without
    gradient: the indices are recomputed when the bases have moved (NeuRBF refreshes its
    neighbour lists during training the same way).

    **Arguments:** `x` `(n, d)`; `centres`, `shapes` as in
    [`rbf_field`][jaxkern.layers.rbf_field]; `k` $\le B$; `block_size`.

    **Returns:** int32 indices `(n, k)`, nearest first.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.layers import nearest_bases
        >>> c = jnp.array([[0.0, 0.0], [1.0, 0.0], [5.0, 0.0]])
        >>> nearest_bases(jnp.array([[0.9, 0.0]]), c, jnp.tile(jnp.eye(2), (3, 1, 1)), k=2)
        Array([[1, 0]], dtype=int32)
    """
    _check_bases(x, centres, shapes, None, None)
    check_int("k", k, 1)
    check_int("block_size", block_size, 1)
    B = centres.shape[0]
    if k > B:
        raise ValueError(f"`k` = {k} is more than the {B} bases.")
    x, centres, shapes = (lax.stop_gradient(a) for a in (x, centres, shapes))
    n = x.shape[0]
    nb = -(-n // block_size)
    xp = jnp.pad(x, ((0, nb * block_size - n), (0, 0))).reshape(nb, block_size, -1)

    def block(xb):
        r2 = _sq_radius(xb[:, None, :], centres[None], shapes[None])
        return lax.top_k(-r2, k)[1].astype(jnp.int32)

    return lax.map(block, xp).reshape(nb * block_size, k)[:n]


def grid_bases(
    resolution: tuple[int, ...], *, dtype=None
) -> tuple[Float[Array, "B d"], Float[Array, "B d d"]]:
    r"""Centres on a regular grid over $[0, 1]^d$ and isotropic shapes that overlap neighbours.

    A starting point for fitting: $A_i = \mathrm{diag}(g_j - 1)$ so each basis falls to
    $e^{-1}$ one grid spacing away.

    **Arguments:** `resolution`: grid points per dimension; `dtype`.

    **Returns:** `(centres, shapes)`.

    Example:
        >>> from jaxkern.layers import grid_bases
        >>> c, A = grid_bases((3, 4))
        >>> c.shape, A.shape
        ((12, 2), (12, 2, 2))
    """
    if not resolution or any(not isinstance(r, int) or r < 2 for r in resolution):
        raise ValueError(f"`resolution` must be ints >= 2, got {resolution!r}.")
    dtype = jnp.dtype(dtype) if dtype is not None else jnp.result_type(float)
    axes = [jnp.linspace(0.0, 1.0, r, dtype=dtype) for r in resolution]
    centres = jnp.stack([g.ravel() for g in jnp.meshgrid(*axes, indexing="ij")], -1)
    A = jnp.diag(jnp.asarray([r - 1.0 for r in resolution], dtype))
    return centres, jnp.broadcast_to(A, (centres.shape[0],) + A.shape)

