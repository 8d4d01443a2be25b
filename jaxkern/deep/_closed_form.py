r"""Closed-form NNGP and NTK of fully connected networks in the NTK parameterisation."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, ArrayLike, Float

from .._validation import as_float, check_int, check_ndim, check_positive, check_same_last_dim
from ..linalg import into_blocks
from ._activations import Activation, activation, dual, variance


class NNGPNTK(NamedTuple):
    """The two infinite-width kernels of one network, of the same shape."""

    nngp: Array
    ntk: Array


def _check_architecture(depth, W_std, b_std) -> None:
    check_int("depth", depth, 0)
    check_positive("W_std", W_std)
    check_positive("b_std", b_std, allow_zero=True)


def _diagonal_chain(act: Activation, kxx, depth, w2, b2) -> list[Array]:
    """Pre-activation variances after each Dense layer: depth + 1 of them."""
    chain = [w2 * kxx + b2]
    for _ in range(depth):
        chain.append(w2 * variance(act, chain[-1]) + b2)
    return chain


def _cross_chain(act: Activation, kxy, diag_x, diag_y, depth, w2, b2) -> NNGPNTK:
    """The recursion on one block of cross moments, given both points' diagonal chains."""
    nngp = w2 * kxy + b2
    ntk = nngp
    for layer in range(depth):
        e_phi, e_dphi = dual(act, diag_x[layer], nngp, diag_y[layer])
        nngp = w2 * e_phi + b2
        ntk = nngp + w2 * e_dphi * ntk
    return NNGPNTK(nngp, ntk)


def _setup(depth, act_name, W_std, b_std, negative_slope, positive_slope):
    _check_architecture(depth, W_std, b_std)
    act = activation(act_name, negative_slope=negative_slope, positive_slope=positive_slope)
    return act, jnp.square(W_std), jnp.square(b_std)


def nngp_ntk(
    x: Float[ArrayLike, " d"],
    y: Float[ArrayLike, " d"],
    *,
    depth: int = 1,
    activation: str = "relu",
    W_std: Float[ArrayLike, ""] = 1.0,
    b_std: Float[ArrayLike, ""] = 0.0,
    negative_slope: float = 0.01,
    positive_slope: float = 1.0,
) -> NNGPNTK:
    r"""NNGP and NTK of an infinitely wide fully connected network for one pair of inputs.

    The network is `depth` hidden layers Dense -> $\phi$ and a Dense readout, every Dense in
    the NTK parameterisation, $h^{l+1} = \tfrac{\sigma_w}{\sqrt{n_l}} W^{l+1} \phi(h^l) +
    \sigma_b b^{l+1}$ with standard-normal $W$, $b$. With $\Sigma^0 = x^\top y / d$, each Dense
    maps $(\Sigma, \Theta) \mapsto (\sigma_w^2 \Sigma + \sigma_b^2,\ \sigma_w^2 \Sigma +
    \sigma_b^2 + \sigma_w^2 \Theta)$ and each activation maps
    $$\Sigma \mapsto \mathbb E[\phi(u)\phi(v)], \qquad
      \Theta \mapsto \Theta\, \mathbb E[\phi'(u)\phi'(v)],$$
    $(u, v) \sim \mathcal N(0, \Sigma)$ on the pair, all in closed form: ReLU and AB-ReLU
    through the arc-cosine functions ([`arccos_map`][jaxkern.kernels.arccos_map], halved), erf
    through Williams' arcsine formula, identity exactly. Gradients are finite at $x = y$.

    **Arguments:**

    - `x`, `y`: inputs of shape (d,).
    - `depth`: number of hidden layers (static int $\ge 0$; 0 gives the linear kernel).
    - `activation`: one of `"relu"`, `"leaky_relu"`, `"ab_relu"`, `"erf"`, `"identity"`.
    - `W_std`: $\sigma_w > 0$ of every Dense layer.
    - `b_std`: $\sigma_b \ge 0$ of every Dense layer.
    - `negative_slope`: slope for $x < 0$ of `leaky_relu` and `ab_relu` (static).
    - `positive_slope`: slope for $x > 0$ of `ab_relu` (static).

    **Returns:** an [`NNGPNTK`][jaxkern.deep.NNGPNTK] of scalars.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.deep import nngp_ntk
        >>> k = nngp_ntk(jnp.array([1.0, 0.0]), jnp.array([0.6, 0.8]), depth=1)
        >>> round(float(k.nngp), 6), round(float(k.ntk), 6)
        (0.169387, 0.275112)

    Jacot, Gabriel & Hongler, *Neural Tangent Kernel*, NeurIPS 2018; Lee et al., *Deep Neural
    Networks as Gaussian Processes*, ICLR 2018.
    """
    check_ndim("x", x, 1, "(d,)")
    check_ndim("y", y, 1, "(d,)")
    check_same_last_dim("x", x, "y", y)
    if jnp.shape(x)[0] == 0:
        raise ValueError("`x` and `y` must have at least one feature, got shape (0,).")
    x, y = as_float(x, y)
    act, w2, b2 = _setup(depth, activation, W_std, b_std, negative_slope, positive_slope)
    d = x.shape[0]
    diag_x = _diagonal_chain(act, jnp.dot(x, x) / d, depth, w2, b2)
    diag_y = _diagonal_chain(act, jnp.dot(y, y) / d, depth, w2, b2)
    return _cross_chain(act, jnp.dot(x, y) / d, diag_x, diag_y, depth, w2, b2)


def nngp_ntk_gram(
    X: Float[Array, "n d"],
    Y: Float[Array, "m d"] | None = None,
    *,
    depth: int = 1,
    activation: str = "relu",
    W_std: Float[ArrayLike, ""] = 1.0,
    b_std: Float[ArrayLike, ""] = 0.0,
    negative_slope: float = 0.01,
    positive_slope: float = 1.0,
    block_size: int = 1024,
) -> NNGPNTK:
    r"""NNGP and NTK Gram matrices of an infinitely wide network, one tile at a time.

    The same recursion as [`nngp_ntk`][jaxkern.deep.nngp_ntk] on every pair: each point's
    diagonal chain is computed once, then a `lax.map` over row blocks and column blocks (as
    in [`kernel_matvec`][jaxkern.kernels.kernel_matvec]) forms one (block_size, block_size)
    tile of $X Y^\top / d$ by a matrix product and runs the recursion on it. Besides the two
    (n, m) outputs, memory is $O(\text{depth} \cdot \text{block\_size}^2)$.

    **Arguments:**

    - `X`: inputs, shape (n, d).
    - `Y`: inputs, shape (m, d); defaults to `X`.
    - `depth`, `activation`, `W_std`, `b_std`, `negative_slope`, `positive_slope`: the
      network, as in [`nngp_ntk`][jaxkern.deep.nngp_ntk].
    - `block_size`: rows and columns per tile (static).

    **Returns:** an [`NNGPNTK`][jaxkern.deep.NNGPNTK] of (n, m) matrices.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.deep import nngp_ntk_gram
        >>> K = nngp_ntk_gram(jnp.array([[1.0, 0.0], [0.6, 0.8]]), depth=2)
        >>> round(float(K.nngp[0, 1]), 6), round(float(K.ntk[0, 1]), 6)
        (0.091679, 0.193052)

    Jacot, Gabriel & Hongler, *Neural Tangent Kernel*, NeurIPS 2018.
    """
    check_ndim("X", X, 2, "(n, d)")
    if Y is None:
        Y = X
    check_ndim("Y", Y, 2, "(m, d)")
    check_same_last_dim("X", X, "Y", Y)
    check_int("block_size", block_size, 1)
    act, w2, b2 = _setup(depth, activation, W_std, b_std, negative_slope, positive_slope)
    if X.shape[1] == 0:
        raise ValueError(f"`X` must have at least one feature, got shape {X.shape}.")
    X, Y = as_float(X, Y)
    d = X.shape[1]
    (n, m) = X.shape[0], Y.shape[0]
    if n == 0 or m == 0:  # no pairs: empty matrices (the blocking cannot split zero rows)
        empty = jnp.zeros((n, m), X.dtype)
        return NNGPNTK(empty, empty)
    bx, by = min(block_size, n), min(block_size, m)

    def chain(Z):
        return jnp.stack(_diagonal_chain(act, jnp.sum(Z * Z, axis=1) / d, depth, w2, b2), 1)

    def tile(xb, chain_x, yb, chain_y):
        diag_x = [chain_x[:, i, None] for i in range(depth + 1)]
        diag_y = [chain_y[None, :, i] for i in range(depth + 1)]
        return _cross_chain(act, xb @ yb.T / d, diag_x, diag_y, depth, w2, b2)

    if bx == n and by == m:  # one tile: no loop, whose body XLA:CPU would run on one thread
        return tile(X, chain(X), Y, chain(Y))
    X_blocks = into_blocks(X, bx, "edge")
    Y_blocks = into_blocks(Y, by, "edge")
    cx = into_blocks(chain(X), bx, "edge")
    cy = into_blocks(chain(Y), by, "edge")

    def row(args):
        xb, chain_x = args
        return lax.map(lambda a: tile(xb, chain_x, *a), (Y_blocks, cy))

    out = lax.map(row, (X_blocks, cx))  # each field (row blocks, column blocks, bx, by)

    def assemble(a):
        a = jnp.swapaxes(a, 1, 2)
        return a.reshape(a.shape[0] * bx, a.shape[2] * by)[:n, :m]

    return NNGPNTK(*jax.tree.map(assemble, tuple(out)))
