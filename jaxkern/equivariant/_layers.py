r"""Equinox layers for the paper's three equivariant operations, built on the Gaunt product.

Features are arrays of shape (..., channels, (L+1)**2): one spherical-harmonic coefficient
vector per channel. Learnable weights act per channel and per degree $l$ only, which commutes
with rotations (a Wigner-D matrix acts inside each degree), so every layer is equivariant.
"""

from __future__ import annotations

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int, PRNGKeyArray

from .._validation import check_ndim, check_positive
from ..special import safe_norm
from ._gaunt import gaunt_powers, gaunt_product
from ._harmonics import check_lmax, degree_of, spherical_harmonics


@functools.cache
def _degree_index(lmax: int) -> np.ndarray:
    return np.repeat(np.arange(lmax + 1), 2 * np.arange(lmax + 1) + 1)


def scale_degrees(
    x: Float[ArrayLike, "*batch n"], weights: Float[ArrayLike, "*batch L1"]
) -> Float[Array, "*batch n"]:
    r"""Multiply each degree block of coefficients by its own weight: $x_{lm} \mapsto w_l x_{lm}$.

    Commutes with every Wigner-D matrix, so it is the most general linear equivariant map of
    one channel onto itself.

    **Arguments:**

    - `x`: coefficients, shape (..., (L+1)**2).
    - `weights`: shape (..., L+1), broadcast against the batch axes of `x`.

    **Returns:** shape (..., (L+1)**2).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.equivariant import scale_degrees
        >>> scale_degrees(jnp.ones(4), jnp.array([2.0, -1.0])).tolist()
        [2.0, -1.0, -1.0, -1.0]
    """
    x, weights = jnp.asarray(x), jnp.asarray(weights)
    lmax = degree_of("x", x)
    if weights.ndim == 0 or weights.shape[-1] != lmax + 1:
        raise ValueError(
            f"`weights` must have lmax + 1 = {lmax + 1} entries on its last axis for `x` of "
            f"shape {x.shape}, got shape {weights.shape}."
        )
    weights = weights[..., _degree_index(lmax)]
    try:
        shape = jnp.broadcast_shapes(x.shape, weights.shape)
    except ValueError:
        raise ValueError(f"`weights` of shape {weights.shape[:-1] + (lmax + 1,)} does not "
                         f"broadcast against `x` of shape {x.shape}.") from None
    return jnp.broadcast_to(x, shape) * jnp.broadcast_to(weights, shape)


def gaunt_convolution(
    features: Float[ArrayLike, "nodes C n"],
    edge_vectors: Float[ArrayLike, "edges 3"],
    edge_weights: Float[ArrayLike, "edges C Le"],
    senders: Int[ArrayLike, " edges"],
    receivers: Int[ArrayLike, " edges"],
    *,
    lmax_out: int,
) -> Float[Array, "nodes C n_out"]:
    r"""Equivariant convolution: node features times the harmonics of edge vectors, summed.

    $$h_i = \sum_{(j \to i)} x_j \otimes_G \big(w_{ij} \odot Y(\vec r_{ij})\big),$$
    per channel, where $w_{ij}$ (one weight per channel and degree, usually a function of
    $|\vec r_{ij}|$) scales the degrees of the edge harmonics. Rotating every edge vector by
    $R$ maps the output to $D(R)\, h$.

    **Arguments:**

    - `features`: node features $x$, shape (nodes, C, (L+1)**2).
    - `edge_vectors`: $\vec r_{ij}$, shape (edges, 3).
    - `edge_weights`: shape (edges, C, Le+1); Le is the degree of the edge harmonics.
    - `senders`, `receivers`: int arrays of shape (edges,), node indices $j$ and $i$.
    - `lmax_out`: the largest output degree.

    **Returns:** shape (nodes, C, (lmax_out+1)**2).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.equivariant import gaunt_convolution
        >>> x = jnp.full((2, 1, 1), 3.5449077)  # the constant 1 on the sphere: sqrt(4 pi) Y_00
        >>> r = jnp.array([[0.0, 0.0, 1.0]])
        >>> h = gaunt_convolution(x, r, jnp.ones((1, 1, 2)), jnp.array([0]), jnp.array([1]),
        ...                       lmax_out=1)
        >>> [round(float(v), 5) + 0.0 for v in h[1, 0]]  # Y(z) at node 1, zero at node 0
        [0.28209, 0.0, 0.4886, 0.0]

    Luo, Chen & Zhang (ICLR 2024), Section 3.3, "equivariant convolution".
    """
    features = jnp.asarray(features)
    check_ndim("features", features, 3, "(nodes, C, (L+1)**2)")
    check_ndim("edge_weights", edge_weights, 3, "(edges, C, Le+1)")
    edge_weights = jnp.asarray(edge_weights)
    senders, receivers = jnp.asarray(senders), jnp.asarray(receivers)
    shapes = {jnp.shape(edge_vectors)[0], edge_weights.shape[0], senders.shape[0],
              receivers.shape[0]}
    if len(shapes) != 1:
        raise ValueError(
            "`edge_vectors`, `edge_weights`, `senders` and `receivers` must have the same "
            f"number of edges, got shapes {jnp.shape(edge_vectors)}, {edge_weights.shape}, "
            f"{senders.shape} and {receivers.shape}."
        )
    edge_lmax = edge_weights.shape[-1] - 1
    harmonics = spherical_harmonics(jnp.asarray(edge_vectors, features.dtype), lmax=edge_lmax)
    filters = scale_degrees(harmonics[:, None, :], edge_weights)
    messages = gaunt_product(features[senders], filters, lmax_out=lmax_out)
    return jax.ops.segment_sum(messages, receivers, num_segments=features.shape[0])


def _weights(key, shape, dtype) -> Array:
    return 1.0 + 0.1 * jax.random.normal(key, shape, dtype)


class GauntInteraction(eqx.Module):
    r"""Equivariant feature interaction: a weighted Gaunt product of two features per channel.

    $$z_c = (u_c \odot x_c) \otimes_G (v_c \odot y_c),$$
    with $u_c, v_c$ learnable weights per channel and degree (the paper's reparametrised
    Gaunt product, which keeps the $O(L^3)$ cost).

    **Arguments (constructor):** `channels`, `lmax1`, `lmax2`, `lmax_out` (default
    `lmax1 + lmax2`), and `key`. Weights start near 1.

    **Call:** `layer(x, y)` with `x` of shape (..., channels, (lmax1+1)**2) and `y` of shape
    (..., channels, (lmax2+1)**2); returns (..., channels, (lmax_out+1)**2).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxkern.equivariant import GauntInteraction
        >>> layer = GauntInteraction(4, 2, 2, lmax_out=2, key=jax.random.key(0))
        >>> layer(jnp.ones((10, 4, 9)), jnp.ones((10, 4, 9))).shape
        (10, 4, 9)

    Luo, Chen & Zhang (ICLR 2024), Section 3.3, "equivariant feature interaction".
    """

    weights1: Float[Array, "C L1"]
    weights2: Float[Array, "C L2"]
    lmax_out: int = eqx.field(static=True)

    def __init__(self, channels: int, lmax1: int, lmax2: int, *, lmax_out: int | None = None,
                 key: PRNGKeyArray, dtype=None):
        check_positive("channels", channels)
        lmax1, lmax2 = check_lmax("lmax1", lmax1), check_lmax("lmax2", lmax2)
        dtype = jnp.result_type(float) if dtype is None else dtype
        k1, k2 = jax.random.split(key)
        self.weights1 = _weights(k1, (channels, lmax1 + 1), dtype)
        self.weights2 = _weights(k2, (channels, lmax2 + 1), dtype)
        self.lmax_out = lmax1 + lmax2 if lmax_out is None else check_lmax("lmax_out", lmax_out)

    def __call__(self, x: Float[Array, "*batch C n1"], y: Float[Array, "*batch C n2"]):
        return gaunt_product(scale_degrees(x, self.weights1), scale_degrees(y, self.weights2),
                             lmax_out=self.lmax_out)


class GauntConvolution(eqx.Module):
    r"""Equivariant graph convolution with radial-weighted edge harmonics
    ([`gaunt_convolution`][jaxkern.equivariant.gaunt_convolution]).

    The edge weights are $w_{ij} = \sum_b \rho_b(|\vec r_{ij}|)\, A_b$, with Gaussian radial
    features $\rho_b(r) = \exp(-((r - \mu_b)/\sigma)^2)$ on `num_radial` centres spread over
    $[0, r_\mathrm{cut}]$ and learnable $A_b$ of shape (channels, edge_lmax+1).

    **Arguments (constructor):** `channels`, `lmax_in`, `edge_lmax`, `lmax_out`, and
    keyword-only `cutoff` (default 2.0), `num_radial` (default 8), `key`.

    **Call:** `layer(features, positions, senders, receivers)` with features (nodes,
    channels, (lmax_in+1)**2) and positions (nodes, 3); edges point from sender to receiver,
    $\vec r_{ij} = p_j - p_i$. Returns (nodes, channels, (lmax_out+1)**2).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxkern.equivariant import GauntConvolution
        >>> conv = GauntConvolution(2, 0, 2, 2, key=jax.random.key(0))
        >>> pos = jnp.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
        >>> s, r = jnp.array([1, 2, 0, 0]), jnp.array([0, 0, 1, 2])
        >>> conv(jnp.ones((3, 2, 1)), pos, s, r).shape
        (3, 2, 9)

    Luo, Chen & Zhang (ICLR 2024), Section 3.3, "equivariant convolution".
    """

    radial: Float[Array, "B C Le"]
    lmax_out: int = eqx.field(static=True)
    cutoff: float = eqx.field(static=True)

    def __init__(self, channels: int, lmax_in: int, edge_lmax: int, lmax_out: int, *,
                 cutoff: float = 2.0, num_radial: int = 8, key: PRNGKeyArray, dtype=None):
        check_positive("channels", channels)
        check_positive("cutoff", cutoff)
        check_positive("num_radial", num_radial)
        check_lmax("lmax_in", lmax_in)
        edge_lmax = check_lmax("edge_lmax", edge_lmax)
        dtype = jnp.result_type(float) if dtype is None else dtype
        self.radial = jax.random.normal(key, (num_radial, channels, edge_lmax + 1), dtype)
        self.radial = self.radial / num_radial**0.5
        self.lmax_out = check_lmax("lmax_out", lmax_out)
        self.cutoff = float(cutoff)

    def __call__(self, features, positions, senders, receivers):
        positions = jnp.asarray(positions, self.radial.dtype)
        vectors = positions[senders] - positions[receivers]
        num = self.radial.shape[0]
        centres = jnp.linspace(0, self.cutoff, num, dtype=self.radial.dtype)
        width = self.cutoff / num
        r = safe_norm(vectors)[:, None]
        basis = jnp.exp(-(((r - centres[None, :]) / width) ** 2))  # (edges, num_radial)
        weights = jnp.einsum("eb,bcl->ecl", basis, self.radial)
        return gaunt_convolution(features, vectors, weights, senders, receivers,
                                 lmax_out=self.lmax_out)


class GauntManyBody(eqx.Module):
    r"""Equivariant many-body interaction: weighted Gaunt powers of one feature per channel.

    $$z_c = \sum_{\nu=1}^{\nu_\max} a_{\nu c} \odot (u_c \odot x_c)^{\otimes_G \nu},$$
    with all powers from one Fourier transform
    ([`gaunt_powers`][jaxkern.equivariant.gaunt_powers]); $u$ and $a_\nu$ are learnable per
    channel and degree.

    **Arguments (constructor):** `channels`, `lmax`, `max_power`, `lmax_out` (default `lmax`),
    `key`.

    **Call:** `layer(x)` with `x` of shape (..., channels, (lmax+1)**2); returns
    (..., channels, (lmax_out+1)**2).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxkern.equivariant import GauntManyBody
        >>> layer = GauntManyBody(3, 2, 3, key=jax.random.key(0))
        >>> layer(jnp.ones((5, 3, 9))).shape
        (5, 3, 9)

    Luo, Chen & Zhang (ICLR 2024), Section 3.3, "equivariant many-body interaction".
    """

    weights_in: Float[Array, "C L"]
    weights_out: Float[Array, "P C Lo"]
    lmax_out: int = eqx.field(static=True)

    def __init__(self, channels: int, lmax: int, max_power: int, *,
                 lmax_out: int | None = None, key: PRNGKeyArray, dtype=None):
        check_positive("channels", channels)
        check_positive("max_power", max_power)
        lmax = check_lmax("lmax", lmax)
        self.lmax_out = lmax if lmax_out is None else check_lmax("lmax_out", lmax_out)
        dtype = jnp.result_type(float) if dtype is None else dtype
        k1, k2 = jax.random.split(key)
        self.weights_in = _weights(k1, (channels, lmax + 1), dtype)
        self.weights_out = _weights(k2, (max_power, channels, self.lmax_out + 1), dtype)

    def __call__(self, x: Float[Array, "*batch C n"]):
        powers = gaunt_powers(scale_degrees(x, self.weights_in),
                              max_power=self.weights_out.shape[0], lmax_out=self.lmax_out)
        # powers: (..., C, P, n_out) -> weight each power and degree, sum over powers.
        return jnp.sum(scale_degrees(jnp.swapaxes(powers, -2, -3), self.weights_out), axis=-3)
