r"""Graph Laplacians as sparse (edge-list) operators, and bounds on their largest eigenvalue."""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
from jax.experimental import sparse as jsparse
from jaxtyping import Array, Float

from ._graph import Graph

NORMALIZATIONS = ("combinatorial", "sym", "rw")


class Laplacian(eqx.Module):
    r"""A graph Laplacian as a matrix-free operator: `L(x)` is $L x$ for x of shape (n,) or (n, c).

    - `"combinatorial"`: $L = D - A$;
    - `"sym"`: $L = I - D^{-1/2} A D^{-1/2}$, eigenvalues in $[0, 2]$;
    - `"rw"`: $L = I - D^{-1} A$ (not symmetric; similar to `"sym"`, same eigenvalues).

    An isolated node (degree 0) gets a zero row and column in every normalisation (PyGSP's
    and GeometricKernels' convention; torch_geometric puts a 1 on its diagonal instead), so it
    adds one zero eigenvalue whose eigenvector is the node's indicator.

    Fields: `graph`, `normalization` (static), `degree` (shape (n,)).
    """

    graph: Graph
    degree: Float[Array, " n"]
    normalization: str = eqx.field(static=True)

    symmetric: ClassVar[bool] = True

    @property
    def num_nodes(self) -> int:
        return self.graph.num_nodes

    def __call__(self, x: Float[Array, "n ..."]) -> Float[Array, "n ..."]:
        d = self.degree.astype(x.dtype).reshape((-1,) + (1,) * (x.ndim - 1))
        if self.normalization == "combinatorial":
            return d * x - self.graph.adjacency_matvec(x)
        connected = d > 0
        safe = jnp.where(connected, d, 1)
        if self.normalization == "sym":
            s = jnp.where(connected, 1 / jnp.sqrt(safe), 0)
            return jnp.where(connected, x, 0) - s * self.graph.adjacency_matvec(s * x)
        return jnp.where(connected, x, 0) - self.graph.adjacency_matvec(x) / safe

    def todense(self) -> Float[Array, "n n"]:
        """The dense (n, n) matrix (for small graphs and tests)."""
        return self(jnp.eye(self.num_nodes, dtype=self.graph.weights.dtype))

    def to_bcoo(self) -> jsparse.BCOO:
        """The matrix as a `jax.experimental.sparse.BCOO` (edges plus the diagonal)."""
        g, n = self.graph, self.num_nodes
        d = self.degree
        diag_idx = jnp.stack([jnp.arange(n), jnp.arange(n)], axis=1).astype(g.senders.dtype)
        if self.normalization == "combinatorial":
            diag, off = d, -g.weights
        else:
            connected = d > 0
            safe = jnp.where(connected, d, 1)
            diag = connected.astype(d.dtype)
            if self.normalization == "sym":
                off = -g.weights / jnp.sqrt(safe[g.senders] * safe[g.receivers])
            else:
                off = -g.weights / safe[g.receivers]
        idx = jnp.concatenate([jnp.stack([g.receivers, g.senders], axis=1), diag_idx])
        return jsparse.BCOO((jnp.concatenate([off, diag]), idx), shape=(n, n))

    def lambda_max_bound(self) -> Float[Array, ""]:
        r"""An upper bound on the largest eigenvalue, cheap and safe for Chebyshev filters.

        2 for `"sym"` and `"rw"`; for `"combinatorial"` the Anderson–Morley bound
        $\lambda_{\max} \le \max_{(i,j) \in E} (d_i + d_j)$ (at most $2 d_{\max}$).
        """
        if self.normalization != "combinatorial":
            return jnp.asarray(2.0, dtype=self.degree.dtype)
        g, d = self.graph, self.degree
        return jnp.max(d[g.senders] + d[g.receivers], initial=0.0)


def laplacian(graph: Graph, *, normalization: str = "combinatorial") -> Laplacian:
    r"""The Laplacian of a graph as a sparse operator.

    $$L = D - A, \qquad L_{\text{sym}} = I - D^{-1/2} A D^{-1/2}, \qquad
      L_{\text{rw}} = I - D^{-1} A,$$
    with $D = \operatorname{diag}(A \mathbf{1})$. A product `L(x)` costs one pass over the
    edges ($O(|E|\, c)$ for c channels). The quadratic form is the Dirichlet energy
    $x^\top (D - A) x = \tfrac12 \sum_{ij} A_{ij} (x_i - x_j)^2 \ge 0$.

    **Arguments:**

    - `graph`: a [`Graph`][jaxkern.graphs.Graph].
    - `normalization`: `"combinatorial"`, `"sym"` or `"rw"`.

    **Returns:** a [`Laplacian`][jaxkern.graphs.Laplacian] (callable `L(x)`, `todense()`,
    `to_bcoo()`, `lambda_max_bound()`).

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxkern.graphs import graph_from_edges, laplacian
        >>> L = laplacian(graph_from_edges(jnp.array([[0, 1], [1, 2]]), num_nodes=3))
        >>> L.todense().tolist()
        [[1.0, -1.0, 0.0], [-1.0, 2.0, -1.0], [0.0, -1.0, 1.0]]

    Chung (1997), *Spectral Graph Theory*, ch. 1; von Luxburg (2007), *A tutorial on spectral
    clustering*.
    """
    if not isinstance(graph, Graph):
        raise ValueError(f"`graph` must be a jaxkern.graphs.Graph, got {type(graph).__name__}.")
    if normalization not in NORMALIZATIONS:
        raise ValueError(
            f"`normalization` must be one of {NORMALIZATIONS}, got {normalization!r}.")
    return Laplacian(graph, graph.degree(), normalization)
