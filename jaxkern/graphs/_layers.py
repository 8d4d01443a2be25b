r"""ChebConv: the Chebyshev graph convolution layer (ChebNet) as an equinox module."""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from .._validation import check_int, check_positive


def cheb_conv(
    matvec: Callable[[Array], Array],
    x: Float[Array, "n c_in"],
    weight: Float[Array, "K c_in c_out"],
    bias: Float[Array, " c_out"] | None = None,
    *,
    lambda_max: Float[ArrayLike, ""] = 2.0,
) -> Float[Array, "n c_out"]:
    r"""The Chebyshev graph convolution $Y = \sum_{k=0}^{K-1} T_k(\tilde L) X\, W_k + b$.

    $\tilde L = 2L/\lambda_{\max} - I$, $T_0 X = X$, $T_1 X = \tilde L X$,
    $T_{k+1} X = 2\tilde L T_k X - T_{k-1} X$: $K - 1$ sparse products. With the
    symmetric normalised Laplacian and $\lambda_{\max} = 2$ (torch_geometric's defaults)
    $\tilde L = -D^{-1/2} A D^{-1/2}$.

    **Arguments:**

    - `matvec`: $X \mapsto L X$ on shape (n, c_in) (a [`Laplacian`][jaxkern.graphs.Laplacian]).
    - `x`: node features, shape (n, c_in).
    - `weight`: shape (K, c_in, c_out), $K \ge 1$.
    - `bias`: shape (c_out,) or None.
    - `lambda_max`: the scale of $\tilde L$.

    **Returns:** shape (n, c_out).

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxkern.graphs import cheb_conv, graph_from_edges, laplacian
        >>> L = laplacian(graph_from_edges(jnp.array([[0, 1]]), num_nodes=2), normalization="sym")
        >>> W = jnp.ones((2, 1, 1))  # T_0 + T_1 = I - D^-1/2 A D^-1/2 = L
        >>> cheb_conv(L, jnp.array([[1.0], [0.0]]), W).tolist()
        [[1.0], [-1.0]]

    Defferrard, Bresson & Vandergheynst (2016), *Convolutional neural networks on graphs with
    fast localized spectral filtering*, NeurIPS; layers of Rayleigh Quotient GNN (Dong et al.,
    2024).
    """
    if jnp.ndim(x) != 2:
        raise ValueError(f"`x` must have shape (n, c_in), got shape {jnp.shape(x)}.")
    if jnp.ndim(weight) != 3 or weight.shape[1] != x.shape[1] or weight.shape[0] < 1:
        raise ValueError(
            f"`weight` must have shape (K, c_in={x.shape[1]}, c_out) with K >= 1, got shape "
            f"{jnp.shape(weight)}.")
    check_positive("lambda_max", lambda_max)
    scale = 2.0 / jnp.asarray(lambda_max, dtype=x.dtype)

    def op(v):
        return scale * matvec(v) - v

    out = x @ weight[0]
    if weight.shape[0] > 1:
        t1 = op(x)
        out = out + t1 @ weight[1]

        def step(carry, w):
            t0, t1, acc = carry
            t2 = 2 * op(t1) - t0
            return (t1, t2, acc + t2 @ w), None

        (_, _, out), _ = lax.scan(step, (x, t1, out), weight[2:])
    if bias is not None:
        out = out + bias[None, :]
    return out


class ChebConv(eqx.Module):
    r"""Chebyshev graph convolution layer: holds `weight` (K, c_in, c_out) and `bias`
    (c_out,) and calls [`cheb_conv`][jaxkern.graphs.cheb_conv]; `layer(x, L)`.

    Weights start Glorot-uniform per $W_k$ and the bias at zero (torch_geometric's
    initialisation). To copy a torch_geometric `ChebConv`, set
    `weight[k] = lins[k].weight.T` and `bias = bias`.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> from jaxkern.graphs import ChebConv, graph_from_edges, laplacian
        >>> L = laplacian(graph_from_edges(jnp.array([[0, 1], [1, 2]]), num_nodes=3),
        ...               normalization="sym")
        >>> layer = ChebConv(4, 2, K=3, key=jax.random.key(0))
        >>> layer(jnp.ones((3, 4)), L).shape
        (3, 2)
    """

    weight: Float[Array, "K c_in c_out"]
    bias: Float[Array, " c_out"] | None
    lambda_max: float = eqx.field(static=True)

    def __init__(self, in_channels: int, out_channels: int, *, K: int, key: PRNGKeyArray,
                 bias: bool = True, lambda_max: float = 2.0, dtype=None):
        check_int("in_channels", in_channels, 1)
        check_int("out_channels", out_channels, 1)
        check_int("K", K, 1)
        check_positive("lambda_max", lambda_max)
        dtype = jnp.result_type(float) if dtype is None else dtype
        limit = (6.0 / (in_channels + out_channels)) ** 0.5
        self.weight = jax.random.uniform(key, (K, in_channels, out_channels), dtype,
                                         -limit, limit)
        self.bias = jnp.zeros((out_channels,), dtype) if bias else None
        self.lambda_max = float(lambda_max)

    def __call__(self, x: Float[Array, "n c_in"], laplacian) -> Float[Array, "n c_out"]:
        return cheb_conv(laplacian, x, self.weight, self.bias, lambda_max=self.lambda_max)
