"""Batching a pairwise kernel: full Gram matrices, diagonals, and blocked matrix-vector products."""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import lax
from jax.sharding import PartitionSpec
from jaxtyping import Array, Float

from .._validation import as_float, check_int, check_length, check_ndim, check_same_last_dim
from ..linalg import into_blocks, replicated, row_sharding
from ._modules import Kernel

KernelFn = Callable[[Array, Array], Array]


def gram(k: KernelFn, X: Float[Array, "n d"], Y: Float[Array, "m d"] | None = None):
    r"""The Gram matrix $K_{ij} = k(x_i, y_j)$.

    A [`Kernel`][jaxkern.kernels.Kernel] module computes it with its own `gram` method: for a
    [`RadialKernel`][jaxkern.kernels.RadialKernel] (RBF, Matérn, rational quadratic) the
    squared distances of all pairs come from one matrix product, which runs at BLAS speed, and
    scaled kernels, sums and products keep that fast path. Any other pairwise callable (a
    `functools.partial` of a kernel function) is batched with two `vmap`s.

    **Arguments:**

    - `k`: a kernel on one pair of points, `k(x, y) -> scalar` (an eqx.Module or a
      `functools.partial` of a kernel function).
    - `X`: points, shape (n, d).
    - `Y`: points, shape (m, d); defaults to `X`.

    **Returns:** the (n, m) matrix.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxkern.kernels import RBF, gram
        >>> gram(RBF(), jnp.zeros((2, 3))).tolist()
        [[1.0, 1.0], [1.0, 1.0]]
    """
    check_ndim("X", X, 2, "(n, d)")
    if Y is None:
        Y = X
    check_ndim("Y", Y, 2, "(m, d)")
    check_same_last_dim("X", X, "Y", Y)
    if isinstance(k, Kernel):
        return k.gram(X, Y)
    return jax.vmap(lambda x: jax.vmap(lambda y: k(x, y))(Y))(X)


def gram_diag(k: KernelFn, X: Float[Array, "n d"]) -> Float[Array, " n"]:
    r"""The diagonal $k(x_i, x_i)$ of the Gram matrix, without forming the matrix.

    **Arguments:**

    - `k`: a kernel on one pair of points.
    - `X`: points, shape (n, d).

    **Returns:** shape (n,).

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxkern.kernels import Linear, gram_diag
        >>> gram_diag(Linear(), jnp.array([[1.0, 2.0], [3.0, 4.0]])).tolist()
        [5.0, 25.0]
    """
    check_ndim("X", X, 2, "(n, d)")
    return jax.vmap(lambda x: k(x, x))(X)


def _blocked_matvec(k: KernelFn, X: Array, Y: Array, v: Array, block_size: int) -> Array:
    n, m = X.shape[0], Y.shape[0]
    bx, by = min(block_size, n), min(block_size, m)
    X_blocks = into_blocks(X, bx, "edge")
    Y_blocks = into_blocks(Y, by, "edge")
    v_blocks = into_blocks(v, by, "zero")
    # The carry takes the tile's dtype (a kernel may compute in a wider dtype than X or v).
    tile = jax.eval_shape(lambda a, b: gram(k, a, b), X_blocks[0], Y_blocks[0])
    dtype = jnp.result_type(tile.dtype, v.dtype)

    def row_block(xb):
        # Rematerialise each Gram block in the backward pass instead of storing all of them.
        @jax.checkpoint
        def add_column_block(acc, yv):
            yb, vb = yv
            return acc + gram(k, xb, yb) @ vb, None

        acc = jnp.zeros((bx,) + v.shape[1:], dtype=dtype)
        acc, _ = lax.scan(add_column_block, acc, (Y_blocks, v_blocks))
        return acc

    out = lax.map(row_block, X_blocks)
    return out.reshape((-1,) + v.shape[1:])[:n]


def kernel_matvec(
    k: KernelFn,
    X: Float[Array, "n d"],
    Y: Float[Array, "m d"],
    v: Float[Array, "m ..."],
    *,
    block_size: int = 1024,
) -> Float[Array, "n ..."]:
    r"""The product $K(X, Y)\, v$ without ever holding more than one block of $K$.

    $$(K v)_i = \sum_{j=1}^{m} k(x_i, y_j)\, v_j,$$
    computed block by block: a `lax.map` over row blocks of `X`, a `lax.scan` over column
    blocks of `Y`, each step forming one (block_size, block_size) tile. Memory is
    $O(\text{block\_size}^2 + n + m)$ forward; the backward pass rematerialises tiles
    (`jax.checkpoint`), so gradients with respect to the kernel's hyperparameters, `X`, `Y`
    and `v` stay in bounded memory too.

    If `X` is a `jax.Array` whose rows are sharded over a 1-D mesh (`NamedSharding` with
    `PartitionSpec(axis)`), each device computes the rows it holds against the whole of `Y`
    (`jax.shard_map`) and the result comes back sharded the same way; the values equal the
    unsharded call's. Row-sharded `Y` or `v` are gathered first (each device needs all of them).

    **Arguments:**

    - `k`: a kernel on one pair of points.
    - `X`: points, shape (n, d).
    - `Y`: points, shape (m, d).
    - `v`: shape (m,) or (m, r) for several right-hand sides.
    - `block_size`: rows and columns per tile (static).

    **Returns:** shape (n,) or (n, r).

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxkern.kernels import RBF, kernel_matvec
        >>> X = jnp.linspace(0, 1, 5)[:, None]
        >>> kernel_matvec(RBF(), X, X, jnp.ones(5), block_size=2).shape
        (5,)
    """
    check_ndim("X", X, 2, "(n, d)")
    check_ndim("Y", Y, 2, "(m, d)")
    check_same_last_dim("X", X, "Y", Y)
    if jnp.ndim(v) not in (1, 2):
        raise ValueError(f"`v` must have shape (m,) or (m, r), got shape {jnp.shape(v)}.")
    check_length("v", v, Y.shape[0], "one entry per row of Y")
    check_int("block_size", block_size, 1)
    X, Y, v = as_float(X, Y, v)
    if X.shape[0] == 0 or Y.shape[0] == 0:  # an empty sum is 0; an empty X has no rows
        return jnp.zeros((X.shape[0],) + v.shape[1:], dtype=v.dtype)

    local = functools.partial(_blocked_matvec, k, block_size=block_size)
    sharded = row_sharding(X)
    if sharded is None:
        return local(X, Y, v)
    mesh, axis = sharded
    row_spec = PartitionSpec(axis)
    Y, v = replicated(Y), replicated(v)  # every device's rows meet all of Y and v
    return jax.shard_map(
        local,
        mesh=mesh,
        in_specs=(row_spec, PartitionSpec(), PartitionSpec()),
        out_specs=row_spec,
        check_vma=False,  # the scan's zero carry is per-device; no collective is needed
    )(X, Y, v)
