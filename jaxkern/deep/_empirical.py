"""The empirical NTK of any JAX function, by Jacobian contraction or NTK-vector products."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, Float

from .._validation import check_int
from ..linalg import into_blocks

METHODS = ("jacobian", "ntvp")


def _jacobian_tile(f, params, x1b, x2b):
    j1 = _flat_jacobians(f, params, x1b)
    j2 = _flat_jacobians(f, params, x2b)
    return sum(jnp.einsum("iop,jop->ij", a, b) for a, b in zip(j1, j2, strict=True))


def _flat_jacobians(f, params, xb):
    out_size = jax.eval_shape(f, params, xb[0]).size
    jac = jax.vmap(jax.jacrev(f), in_axes=(None, 0))(params, xb)
    return [leaf.reshape(xb.shape[0], out_size, -1) for leaf in jax.tree.leaves(jac)]


def _ntvp_tile(f, params, x1b, x2b):
    # Pull each output basis vector of the x2 block back to parameter space (vjp), then push
    # it forward through the x1 block (jvp): column j of J1 J2^T, never forming J1 or J2.
    f1 = lambda p: jax.vmap(f, in_axes=(None, 0))(p, x1b)
    f2 = lambda p: jax.vmap(f, in_axes=(None, 0))(p, x2b)
    out2, pullback = jax.vjp(f2, params)
    b2, o = out2.shape[0], out2.size // out2.shape[0]
    basis = jnp.eye(b2 * o, dtype=out2.dtype).reshape((b2 * o,) + out2.shape)

    def column(cotangent):
        (tangent,) = pullback(cotangent)
        return jax.jvp(f1, (params,), (tangent,))[1].reshape(-1, o)

    cols = lax.map(column, basis).reshape(b2, o, -1, o)  # (j, k, i, k')
    return jnp.einsum("jkik->ij", cols)


def empirical_ntk(
    f: Callable[[Any, Array], Array],
    params: Any,
    X1: Float[Array, " n1 *x"],
    X2: Float[Array, " n2 *x"] | None = None,
    *,
    method: str = "jacobian",
    block_size: int = 64,
) -> Float[Array, "n1 n2"]:
    r"""The empirical neural tangent kernel of `f` at `params`, one tile at a time.

    $$\hat\Theta(x, x') = \frac{1}{o} \sum_{k=1}^{o}
      \Big\langle \frac{\partial f_k(\theta, x)}{\partial \theta},
                   \frac{\partial f_k(\theta, x')}{\partial \theta} \Big\rangle,$$
    the parameter-space inner product of the output gradients, averaged over the $o$ output
    entries (for a scalar output, the plain NTK). `method="jacobian"` forms the per-input
    Jacobians of a tile of each input set and contracts them; `method="ntvp"` never forms a
    Jacobian: it pulls each output basis vector of a column tile back to parameter space
    (`vjp`) and pushes it through the row tile (`jvp`). Both visit (block_size, block_size)
    tiles with `lax.map`, so memory is that of one tile's Jacobians, not of all of them.

    **Arguments:**

    - `f`: `f(params, x) -> array`, on one input `x` (any shape) and any parameter pytree.
    - `params`: the parameters (a pytree of arrays).
    - `X1`: inputs stacked on axis 0, shape (n1, ...).
    - `X2`: inputs, shape (n2, ...); defaults to `X1`.
    - `method`: `"jacobian"` or `"ntvp"` (static).
    - `block_size`: inputs per tile (static).

    **Returns:** the (n1, n2) matrix.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxkern.deep import empirical_ntk
        >>> f = lambda w, x: jnp.tanh(x @ w)
        >>> X = jnp.array([[1.0, 0.0], [0.0, 2.0]])
        >>> empirical_ntk(f, jnp.zeros(2), X).tolist()
        [[1.0, 0.0], [0.0, 4.0]]

    Jacot, Gabriel & Hongler, *Neural Tangent Kernel*, NeurIPS 2018; Novak et al., *Fast
    Finite Width Neural Tangent Kernel*, ICML 2022 (the NTK-vector-product method).
    """
    if method not in METHODS:
        raise ValueError(f"`method` must be one of {METHODS}, got {method!r}.")
    check_int("block_size", block_size, 1)
    if jnp.ndim(X1) < 1:
        raise ValueError(f"`X1` must stack inputs on axis 0, got shape {jnp.shape(X1)}.")
    if X2 is None:
        X2 = X1
    if jnp.shape(X2)[1:] != jnp.shape(X1)[1:]:
        raise ValueError(f"`X1` and `X2` must hold inputs of one shape, got shapes "
                         f"{jnp.shape(X1)} and {jnp.shape(X2)}.")
    tile_fn = _jacobian_tile if method == "jacobian" else _ntvp_tile
    n1, n2 = X1.shape[0], X2.shape[0]
    b1, b2 = min(block_size, n1), min(block_size, n2)
    X1_blocks = into_blocks(X1, b1, "edge")
    X2_blocks = into_blocks(X2, b2, "edge")
    out_size = jax.eval_shape(f, params, X1[0]).size

    def row(x1b):
        return lax.map(lambda x2b: tile_fn(f, params, x1b, x2b), X2_blocks)

    tiles = lax.map(row, X1_blocks)  # (row blocks, column blocks, b1, b2)
    tiles = jnp.swapaxes(tiles, 1, 2)
    return tiles.reshape(tiles.shape[0] * b1, tiles.shape[2] * b2)[:n1, :n2] / out_size
