"""Batching a pairwise kernel: full Gram matrices, diagonals, and blocked matrix-vector products."""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import lax
from jax.sharding import NamedSharding, PartitionSpec
from jaxtyping import Array, Float

from .._validation import check_length, check_ndim, check_same_last_dim
from ._modules import RadialKernel

KernelFn = Callable[[Array, Array], Array]


def gram(k: KernelFn, X: Float[Array, "n d"], Y: Float[Array, "m d"] | None = None):
    r"""The Gram matrix $K_{ij} = k(x_i, y_j)$.

    Any pairwise kernel is batched with two `vmap`s. For a
    [`RadialKernel`][jaxkern.kernels.RadialKernel] (RBF, Matérn, rational quadratic) the
    squared distances of all pairs come from one matrix product instead, which runs at BLAS
    speed and is differentiable in the same way.

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
    if isinstance(k, RadialKernel):
        return k.profile(_scaled_sqdists(X, Y, k.lengthscale))
    return jax.vmap(lambda x: jax.vmap(lambda y: k(x, y))(Y))(X)


def _scaled_sqdists(X: Array, Y: Array, lengthscale: Array) -> Array:
    r"""All $\|x_i - y_j\|^2 / \ell^2$ through one matrix product (BLAS speed).

    Both sets are shifted by the mean of X first, so that the expansion
    $\|x\|^2 + \|y\|^2 - 2 x^\top y$ cancels little. What is left under its round-off floor,
    a few ulps of $\|x\|^2 + \|y\|^2$, is indistinguishable from 0 and set to 0: otherwise a
    coincident pair would come out at $r \approx \sqrt{\epsilon}$, which a Matérn-1/2 kernel
    turns into a $10^{-8}$ error on the diagonal.
    """
    shift = jnp.mean(X, axis=0, keepdims=True)
    scale = jnp.atleast_1d(lengthscale)[None, :]
    Xs, Ys = (X - shift) / scale, (Y - shift) / scale
    norms = jnp.sum(Xs * Xs, axis=1)[:, None] + jnp.sum(Ys * Ys, axis=1)[None, :]
    r2 = norms - 2 * Xs @ Ys.T
    floor = 8 * jnp.finfo(r2.dtype).eps * norms
    return jnp.where(r2 > floor, r2, 0)


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


def _into_blocks(a: Array, block: int, fill: str) -> Array:
    """Pad the first axis of ``a`` to a multiple of ``block`` and split it into blocks.

    ``fill="edge"`` repeats the last point (so a kernel evaluated on padding stays finite);
    ``fill="zero"`` pads with zeros (so padded weights contribute nothing).
    """
    n = a.shape[0]
    pad = (-n) % block
    widths = [(0, pad)] + [(0, 0)] * (a.ndim - 1)
    a = jnp.pad(a, widths, mode="edge" if fill == "edge" else "constant")
    return a.reshape((a.shape[0] // block, block) + a.shape[1:])


def _blocked_matvec(k: KernelFn, X: Array, Y: Array, v: Array, block_size: int) -> Array:
    n, m = X.shape[0], Y.shape[0]
    bx, by = min(block_size, n), min(block_size, m)
    X_blocks = _into_blocks(X, bx, "edge")
    Y_blocks = _into_blocks(Y, by, "edge")
    v_blocks = _into_blocks(v, by, "zero")

    def row_block(xb):
        # Rematerialise each Gram block in the backward pass instead of storing all of them.
        @jax.checkpoint
        def add_column_block(acc, yv):
            yb, vb = yv
            return acc + gram(k, xb, yb) @ vb, None

        acc = jnp.zeros((bx,) + v.shape[1:], dtype=jnp.result_type(X, v))
        acc, _ = lax.scan(add_column_block, acc, (Y_blocks, v_blocks))
        return acc

    out = lax.map(row_block, X_blocks)
    return out.reshape((-1,) + v.shape[1:])[:n]


def _row_sharding(X) -> tuple[jax.sharding.Mesh, str | tuple[str, ...]] | None:
    """The mesh and axis name(s) that split the rows of ``X``, if ``X`` is row-sharded.

    Reads the concrete sharding of an array, or the sharding in the abstract type of a traced
    value (explicit-sharding meshes keep it there under `jit`).
    """
    if isinstance(X, jax.core.Tracer):
        sharding = getattr(jax.typeof(X), "sharding", None)
    else:
        sharding = getattr(X, "sharding", None)
    if not isinstance(sharding, NamedSharding) or len(sharding.spec) == 0:
        return None
    axis = sharding.spec[0]
    if axis is None or sharding.mesh.size == 1:
        return None
    return sharding.mesh, axis


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
    unsharded call's.

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
    if not isinstance(block_size, int) or block_size < 1:
        raise ValueError(f"`block_size` must be a positive int, got {block_size!r}.")

    local = functools.partial(_blocked_matvec, k, block_size=block_size)
    sharded = _row_sharding(X)
    if sharded is None:
        return local(X, Y, v)
    mesh, axis = sharded
    row_spec = PartitionSpec(axis)
    return jax.shard_map(
        local,
        mesh=mesh,
        in_specs=(row_spec, PartitionSpec(), PartitionSpec()),
        out_specs=row_spec,
        check_vma=False,  # the scan's zero carry is per-device; no collective is needed
    )(X, Y, v)
