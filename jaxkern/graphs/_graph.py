r"""Undirected weighted graphs stored as edge lists, built from edges, adjacency matrices or
the k nearest neighbours of a point cloud."""

from __future__ import annotations

from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, ArrayLike, Float, Int

from .._validation import check_int, check_ndim, check_positive, concrete_or_none
from ..linalg import into_blocks


class Graph(eqx.Module):
    r"""An undirected weighted graph on `num_nodes` nodes as a symmetric edge list.

    Every undirected edge $\{i, j\}$ of weight $w_{ij}$ is stored twice, as $(i \to j)$ and
    $(j \to i)$, so that the adjacency matrix $A_{ij} = \sum_{e:\, s_e = i,\, r_e = j} w_e$
    is symmetric and a product $A x$ is one gather and one `segment_sum` over the edges
    ($O(|E|)$ work and memory, never an $n \times n$ matrix). Repeated edges add up.

    Fields: `senders`, `receivers` (int arrays of shape (e,)), `weights` (shape (e,)),
    `num_nodes` (static int).
    """

    senders: Int[Array, " e"]
    receivers: Int[Array, " e"]
    weights: Float[Array, " e"]
    num_nodes: int = eqx.field(static=True)

    def adjacency_matvec(self, x: Float[Array, "n ..."]) -> Float[Array, "n ..."]:
        r"""$A x$ for $x$ of shape (n,) or (n, c)."""
        w = self.weights.reshape(self.weights.shape + (1,) * (x.ndim - 1)).astype(x.dtype)
        return jax.ops.segment_sum(w * x[self.senders], self.receivers,
                                   num_segments=self.num_nodes)

    def degree(self) -> Float[Array, " n"]:
        r"""Weighted degrees $d_i = \sum_j A_{ij}$."""
        return jax.ops.segment_sum(self.weights, self.senders, num_segments=self.num_nodes)

    def adjacency(self) -> Float[Array, "n n"]:
        """The dense adjacency matrix (for small graphs and tests)."""
        n = self.num_nodes
        return jnp.zeros((n, n), self.weights.dtype).at[self.senders, self.receivers].add(
            self.weights)


def _check_edge_values(edges: np.ndarray, weights: np.ndarray | None, num_nodes: int) -> None:
    if not np.issubdtype(edges.dtype, np.integer):
        raise ValueError(f"`edges` must hold integer node indices, got dtype {edges.dtype}.")
    if edges.size and (edges.min() < 0 or edges.max() >= num_nodes):
        raise ValueError(
            f"`edges` must hold node indices in [0, {num_nodes}) (`num_nodes`={num_nodes}), "
            f"got indices from {edges.min()} to {edges.max()}.")
    loops = np.flatnonzero(edges[:, 0] == edges[:, 1])
    if loops.size:
        raise ValueError(
            f"`edges` has {loops.size} self-loop(s) (i, i), first at row {loops[0]}: a self-loop "
            "cancels in D - A but changes the degrees of the normalised Laplacians; remove them "
            "(torch_geometric's get_laplacian drops them too).")
    if weights is not None:
        if not np.all(np.isfinite(weights)):
            raise ValueError("`weights` must be finite, got a non-finite entry.")
        if np.any(weights < 0):
            raise ValueError(
                f"`weights` must be non-negative (a Laplacian with negative weights is not "
                f"positive semi-definite), got minimum {weights.min()!r}.")


def graph_from_edges(
    edges: Int[ArrayLike, "e 2"],
    weights: Float[ArrayLike, " e"] | None = None,
    *,
    num_nodes: int,
) -> Graph:
    r"""An undirected graph from a list of its edges, each listed once.

    Edge $(i, j)$ with weight $w$ contributes $w$ to both $A_{ij}$ and $A_{ji}$; an edge listed
    twice (in either direction) counts twice.

    **Arguments:**

    - `edges`: int array of shape (e, 2), one row $(i, j)$ per undirected edge.
    - `weights`: non-negative weights of shape (e,); default all ones.
    - `num_nodes`: the number of nodes $n$ (nodes without edges are allowed: isolated).

    **Returns:** a [`Graph`][jaxkern.graphs.Graph] storing $2e$ directed entries.

    Concrete inputs are checked: out-of-range indices, self-loops, negative or non-finite
    weights raise `ValueError`.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxkern.graphs import graph_from_edges
        >>> g = graph_from_edges(jnp.array([[0, 1], [1, 2]]), num_nodes=3)
        >>> g.degree().tolist()
        [1.0, 2.0, 1.0]
    """
    check_int("num_nodes", num_nodes, 1)
    check_ndim("edges", edges, 2, "(e, 2)")
    if jnp.shape(edges)[1] != 2:
        raise ValueError(f"`edges` must have shape (e, 2), got shape {jnp.shape(edges)}.")
    e = jnp.shape(edges)[0]
    if weights is None:
        weights = jnp.ones((e,), dtype=jnp.result_type(float))
    check_ndim("weights", weights, 1, "(e,)")
    if jnp.shape(weights)[0] != e:
        raise ValueError(
            f"`weights` must have one entry per row of `edges` ({e}), got shape "
            f"{jnp.shape(weights)}.")
    edges_np, weights_np = concrete_or_none(edges), concrete_or_none(weights)
    if edges_np is not None:
        _check_edge_values(edges_np, weights_np, num_nodes)
    elif weights_np is not None:
        _check_edge_values(np.zeros((0, 2), int), weights_np, num_nodes)
    edges = jnp.asarray(edges)
    weights = jnp.asarray(weights)
    if not jnp.issubdtype(weights.dtype, jnp.floating):
        weights = weights.astype(jnp.result_type(float))
    senders = jnp.concatenate([edges[:, 0], edges[:, 1]])
    receivers = jnp.concatenate([edges[:, 1], edges[:, 0]])
    return Graph(senders, receivers, jnp.concatenate([weights, weights]), num_nodes)


def graph_from_adjacency(adjacency) -> Graph:
    r"""An undirected graph from a symmetric adjacency matrix (NumPy, SciPy sparse or JAX).

    Runs on the host (the matrix must be concrete); the nonzeros become the edge list. Use it
    for graphs that come from PyGSP (`G.W`), NetworkX or GeometricKernels.

    **Arguments:**

    - `adjacency`: square, symmetric, non-negative, finite matrix with a zero diagonal.

    **Returns:** a [`Graph`][jaxkern.graphs.Graph].

    Examples:
        >>> import numpy as np
        >>> from jaxkern.graphs import graph_from_adjacency
        >>> graph_from_adjacency(np.array([[0.0, 2.0], [2.0, 0.0]])).degree().tolist()
        [2.0, 2.0]
    """
    if hasattr(adjacency, "tocoo"):  # SciPy sparse
        coo = adjacency.tocoo()
        n, m = coo.shape
        rows, cols, vals = coo.row, coo.col, coo.data
        asym = abs(adjacency - adjacency.T).max() if n == m else 0.0
    else:
        a = concrete_or_none(adjacency)
        if a is None:
            raise ValueError("`adjacency` must be concrete (not traced): it is read on the host.")
        if a.ndim != 2:
            raise ValueError(f"`adjacency` must be 2-D, got shape {a.shape}.")
        n, m = a.shape
        rows, cols = np.nonzero(a)
        vals = a[rows, cols]
        asym = np.abs(a - a.T).max() if n == m else 0.0
    if n != m:
        raise ValueError(f"`adjacency` must be square, got shape {(n, m)}.")
    if not np.isfinite(asym) or asym > 0:
        raise ValueError(f"`adjacency` must be symmetric, got max |A - A^T| = {asym!r}.")
    if np.any(rows == cols):
        raise ValueError(
            "`adjacency` has a nonzero diagonal (self-loops): a self-loop cancels in D - A but "
            "changes the degrees of the normalised Laplacians; set the diagonal to zero.")
    vals = np.asarray(vals)
    dtype = jnp.result_type(float) if not np.issubdtype(vals.dtype, np.floating) else None
    _check_edge_values(np.zeros((0, 2), int), vals, n)
    return Graph(jnp.asarray(rows, dtype=jnp.int32), jnp.asarray(cols, dtype=jnp.int32),
                 jnp.asarray(vals, dtype=dtype), int(n))


class Neighbours(NamedTuple):
    """The k nearest neighbours of each point: `indices` and squared distances `sqdists`,
    both of shape (n, k), nearest first."""

    indices: Int[Array, "n k"]
    sqdists: Float[Array, "n k"]


def knn(
    X: Float[Array, "n d"],
    *,
    k: int,
    block_size: int = 1024,
) -> Neighbours:
    r"""The `k` nearest neighbours of every point (excluding the point itself), by Euclidean
    distance, in blocks of `block_size` rows so that memory stays $O(\text{block\_size}\, n)$.

    **Arguments:**

    - `X`: finite points, shape (n, d).
    - `k`: neighbours per point, $1 \le k < n$.
    - `block_size`: rows per block (static).

    **Returns:** [`Neighbours`][jaxkern.graphs.Neighbours] `(indices, sqdists)`, both of
    shape (n, k), nearest first.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxkern.graphs import knn
        >>> idx, d2 = knn(jnp.array([[0.0], [1.0], [3.0]]), k=1)
        >>> idx[:, 0].tolist(), d2[:, 0].tolist()
        ([1, 0, 1], [1.0, 1.0, 4.0])
    """
    check_ndim("X", X, 2, "(n, d)")
    n = X.shape[0]
    check_int("k", k, 1)
    if k >= n:
        raise ValueError(f"`k` must be smaller than the number of points n = {n}, got k = {k}.")
    check_int("block_size", block_size, 1)
    arr = concrete_or_none(X)
    if arr is not None and not np.all(np.isfinite(arr)):
        bad = np.flatnonzero(~np.all(np.isfinite(arr), axis=1))
        raise ValueError(
            f"`X` must be finite, got non-finite coordinates in {bad.size} row(s), first row "
            f"{bad[0]}.")
    X = jnp.asarray(X)
    sq = jnp.sum(X * X, axis=1)
    b = min(block_size, n)
    blocks = into_blocks(X, b, "edge")
    starts = jnp.arange(blocks.shape[0]) * b

    def one(args):
        xb, start = args
        d2 = jnp.sum(xb * xb, axis=1)[:, None] + sq[None, :] - 2 * xb @ X.T
        rows = start + jnp.arange(b)
        d2 = jnp.where(rows[:, None] == jnp.arange(n)[None, :], jnp.inf, d2)
        neg, idx = lax.top_k(-d2, k)
        return idx, jnp.maximum(-neg, 0)

    idx, d2 = lax.map(one, (blocks, starts))
    return Neighbours(idx.reshape(-1, k)[:n], d2.reshape(-1, k)[:n])


def knn_graph(
    X: Float[Array, "n d"],
    *,
    k: int,
    bandwidth: Float[ArrayLike, ""] | None = None,
    block_size: int = 1024,
) -> Graph:
    r"""The symmetrised k-nearest-neighbour graph of a point cloud.

    Each point $i$ links to its $k$ nearest neighbours $j \in N_k(i)$ with weight
    $w_{ij} = 1$, or $w_{ij} = \exp(-\lVert x_i - x_j\rVert^2 / (2h^2))$ with a `bandwidth`
    $h$; the directed kNN relation is symmetrised by averaging,
    $$A = \tfrac12 (W + W^\top),$$
    so a mutual pair has weight $w_{ij}$ and a one-sided pair $w_{ij}/2$. Every directed
    pair is stored in both directions ($2nk$ entries, a static size, so the graph builds
    under `jax.jit`).

    **Arguments:**

    - `X`: finite points, shape (n, d).
    - `k`: neighbours per point, $1 \le k < n$ (`k >= n` raises).
    - `bandwidth`: $h > 0$ for Gaussian weights; `None` for binary weights.
    - `block_size`: rows per block of the neighbour search.

    **Returns:** a [`Graph`][jaxkern.graphs.Graph].

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxkern.graphs import knn_graph
        >>> knn_graph(jnp.array([[0.0], [1.0], [3.0]]), k=1).degree().tolist()
        [1.0, 1.5, 0.5]
    """
    idx, d2 = knn(X, k=k, block_size=block_size)
    n = X.shape[0]
    if bandwidth is None:
        w = jnp.ones_like(d2)
    else:
        check_positive("bandwidth", bandwidth)
        w = jnp.exp(-d2 / (2 * jnp.asarray(bandwidth, dtype=d2.dtype) ** 2))
    rows = jnp.repeat(jnp.arange(n, dtype=idx.dtype), k)
    cols = idx.reshape(-1)
    half = 0.5 * w.reshape(-1)
    return Graph(jnp.concatenate([rows, cols]), jnp.concatenate([cols, rows]),
                 jnp.concatenate([half, half]), n)
